"""lower-to-int8: what it rewrites, what it leaves in float and why, and the numerics of the integer graph
against the fake-quant (QDQ) graph it comes from, on small graphs and on MobileNetV2.

The QDQ form is built here the way `lower-calibration{method=MAX_MIN}` builds it: weight-quant, then a
qcast / dcast pair after the input and after every float lite result, with the symmetric MAX_MIN range
of what the float executor saw on a few samples (scale = max|x| / qmax, zero point 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from quantopt.backends.reference.executor import Executor
from quantopt.context import make_context
from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.quant import (
    DequantizeCastOp,
    QuantizeCastOp,
    StorageCastOp,
    UniformQuantizedType,
    element_type_of,
)
from quantopt.passes import get_all_passes
from quantopt.passes.fuse_activation import FuseActivationPass
from quantopt.passes.lower_to_int8 import LowerToInt8Pass, format_summary, lower_to_int8
from quantopt.passes.weight_quant import WeightQuantPass
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------ the QDQ form


def _main(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp))


def _observed(main: func.FuncOp) -> list:
    values = list(main.args)
    for op in main.body.block.ops:
        if op.dialect_name() == "lite":
            values += [r for r in op.results if isinstance(r.type, TensorType) and r.type.element_type == f32]
    return values


def max_abs(module: ModuleOp, samples) -> np.ndarray:
    """max |x| of every observed value over `samples`, from a copy of the module returning them all."""
    probe = module.clone()
    main = _main(probe)
    values = _observed(main)
    main.body.block.erase_op(main.body.block.last_op)
    main.body.block.add_op(func.ReturnOp(*values))
    main.function_type = FunctionType.from_lists(main.function_type.inputs.data, [v.type for v in values])
    executor = Executor(probe, fuse_activations=False)
    peak = np.zeros(len(values))
    for sample in samples:
        peak = np.maximum(peak, [float(np.abs(v).max()) for v in executor.run(sample)])
    return peak


def fused(module: ModuleOp) -> ModuleOp:
    """A copy of `module` with relu / relu6 fused, the float graph the quantization passes start from."""
    module = module.clone()
    FuseActivationPass().apply(make_context(), module)
    return module


def qdq_form(module: ModuleOp, samples, bits: int = 8, weight_bits: int = 8) -> ModuleOp:
    """A copy of `module` with fused activations, quantized weights and MAX_MIN QDQ pairs."""
    module = fused(module)
    WeightQuantPass(bits=weight_bits).apply(make_context(), module)
    main = _main(module)
    qmax = (1 << (bits - 1)) - 1
    for value, peak in zip(_observed(main), max_abs(module, samples)):
        qtype = UniformQuantizedType.get(max(peak, 1e-6) / qmax, 0, qmin=-qmax - 1, qmax=qmax)
        uses = list(value.uses)
        qcast = QuantizeCastOp(value, TensorType(qtype, value.type.get_shape()))
        dcast = DequantizeCastOp(qcast.result, value.type)
        if value in main.args:
            main.body.block.insert_ops_before([qcast, dcast], main.body.block.first_op)
        else:
            main.body.block.insert_ops_after([qcast, dcast], value.owner)
        for use in uses:
            use.operation.operands[use.index] = dcast.result
    module.verify()
    return module


class Graph:
    """A float `func.func @main` built with lite constructors."""

    def __init__(self, *input_shapes):
        self.block = Block(arg_types=[lite.tensor(s) for s in input_shapes])
        self.args = list(self.block.args)

    def const(self, array: np.ndarray):
        return self.op(constant_op(np.asarray(array, np.float32)))

    def op(self, op):
        self.block.add_op(op)
        return op.results[0]

    def module(self, *outputs) -> ModuleOp:
        self.block.add_op(func.ReturnOp(*outputs))
        main = func.FuncOp("main", (self.block.arg_types, [v.type for v in outputs]), Region(self.block))
        return ModuleOp([main])


def rand(*shape, scale=1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def small_network() -> ModuleOp:
    """conv + relu6, depthwise conv, residual add, max and global average pooling, concat, reshape,
    fully connected, sigmoid and softmax."""
    g = Graph((1, 8, 8, 3))
    x = g.args[0]
    c1 = g.op(lite.Conv2DOp(x, g.const(rand(8, 3, 3, 3, scale=0.4)), g.const(rand(8, scale=0.1)), (1, 1), (1, 1),
                            (1, 1, 1, 1), 1))
    r1 = g.op(lite.ActivationOp(c1, "relu6"))
    dw = g.op(lite.Conv2DOp(r1, g.const(rand(8, 3, 3, 1, scale=0.4)), g.const(rand(8, scale=0.1)), (1, 1), (1, 1),
                            (1, 1, 1, 1), 8))
    s = g.op(lite.AddOp(r1, dw))
    m = g.op(lite.MaxPoolOp(s, (2, 2), (2, 2), (0, 0, 0, 0)))
    c2 = g.op(lite.Conv2DOp(m, g.const(rand(4, 1, 1, 8, scale=0.4)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    cat = g.op(lite.ConcatOp([m, g.op(lite.ActivationOp(c2, "sigmoid"))], 3))
    p = g.op(lite.AvgPoolOp(cat, (4, 4), (1, 1), (0, 0, 0, 0)))
    flat = g.op(lite.ReshapeOp(p, (1, 12)))
    y = g.op(lite.FullyConnectedOp(flat, g.const(rand(5, 12, scale=0.4)), g.const(rand(5, scale=0.1))))
    return g.module(y, g.op(lite.SoftmaxOp(y, 1)))


def samples(count: int, shape=(1, 8, 8, 3)) -> list[list[np.ndarray]]:
    return [[rand(*shape)] for _ in range(count)]


# --------------------------------------------------------------------------------------------- tests


def test_registered_with_the_other_passes():
    assert get_all_passes()["lower-to-int8"]() is LowerToInt8Pass


def test_every_op_of_a_supported_network_becomes_integer():
    module = qdq_form(small_network(), samples(6))
    decisions = lower_to_int8(module)
    module.verify()
    assert [d for d in decisions if not d.lowered] == []
    assert format_summary(decisions).startswith(f"lower-to-int8: {len(decisions)} of {len(decisions)} ops")
    main = _main(module)
    for op in main.body.block.ops:
        if op.dialect_name() == "lite":
            assert all(isinstance(element_type_of(v.type), UniformQuantizedType) for v in (*op.operands, *op.results))
    casts = [op for op in main.body.block.ops if isinstance(op, QuantizeCastOp | DequantizeCastOp)]
    assert [type(c) for c in casts] == [QuantizeCastOp, DequantizeCastOp, DequantizeCastOp]
    assert casts[0].input is main.args[0]
    assert all(isinstance(use.operation, func.ReturnOp) for c in casts[1:] for use in c.result.uses)


def test_bias_is_int32_in_units_of_input_times_weight_scale():
    g = Graph((1, 2, 2, 4))
    bias = rand(6)
    module = g.module(g.op(lite.Conv2DOp(g.args[0], g.const(rand(6, 1, 1, 4)), g.const(bias), (1, 1), (1, 1),
                                         (0, 0, 0, 0), 1)))
    module = qdq_form(module, samples(2, (1, 2, 2, 4)))
    lower_to_int8(module)
    conv = next(op for op in _main(module).body.block.ops if isinstance(op, lite.Conv2DOp))
    x_type, w_type = element_type_of(conv.input.type), element_type_of(conv.filter.type)
    b_type = element_type_of(conv.bias.type)
    scales = x_type.scale * np.array(w_type.scale_values)
    assert b_type.width == 32 and b_type.axis.data == 0 and b_type.zero_point_values == [0] * 6
    np.testing.assert_allclose(b_type.scale_values, scales, rtol=1e-15)
    assert isinstance(conv.bias.owner, StorageCastOp)
    stored = np.frombuffer(conv.bias.owner.input.owner.value.data.data, np.int32)
    np.testing.assert_array_equal(stored, np.round(bias.astype(np.float64) / scales))


def output_errors(module: ModuleOp, inputs) -> tuple[np.ndarray, np.ndarray]:
    """|integer - fake quant| per output element in units of the output's scale, and the outputs' scales."""
    lowered = module.clone()
    lower_to_int8(lowered)
    fake, integer = Executor(module), Executor(lowered)
    returned = _main(module).body.block.last_op.operands
    scales = [element_type_of(v.owner.input.type).scale for v in returned]
    errors = [np.abs(a - b) / s for x in inputs for a, b, s in zip(fake.run(x), integer.run(x), scales)]
    return np.concatenate([e.ravel() for e in errors]), np.array(scales)


def test_integer_graph_tracks_the_fake_quant_graph():
    """Integer rounding (bias quantized to int32, fixed-point requantization) differs from fake quant's float
    rounding in the last bit of a few values per layer; on this small network that stays within a few LSB."""
    module = qdq_form(small_network(), samples(8))
    errors, _ = output_errors(module, samples(8))
    assert errors.max() <= 4 and errors.mean() < 0.5


def test_four_bit_activations_use_storage_ranges():
    module = qdq_form(small_network(), samples(6), bits=4)
    lowered = module.clone()
    lower_to_int8(lowered)
    for op in _main(lowered).body.block.ops:
        if op.dialect_name() == "lite":
            assert (element_type_of(op.results[0].type).qmin, element_type_of(op.results[0].type).qmax) == (-8, 7)
    errors, _ = output_errors(module, samples(6))
    assert errors.max() <= 2


def test_ops_without_int8_kernel_stay_float_with_a_reason():
    g = Graph((1, 4, 4, 2))
    c = g.op(lite.Conv2DOp(g.args[0], g.const(rand(2, 1, 1, 2)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    p = g.op(lite.PReluOp(c, g.const([0.25, 0.5])))
    d = g.op(lite.DivOp(p, g.args[0]))
    module = qdq_form(g.module(g.op(lite.MaxPoolOp(d, (2, 2), (2, 2), (0, 0, 0, 0)))), samples(3, (1, 4, 4, 2)))
    decisions = lower_to_int8(module)
    module.verify()
    assert [(d.op_name, d.lowered, d.reason) for d in decisions] == [
        ("lite.conv2d", True, ""), ("lite.prelu", False, "no int8 kernel"), ("lite.div", False, "no int8 kernel"),
        ("lite.max_pool", True, "")]
    assert "float: lite.prelu" in format_summary(decisions)
    Executor(module).run([rand(1, 4, 4, 2)])


def test_unquantized_weights_and_float_users_keep_layers_float():
    g = Graph((1, 4, 4, 2))
    c = g.op(lite.Conv2DOp(g.args[0], g.const(rand(2, 1, 1, 2)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    module = qdq_form(g.module(c), samples(2, (1, 4, 4, 2)))
    main = _main(module)
    conv = next(op for op in main.body.block.ops if isinstance(op, lite.Conv2DOp))
    float_weight = constant_op(rand(2, 1, 1, 2))
    main.body.block.insert_op_before(float_weight, conv)
    conv.operands = [conv.operands[0], float_weight.result]
    assert lower_to_int8(module)[0].reason == "weight is not quantized (no weight-quant chain)"

    g = Graph((1, 4, 4, 2))
    c = g.op(lite.Conv2DOp(g.args[0], g.const(rand(2, 1, 1, 2)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    module = qdq_form(g.module(c), samples(2, (1, 4, 4, 2)))
    main = _main(module)
    conv = next(op for op in main.body.block.ops if isinstance(op, lite.Conv2DOp))
    returned = main.body.block.last_op
    returned.operands = [conv.results[0]]  # the float result itself is returned
    decision = lower_to_int8(module)[0]
    assert not decision.lowered and "used by func.return" in decision.reason


def test_lowers_what_the_calibration_passes_produce(tmp_path):
    """insert-calibration, calibrate and lower-calibration write the input this pass expects."""
    from quantopt.passes.calibrate import CalibratePass
    from quantopt.passes.insert_calibration import InsertCalibrationPass
    from quantopt.passes.lower_calibration import LowerCalibrationPass

    (tmp_path / "calib").mkdir()
    for index, (x,) in enumerate(samples(4)):
        x.tofile(tmp_path / "calib" / f"{index:04d}.bin")
    (tmp_path / "quant.cfg").write_text("image_path=calib\nbatch_count=4\nmethod_x=MAX_MIN\n")
    module = fused(small_network())
    for step in (WeightQuantPass(), InsertCalibrationPass(), CalibratePass(config=str(tmp_path / "quant.cfg")),
                 LowerCalibrationPass(method="MAX_MIN")):
        step.apply(make_context(), module)
    fake = module.clone()
    decisions = lower_to_int8(module)
    module.verify()
    assert all(d.lowered for d in decisions)
    x = samples(1)[0]
    for got, want in zip(Executor(module).run(x), Executor(fake).run(x)):
        assert np.abs(got - want).max() <= 4 * np.abs(want).max() / 127


@pytest.mark.slow
def test_mobilenet_v2_integer_graph_matches_fake_quant(zoo_dir):
    import zoo
    from quantopt.api import import_model

    module = import_model(str(zoo_dir / "onnx" / "mobilenet_v2.onnx"))
    calibration = [[x] for x in zoo.load_set("mobilenet_v2/calib", 3)]
    qdq = qdq_form(module, calibration)
    lowered = qdq.clone()
    decisions = lower_to_int8(lowered)
    assert all(d.lowered for d in decisions)
    inputs = zoo.load_set("mobilenet_v2/eval", 4)
    reference = zoo.load_reference("ref/mobilenet_v2/logits_ort.npy")[:4].reshape(4, -1)
    fake = np.array([Executor(qdq).run([x])[0].ravel() for x in inputs])
    integer = np.array([Executor(lowered).run([x])[0].ravel() for x in inputs])

    def relative_error(y):
        return float(np.mean(np.linalg.norm(y - reference, axis=1) / np.linalg.norm(reference, axis=1)))

    # Both quantized graphs sit at a similar distance from fp32; between themselves they differ by the
    # integer rounding, amplified through 52 layers.
    assert relative_error(integer) < 1.25 * relative_error(fake) + 0.02
    assert float(np.mean(np.linalg.norm(integer - fake, axis=1) / np.linalg.norm(fake, axis=1))) < 0.25


# ---------------------------------------------------------------------------------- bias correction


def biased_network() -> ModuleOp:
    """Layers whose inputs have non-zero means (after relu), where weight rounding shifts the outputs; two of
    them without a bias."""
    g = Graph((1, 8, 8, 3))
    c1 = g.op(lite.Conv2DOp(g.args[0], g.const(rand(16, 3, 3, 3, scale=0.3)), g.const(rand(16, scale=0.1)),
                            (1, 1), (1, 1), (1, 1, 1, 1), 1, "relu"))
    c2 = g.op(lite.Conv2DOp(c1, g.const(rand(16, 3, 3, 1, scale=0.3)), None, (1, 1), (1, 1), (1, 1, 1, 1), 16, "relu"))
    c3 = g.op(lite.Conv2DOp(c2, g.const(rand(8, 1, 1, 16, scale=0.3)), g.const(rand(8, scale=0.1)), (1, 1), (1, 1),
                            (0, 0, 0, 0), 1))
    pooled = g.op(lite.AvgPoolOp(c3, (8, 8), (1, 1), (0, 0, 0, 0)))
    return g.module(g.op(lite.FullyConnectedOp(g.op(lite.ReshapeOp(pooled, (1, 8))), g.const(rand(4, 8, scale=0.5)))))


def shifted_samples(count: int) -> list[list[np.ndarray]]:
    return [[(RNG.standard_normal((1, 8, 8, 3)) + 0.5).astype(np.float32)] for _ in range(count)]


def errors_against(float_module: ModuleOp, module: ModuleOp, inputs) -> tuple[float, float]:
    """(mean over outputs of |mean error|, root mean square error) of `module` against the float model."""
    reference, candidate = Executor(float_module), Executor(module)
    difference = np.array([candidate.run(x)[0] - reference.run(x)[0] for x in inputs]).reshape(len(inputs), -1)
    return float(np.abs(difference.mean(axis=0)).mean()), float(np.sqrt(np.square(difference).mean()))


def test_bias_correction_removes_the_mean_error_of_quantized_weights():
    from quantopt.passes.bias_correction import correct_biases

    float_module = fused(biased_network())
    calibration, held_out = shifted_samples(16), shifted_samples(16)
    module = qdq_form(float_module, calibration, weight_bits=4)
    before = errors_against(float_module, module, held_out)
    report = correct_biases(module, float_module, calibration)
    module.verify()
    after = errors_against(float_module, module, held_out)
    assert [r.created_bias for r in report] == [False, True, False, True]
    assert after[0] < 0.5 * before[0] and after[1] < before[1]

    lowered = module.clone()
    lower_to_int8(lowered)
    integer_after = errors_against(float_module, lowered, held_out)
    assert integer_after[0] < 0.5 * before[0] and integer_after[1] < before[1]


def test_bias_correction_pass_reads_the_config_and_the_float_model(tmp_path):
    from quantopt.passes.bias_correction import BiasCorrectionPass, correct_biases

    assert get_all_passes()["bias-correction"]() is BiasCorrectionPass
    float_module = fused(biased_network())
    calibration = shifted_samples(4)
    (tmp_path / "model.mlir").write_text(str(float_module))
    (tmp_path / "calib").mkdir()
    for index, (x,) in enumerate(calibration):
        x.tofile(tmp_path / "calib" / f"{index:04d}.bin")
    (tmp_path / "quant.cfg").write_text("image_path=calib\nbatch_count=4\nbias_correction=true\n")
    by_pass = qdq_form(float_module, calibration, weight_bits=4)
    by_api = by_pass.clone()
    BiasCorrectionPass(config=str(tmp_path / "quant.cfg"), float_model=str(tmp_path / "model.mlir")).apply(
        make_context(), by_pass)
    correct_biases(by_api, float_module, calibration)
    assert str(by_pass) == str(by_api)


def test_bias_correction_refuses_a_float_model_it_was_not_quantized_from():
    from quantopt.errors import QuantOptError
    from quantopt.passes.bias_correction import correct_biases

    module = qdq_form(biased_network(), shifted_samples(2), weight_bits=4)
    with pytest.raises(QuantOptError, match="not the ones it was quantized from"):
        correct_biases(module, fused(biased_network()), shifted_samples(2))
