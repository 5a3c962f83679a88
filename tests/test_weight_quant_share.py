"""Weight quantization with model-wide shared quantization parameters (`share_tolerance`) and the smallest
layers kept float (`float_fraction`): the grid covers what the plain parameters cover, channels with similar
ranges end up with equal parameters, and the `.ms` file stores each distinct QuantParam table once."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from quantopt.backends.ms import FmkType, encode_ms
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.passes.quant_math import asymmetric_params, balanced_round, shared_grid_params, signed_range
from quantopt.passes.weight_quant import WeightQuantPass, quantize_weight, quantize_weights


def _random_ranges(rng, n):
    lo = -np.exp(rng.uniform(-12, 3, n)) * (rng.random(n) < 0.9)  # some rows one-signed, some all zero
    hi = np.exp(rng.uniform(-12, 3, n)) * (rng.random(n) < 0.9)
    return lo, hi


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("tolerance", [0.01, 0.04, 0.1])
def test_grid_covers_the_range_and_grows_scales_by_about_the_tolerance(bits, tolerance):
    qmin, qmax = signed_range(bits)
    lo, hi = _random_ranges(np.random.default_rng(bits), 5000)
    scale, zero_point = asymmetric_params(lo, hi, qmin, qmax)
    window_lo, window_hi = scale * (qmin - zero_point), scale * (qmax - zero_point)
    shared, shared_zero = shared_grid_params(window_lo, window_hi, qmin, qmax, tolerance)
    assert np.all((qmin <= shared_zero) & (shared_zero <= qmax))
    # The shared window contains the plain one: nothing the plain parameters represent is clipped.
    assert np.all(shared * (qmin - shared_zero) <= window_lo * (1 - 1e-12))
    assert np.all(shared * (qmax - shared_zero) >= window_hi * (1 - 1e-12))
    growth = shared / scale
    assert growth.min() >= 1 - 1e-12
    assert growth.max() <= 1 + 1.5 * tolerance
    # Scales are powers of 1 + tolerance/2: few distinct values.
    exponents = np.log(shared) / np.log(1 + tolerance / 2)
    np.testing.assert_allclose(exponents, np.round(exponents), atol=1e-6)


def test_similar_channels_share_parameters():
    rng = np.random.default_rng(0)
    lo, hi = -rng.uniform(0.9, 1.1, 2000), rng.uniform(0.9, 1.1, 2000)
    scale, zero_point = shared_grid_params(lo, hi, -128, 127, 0.04)
    assert len(set(zip(scale.tolist(), zero_point.tolist()))) <= 30
    # A fixed grid: the same range gets bitwise the same parameters in every layer and every call.
    again, again_zero = shared_grid_params(lo[:10], hi[:10], -128, 127, 0.04)
    assert again.tolist() == scale[:10].tolist() and again_zero.tolist() == zero_point[:10].tolist()


def test_one_signed_and_zero_rows():
    scale, zero_point = shared_grid_params(np.array([0.0, -2.0, 0.0]), np.array([3.0, 0.0, 0.0]), -128, 127, 0.04)
    assert zero_point.tolist() == [-128, 127, zero_point[2]]  # the whole storage range on the used side
    assert 3.0 / 255 <= scale[0] <= 3.0 / 255 * 1.02 and 2.0 / 255 <= scale[1] <= 2.0 / 255 * 1.02
    assert scale[2] > 0


@pytest.mark.parametrize("bits", [4, 8])
def test_shared_weights_are_balanced_and_within_half_a_step(bits):
    rng = np.random.default_rng(1)
    weights = (rng.standard_normal((16, 3, 3, 8)) * rng.uniform(0.01, 1, (16, 1, 1, 1))).astype(np.float32)
    q, qtype = quantize_weight(weights, 0, bits, True, False, balance=True, share_tolerance=0.04)
    scales = np.asarray(qtype.scale_values)[:, None, None, None]
    zeros = np.asarray(qtype.zero_point_values)[:, None, None, None]
    qmin, qmax = signed_range(bits)
    assert q.min() >= qmin and q.max() <= qmax
    real = (q.astype(np.float64) - zeros) * scales
    # Balanced rounding moves a few weights by one step at most; each channel's errors sum to under one step.
    assert np.all(np.abs(real - weights) <= scales * (1 + 1e-9))
    assert np.all(np.abs((real - weights).reshape(16, -1).sum(1)) <= scales.ravel() * (1 + 1e-9))
    expected = balanced_round(weights.reshape(16, -1) / scales.reshape(16, 1) + zeros.reshape(16, 1), qmin, qmax)
    np.testing.assert_array_equal(q.reshape(16, -1), expected)


def _model(filters: list[np.ndarray]) -> ModuleOp:
    """Chained 1x1 convolutions, one per filter [out, 1, 1, in], each with a zero bias."""
    channels = filters[0].shape[3]
    block = Block(arg_types=[TensorType(f32, [1, 4, 4, channels])])
    x = block.args[0]
    for w in filters:
        weight = constant_op(w.astype(np.float32))
        bias = constant_op(np.zeros(w.shape[0], np.float32))
        conv = lite.Conv2DOp(x, weight.result, bias.result, [1, 1], [1, 1], [0, 0, 0, 0], 1)
        block.add_ops([weight, bias, conv])
        x = conv.output
    block.add_op(func.ReturnOp(x))
    main = func.FuncOp("main", ([block.args[0].type], [x.type]), Region(block))
    return ModuleOp([main])


def _filters(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((o, 1, 1, i)) * 0.1 for o, i in ((64, 32), (64, 64), (32, 64), (8, 32))]


def _quant_tables(module: ModuleOp) -> tuple[int, int, int]:
    """(file size, QuantParams referenced, distinct QuantParams) of the module's `.ms` encoding."""
    data = encode_ms(module, fmk_type=FmkType.ONNX)
    graph = load_graph(data, "test")
    params = [q for t in graph.tensors for q in t.quant_params]
    return len(data), len(params), len(set(params))


def test_shared_parameters_shrink_the_file():
    plain, shared = _model(_filters()), _model(_filters())
    WeightQuantPass(bits=8, balance_rounding=True).apply(Context(), plain)
    WeightQuantPass(bits=8, balance_rounding=True, share_tolerance=0.1).apply(Context(), shared)
    plain_size, plain_refs, plain_tables = _quant_tables(plain)
    shared_size, shared_refs, shared_tables = _quant_tables(shared)
    assert plain_refs == shared_refs == 64 + 64 + 32 + 8
    assert plain_tables == plain_refs
    assert shared_tables < plain_tables / 2
    assert shared_size < plain_size - 20 * (plain_tables - shared_tables)


def test_float_fraction_keeps_the_smallest_layers_float():
    module = _model(_filters())
    sizes = [w.size for w in _filters()]  # 2048, 4096, 2048, 256: 8448 weights
    decisions = quantize_weights(module, WeightQuantPass(bits=8, float_fraction=0.3))
    # 30% is 2534 weights: the 256-weight layer, then the first 2048-weight one (graph order among equals).
    assert [d.elements for d in decisions] == sizes
    assert [d.quantized for d in decisions] == [False, True, True, False]
    assert "smallest layers kept float (30.0% of the weights)" in decisions[0].reason
    assert decisions[0].reason.startswith("2048 elements")


def test_float_fraction_counts_only_layers_left_to_quantize():
    module = _model(_filters())
    # min-size skips the 256-weight layer; of the remaining 8192 weights 25% is exactly one 2048 layer.
    decisions = quantize_weights(module, WeightQuantPass(bits=8, min_size=300, float_fraction=0.25))
    assert [d.quantized for d in decisions] == [False, True, True, False]
    assert "min-size" in decisions[3].reason and "smallest layers" in decisions[0].reason


@pytest.mark.parametrize("field,value", [("share_tolerance", -0.1), ("share_tolerance", 1.5),
                                         ("float_fraction", -0.1), ("float_fraction", 1.0)])
def test_options_are_checked(field, value):
    with pytest.raises(ValueError, match=field.replace("_", "-")):
        WeightQuantPass(**{field: value})
