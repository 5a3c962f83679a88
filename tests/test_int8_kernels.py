"""int8 kernels against plain integer references, bit for bit, and the fixed-point requantization against
exact rational arithmetic.

Every kernel case builds `func.func @main` on `!quant.uniform` tensors (int8 arguments, int8 / int32
constants behind `quant.scast`) and runs it through the Executor, so the int8 kernel table and the
executor's dispatch are exercised with the kernels. References loop over output positions with Python
integers and spell out the formulas the kernel modules document: MindSpore Lite's nnacl C code for the
fixed-point steps, transcribed line by line.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from quantopt.backends.reference import conv, int8_conv
from quantopt.backends.reference.executor import Executor
from quantopt.backends.reference.requantize import (
    INT32_MAX,
    INT32_MIN,
    FixedPointMultiplier,
    Requantizer,
    quantize_multiplier,
)
from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.quant import DequantizeCastOp, QuantizeCastOp, StorageCastOp, UniformQuantizedType
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Operation, Region

RNG = np.random.default_rng(2024)


# ------------------------------------------------------------------------ nnacl's fixed point, in Python


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul, as nnacl's fixed_point.c writes it (C division truncates)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    total = ab + nudge
    quotient = abs(total) // (1 << 31)
    return quotient if total >= 0 else -quotient


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def saturate(value: int) -> int:
    return min(INT32_MAX, max(INT32_MIN, value))


def multiply(acc: int, real: float) -> int:
    """MultiplyByQuantizedMultiplier on an int32 accumulator, the left shift saturating to int32."""
    m, shift = quantize_multiplier(real)
    shifted = saturate(saturate(acc) << max(shift, 0))
    return rounding_divide_by_pot(srdhm(shifted, m), max(-shift, 0))


def requantize(acc: int, real: float, zero_point: int, lo: int, hi: int) -> int:
    return min(hi, max(lo, zero_point + multiply(acc, real)))


def round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


# ------------------------------------------------------------------------------ requantization tests


def random_reals(count: int) -> list[float]:
    return [float(x) for x in np.exp(RNG.uniform(math.log(1e-7), math.log(40.0), count))]


def test_quantize_multiplier_is_the_nearest_q31_number():
    for real in random_reals(500) + [0.5, 1.0, 0.75, 1 - 2.0 ** -40, 2.0 ** -20]:
        m, shift = quantize_multiplier(real)
        assert 1 << 30 <= m < 1 << 31
        error = Fraction(m) * Fraction(2) ** (shift - 31) - Fraction(real)
        assert abs(error) <= Fraction(2) ** (shift - 32)  # half a unit of the last of 31 bits


def test_quantize_multiplier_carries_into_the_exponent():
    assert quantize_multiplier(1 - 2.0 ** -40) == (1 << 30, 1)


def exact_requantization(acc: int, real: float) -> int:
    """The two roundings in exact rationals: round(acc 2^left M / 2^31) with ties up, then / 2^right with
    ties away from zero."""
    m, shift = quantize_multiplier(real)
    shifted = saturate(saturate(acc) * 2 ** max(shift, 0))
    high = math.floor(Fraction(shifted * m, 1 << 31) + Fraction(1, 2))
    quotient = Fraction(high, 1 << max(-shift, 0))
    magnitude = math.floor(abs(quotient) + Fraction(1, 2))
    return magnitude if quotient >= 0 else -magnitude


def test_fixed_point_multiply_matches_exact_rationals():
    reals = random_reals(60)
    accs = np.concatenate([RNG.integers(-(1 << 24), 1 << 24, 200), RNG.integers(-300, 300, 200),
                           [0, 1, -1, INT32_MAX, INT32_MIN, 1 << 40, -(1 << 40)]])  # the last two saturate
    per_channel = FixedPointMultiplier.from_real(reals)
    got = per_channel.apply(np.repeat(accs[:, None], len(reals), axis=1).astype(np.int64))
    for j, real in enumerate(reals):
        want = [exact_requantization(int(a), real) for a in accs]
        assert got[:, j].tolist() == want
        assert [multiply(int(a), real) for a in accs] == want  # the nnacl transcription agrees
        for a, y in zip(accs, want):
            if abs(int(a)) * max(1.0, real) < 2 ** 30:  # unsaturated: within one of the exact product
                assert abs(y - Fraction(int(a)) * Fraction(real)) < 1


def test_rounding_ties():
    # SaturatingRoundingDoublingHighMul rounds ties up, RoundingDivideByPOT away from zero.
    half = FixedPointMultiplier.from_real(0.5)  # M = 2^30, no shift: acc * 2^30 / 2^31
    assert half.apply(np.array([1, -1, 3, -3], np.int64)).tolist() == [1, 0, 2, -1]
    quarter = FixedPointMultiplier.from_real(0.25)  # M = 2^30, right shift 1
    assert quarter.apply(np.array([2, -2, 6, -6], np.int64)).tolist() == [1, -1, 2, -2]


@pytest.mark.parametrize("zero_point", [0, 7, -128, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_requantizer_folded_and_general_paths(zero_point, dtype):
    channels = 5
    mixed = np.array([3e-4, 0.02, 0.37, 0.6, 1.7])  # right shifts 12 .. 0 and a left shift: general path
    below_half = np.array([3e-4, 0.02, 0.37, 0.1, 1e-6])  # every right shift >= 1: folded path
    acc = RNG.integers(-(1 << 23), 1 << 23, (7, 3, channels)).astype(dtype)
    assert not Requantizer.create(mixed, 0, -128, 127, np.int8).folds
    assert Requantizer.create(below_half, 0, -128, 127, np.int8).folds
    for real in (mixed, below_half, 0.02):
        real_per_channel = np.broadcast_to(real, (channels,))
        requantizer = Requantizer.create(real, zero_point, -128, 127, np.int8)
        got = requantizer(acc)
        want = [[[requantize(int(a), float(real_per_channel[c]), zero_point, -128, 127)
                  for c, a in enumerate(row)] for row in plane] for plane in acc]
        assert got.dtype == np.int8 and got.tolist() == want


# ---------------------------------------------------------------------------------- graph building


def qtype(scale, zero_point=0, **kwargs) -> UniformQuantizedType:
    return UniformQuantizedType.get(scale, zero_point, **kwargs)


def qtensor(shape, element_type) -> TensorType:
    return TensorType(element_type, list(shape))


class Graph:
    """Builds `func.func @main(args) { ops; return }` on quantized tensors."""

    def __init__(self, *arg_types):
        self.block = Block(arg_types=list(arg_types))
        self.args = list(self.block.args)

    def weight(self, data: np.ndarray, element_type):
        constant = self.op(constant_op(data))
        return self.op(StorageCastOp(constant, qtensor(data.shape, element_type)))

    def op(self, op: Operation):
        self.block.add_op(op)
        return op.results[0] if len(op.results) == 1 else list(op.results)

    def integer(self, op: Operation, *result_elements):
        """Add `op` (built by its float constructor) with quantized result element types."""
        types = [qtensor(lite.shape_of(r), t) for r, t in zip(op.results, result_elements)]
        rebuilt = type(op).create(operands=op.operands, result_types=types, properties=dict(op.properties))
        op.erase()
        return self.op(rebuilt)

    def run(self, outputs, inputs):
        outputs = outputs if isinstance(outputs, list) else [outputs]
        self.block.add_op(func.ReturnOp(*outputs))
        main = func.FuncOp("main", (self.block.arg_types, [v.type for v in outputs]), Region(self.block))
        module = ModuleOp([main])
        module.verify()
        results = Executor(module).run(inputs)
        return results if len(results) > 1 else results[0]


def int8(*shape, lo=-128, hi=127) -> np.ndarray:
    return RNG.integers(lo, hi + 1, shape).astype(np.int8)


def bounds(activation: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    if activation == "none":
        return qmin, qmax
    lo = max(qmin, zero_point)
    if activation == "relu":
        return lo, qmax
    return lo, max(lo, min(qmax, zero_point + round_half_away(6.0 / scale)))


# -------------------------------------------------------------------------------- conv and products


def conv2d_reference(x, zp_x, s_x, w, zp_w, s_w, b, s_y, zp_y, strides, dilations, pads, group, activation):
    n, h, wd, _ = x.shape
    o, kh, kw, cg = w.shape
    og = o // group
    _, oh, ow, _ = lite.infer_conv2d(x.shape, w.shape, strides, dilations, pads)
    lo, hi = bounds(activation, s_y, zp_y)
    y = np.zeros((n, oh, ow, o), np.int8)
    for image in range(n):
        for oy in range(oh):
            for ox in range(ow):
                for c in range(o):
                    g = c // og
                    acc = 0 if b is None else int(b[c])
                    for i in range(kh):
                        for j in range(kw):
                            iy = oy * strides[0] + i * dilations[0] - pads[0]
                            ix = ox * strides[1] + j * dilations[1] - pads[2]
                            if 0 <= iy < h and 0 <= ix < wd:  # padding holds zp_x: it adds nothing
                                patch = x[image, iy, ix, g * cg:(g + 1) * cg].astype(np.int64) - zp_x
                                acc += int(np.dot(patch, w[c, i, j].astype(np.int64) - zp_w[c]))
                    y[image, oy, ox, c] = requantize(acc, s_x * s_w[c] / s_y, zp_y, lo, hi)
    return y


CONV_CASES = [
    # x shape, (o, kh, kw), strides, dilations, pads (t, b, l, r), group, bias, activation
    ((1, 5, 5, 3), (4, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, True, "none"),
    ((2, 6, 5, 4), (5, 3, 2), (2, 1), (1, 1), (0, 1, 2, 0), 1, True, "relu"),
    ((1, 7, 7, 4), (3, 3, 3), (1, 2), (2, 2), (2, 1, 0, 2), 1, False, "relu6"),
    ((2, 4, 4, 6), (5, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1, True, "relu6"),  # pointwise
    ((1, 6, 6, 6), (4, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 2, True, "none"),  # grouped
    ((1, 6, 6, 5), (5, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 5, True, "relu6"),  # depthwise
    ((2, 7, 6, 4), (4, 3, 3), (2, 2), (1, 1), (0, 1, 1, 0), 4, True, "none"),  # depthwise, stride 2
    ((1, 5, 6, 3), (6, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 3, True, "relu"),  # depth multiplier 2
]


@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads, group, bias, activation", CONV_CASES)
def test_conv2d(x_shape, w_shape, strides, dilations, pads, group, bias, activation):
    o, kh, kw = w_shape
    s_x, zp_x, s_y, zp_y = 0.05, -3, 0.11, 4
    x, w = int8(*x_shape), int8(o, kh, kw, x_shape[3] // group)
    s_w, zp_w = RNG.uniform(0.002, 0.02, o), RNG.integers(-20, 20, o)
    b = RNG.integers(-5000, 5000, o).astype(np.int32) if bias else None
    x_type, y_type = qtype(s_x, zp_x), qtype(s_y, zp_y)
    g = Graph(qtensor(x_shape, x_type))
    filt = g.weight(w, qtype(s_w.tolist(), zp_w.tolist(), axis=0))
    bias_value = g.weight(b, qtype((s_x * s_w).tolist(), 0, axis=0, width=32)) if bias else None
    y = g.integer(lite.Conv2DOp(g.args[0], filt, bias_value, strides, dilations, pads, group, activation), y_type)
    got = g.run(y, [x])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, conv2d_reference(x, zp_x, s_x, w, zp_w, s_w, b, s_y, zp_y, strides,
                                                        dilations, pads, group, activation))


def test_conv2d_beyond_float32_exact_sums_takes_float64():
    """576 products of deviations near 255 sum past 2^24, where float32 sums round; the kernel sees that
    from the weights and sums in float64."""
    x_shape, o = (1, 4, 4, 64), 3
    x, w = int8(*x_shape, lo=60), int8(o, 3, 3, 64, lo=100)
    s_w, zp_w = np.full(o, 0.01), np.full(o, -128)
    assert 255 * (w.astype(np.int64) + 128).reshape(o, -1).sum(axis=1).max() >= int8_conv.FLOAT32_EXACT
    g = Graph(qtensor(x_shape, qtype(1.0, -128)))
    filt = g.weight(w, qtype(s_w.tolist(), zp_w.tolist(), axis=0))
    y = g.integer(lite.Conv2DOp(g.args[0], filt, None, (1, 1), (1, 1), (1, 1, 1, 1), 1), qtype(3000.0))
    want = conv2d_reference(x, -128, 1.0, w, zp_w, s_w, None, 3000.0, 0, (1, 1), (1, 1), (1, 1, 1, 1), 1, "none")
    np.testing.assert_array_equal(g.run(y, [x]), want)


def test_float64_accumulation_is_exact_where_float32_rounds():
    x = RNG.integers(180, 256, (1, 4, 4, 64)).astype(np.float32)  # centered inputs, as the kernel passes them
    w = RNG.integers(200, 256, (3, 3, 3, 64))
    want = np.zeros((1, 4, 4, 3), np.int64)
    for oy in range(4):
        for ox in range(4):
            for i in range(3):
                for j in range(3):
                    if 0 <= oy + i - 1 < 4 and 0 <= ox + j - 1 < 4:
                        want[0, oy, ox] += w[:, i, j].astype(np.int64) @ x[0, oy + i - 1, ox + j - 1].astype(np.int64)
    geometry = ((1, 1), (1, 1), (1, 1, 1, 1), 1)
    assert want.max() > int8_conv.FLOAT32_EXACT
    np.testing.assert_array_equal(int8_conv.exact_conv2d(x.shape, w, None, *geometry)(x), want)
    assert (conv.conv2d(x.shape, w.astype(np.float32), None, *geometry)(x) != want).any()


def test_fully_connected():
    x, w = int8(3, 7), int8(5, 7)
    s_x, zp_x, s_y, zp_y = 0.03, 5, 0.2, -10
    s_w, zp_w = RNG.uniform(0.005, 0.05, 5), RNG.integers(-9, 9, 5)
    b = RNG.integers(-900, 900, 5).astype(np.int32)
    g = Graph(qtensor(x.shape, qtype(s_x, zp_x)))
    weight = g.weight(w, qtype(s_w.tolist(), zp_w.tolist(), axis=0))
    bias = g.weight(b, qtype((s_x * s_w).tolist(), 0, axis=0, width=32))
    y = g.integer(lite.FullyConnectedOp(g.args[0], weight, bias, "relu"), qtype(s_y, zp_y))
    lo, hi = bounds("relu", s_y, zp_y)
    want = [[requantize(int(b[c]) + int(np.dot(x[r].astype(np.int64) - zp_x, w[c].astype(np.int64) - zp_w[c])),
                        s_x * s_w[c] / s_y, zp_y, lo, hi) for c in range(5)] for r in range(3)]
    assert g.run(y, [x]).tolist() == want


@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False), (False, True)])
def test_matmul_with_constant_and_runtime_rhs(transpose_a, transpose_b):
    a = int8(2, 4, 3) if not transpose_a else int8(2, 3, 4)
    w = int8(3, 5) if not transpose_b else int8(5, 3)
    s_w = RNG.uniform(0.01, 0.1, 5)
    a_type, y_type, b_type = qtype(0.04, 2), qtype(0.3, -1), qtype(0.07, -6)
    lhs = a.swapaxes(-1, -2) if transpose_a else a
    rhs = w.T if transpose_b else w

    g = Graph(qtensor(a.shape, a_type))
    weight = g.weight(w, qtype(s_w.tolist(), 0, axis=0 if transpose_b else 1))
    y = g.integer(lite.MatMulOp(g.args[0], weight, transpose_a, transpose_b), y_type)
    want = [[[requantize(int(np.dot(lhs[k, i].astype(np.int64) - 2, rhs[:, c].astype(np.int64))),
                         0.04 * s_w[c] / 0.3, -1, -128, 127) for c in range(5)] for i in range(4)] for k in range(2)]
    assert g.run(y, [a]).tolist() == want

    g = Graph(qtensor(a.shape, a_type), qtensor(w.shape, b_type))
    y = g.integer(lite.MatMulOp(g.args[0], g.args[1], transpose_a, transpose_b), y_type)
    want = [[[requantize(int(np.dot(lhs[k, i].astype(np.int64) - 2, rhs[:, c].astype(np.int64) + 6)),
                         0.04 * 0.07 / 0.3, -1, -128, 127) for c in range(5)] for i in range(4)] for k in range(2)]
    assert g.run(y, [a, w]).tolist() == want


# --------------------------------------------------------------------------------------- pointwise


def aligned(q: int, zero_point: int, scale: float, twice_max: float) -> int:
    return multiply((q - zero_point) << 20, scale / twice_max)


@pytest.mark.parametrize("op_type", [lite.AddOp, lite.SubOp])
@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((1, 3, 1), (2, 1, 5))])
def test_add_and_sub(op_type, a_shape, b_shape):
    a, b = int8(*a_shape), int8(*b_shape)
    (s_a, zp_a), (s_b, zp_b), (s_y, zp_y) = (0.05, 3), (0.02, -7), (0.06, 1)
    g = Graph(qtensor(a.shape, qtype(s_a, zp_a)), qtensor(b.shape, qtype(s_b, zp_b)))
    y = g.integer(op_type(g.args[0], g.args[1], "relu6"), qtype(s_y, zp_y))
    got = g.run(y, [a, b])
    twice_max, sign = 2 * max(s_a, s_b), (1 if op_type is lite.AddOp else -1)
    lo, hi = bounds("relu6", s_y, zp_y)
    pa, pb = np.broadcast_arrays(a, b)
    want = np.array([requantize(aligned(int(p), zp_a, s_a, twice_max) + sign * aligned(int(q), zp_b, s_b, twice_max),
                                twice_max / (2 ** 20 * s_y), zp_y, lo, hi)
                     for p, q in zip(pa.ravel(), pb.ravel())]).reshape(pa.shape)
    np.testing.assert_array_equal(got, want)


def test_mul():
    a, b = int8(2, 3, 4), int8(3, 1)
    g = Graph(qtensor(a.shape, qtype(0.05, 3)), qtensor(b.shape, qtype(0.1, -2)))
    y = g.integer(lite.MulOp(g.args[0], g.args[1]), qtype(0.2, 5))
    pa, pb = np.broadcast_arrays(a, b)
    want = np.array([requantize((int(p) - 3) * (int(q) + 2), 0.05 * 0.1 / 0.2, 5, -128, 127)
                     for p, q in zip(pa.ravel(), pb.ravel())]).reshape(pa.shape)
    np.testing.assert_array_equal(g.run(y, [a, b]), want)


def every_byte(*shape_prefix) -> np.ndarray:
    return np.arange(-128, 128, dtype=np.int8).reshape(*shape_prefix, -1)


@pytest.mark.parametrize("kind, lo_real, hi_real", [("relu", 0.0, math.inf), ("relu6", 0.0, 6.0)])
@pytest.mark.parametrize("x_type, y_type", [(qtype(0.05, -20), qtype(0.05, -20)), (qtype(0.1, 10), qtype(0.03, -128))])
def test_relu_and_relu6_are_quantized_clamps(kind, lo_real, hi_real, x_type, y_type):
    x = every_byte(2)
    g = Graph(qtensor(x.shape, x_type))
    y = g.integer(lite.ActivationOp(g.args[0], kind), y_type)
    s_x, zp_x, s_y, zp_y = x_type.scale, x_type.zero_point, y_type.scale, y_type.zero_point
    lo = max(-128, zp_y)
    hi = 127 if hi_real == math.inf else min(127, zp_y + round_half_away(hi_real / s_y))
    want = [[requantize(int(q) - zp_x, s_x / s_y, zp_y, lo, hi) for q in row] for row in x]
    assert g.run(y, [x]).tolist() == want


def test_clip():
    x = every_byte(1)
    g = Graph(qtensor(x.shape, qtype(0.05, 0)))
    y = g.integer(lite.ClipOp(g.args[0], -1.0, 2.5), qtype(0.05, 0))
    assert g.run(y, [x]).tolist() == [[min(50, max(-20, int(q))) for q in x[0]]]


def fake_quant(make_op, x: np.ndarray, x_type, y_type):
    """The op in float between casts, as the QDQ graph computes it."""
    g = Graph(qtensor(x.shape, x_type))
    real = g.op(DequantizeCastOp(g.args[0], qtensor(x.shape, f32)))
    y = g.op(make_op(real))
    return g.run(g.op(QuantizeCastOp(y, qtensor(lite.shape_of(y), y_type))), [x])


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "hswish", "leaky_relu", "gelu"])
def test_float_defined_activations_equal_fake_quant(kind):
    x, x_type, y_type = every_byte(4), qtype(0.06, 9), qtype(1 / 128, -20)
    g = Graph(qtensor(x.shape, x_type))
    y = g.integer(lite.ActivationOp(g.args[0], kind, alpha=0.1), y_type)
    want = fake_quant(lambda v: lite.ActivationOp(v, kind, alpha=0.1), x, x_type, y_type)
    np.testing.assert_array_equal(g.run(y, [x]), want)


def test_softmax_equals_fake_quant():
    x, x_type, y_type = int8(3, 10), qtype(0.1, 4), qtype(1 / 256, -128)
    g = Graph(qtensor(x.shape, x_type))
    y = g.integer(lite.SoftmaxOp(g.args[0], 1), y_type)
    np.testing.assert_array_equal(g.run(y, [x]), fake_quant(lambda v: lite.SoftmaxOp(v, 1), x, x_type, y_type))


# ------------------------------------------------------------------------------------------ pooling


@pytest.mark.parametrize("kernel, strides, pads, include_pad", [
    ((3, 3), (2, 2), (1, 1, 1, 1), False), ((3, 3), (2, 2), (1, 1, 1, 1), True), ((2, 3), (1, 2), (0, 1, 2, 0), False),
    ((5, 6), (1, 1), (0, 0, 0, 0), False)])  # the last is global
def test_avg_pool(kernel, strides, pads, include_pad):
    x_shape = (2, 5, 6, 3)
    x, (s_x, zp_x), (s_y, zp_y) = int8(*x_shape), (0.05, 6), (0.03, -4)
    g = Graph(qtensor(x_shape, qtype(s_x, zp_x)))
    y = g.integer(lite.AvgPoolOp(g.args[0], kernel, strides, pads, count_include_pad=include_pad), qtype(s_y, zp_y))
    got = g.run(y, [x])
    _, oh, ow, _ = lite.infer_pool(x_shape, kernel, strides, pads, False)
    want = np.zeros((2, oh, ow, 3), np.int64)
    for n in range(2):
        for oy in range(oh):
            for ox in range(ow):
                rows = [oy * strides[0] - pads[0] + i for i in range(kernel[0])]
                cols = [ox * strides[1] - pads[2] + j for j in range(kernel[1])]
                inside = [(r, c) for r in rows for c in cols if 0 <= r < 5 and 0 <= c < 6]
                padded = [(r, c) for r in rows for c in cols
                          if -pads[0] <= r < 5 + pads[1] and -pads[2] <= c < 6 + pads[3]]
                count = len(padded) if include_pad else len(inside)
                for ch in range(3):
                    total = sum(int(x[n, r, c, ch]) - zp_x for r, c in inside)
                    want[n, oy, ox, ch] = requantize(total, s_x / (s_y * count), zp_y, -128, 127)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("y_type", [qtype(0.05, 6), qtype(0.08, -1)])
def test_max_pool(y_type):
    x_shape, kernel, strides, pads = (1, 5, 6, 2), (3, 3), (2, 2), (1, 1, 1, 1)
    x, x_type = int8(*x_shape), qtype(0.05, 6)
    g = Graph(qtensor(x_shape, x_type))
    y = g.integer(lite.MaxPoolOp(g.args[0], kernel, strides, pads, activation="relu"), y_type)
    _, oh, ow, _ = lite.infer_pool(x_shape, kernel, strides, pads, False)
    lo = max(-128, y_type.zero_point)
    want = [[[[requantize(max(int(x[0, r, c, ch]) for r in range(oy * 2 - 1, oy * 2 + 2) for c in range(ox * 2 - 1, ox * 2 + 2)
                              if 0 <= r < 5 and 0 <= c < 6) - 6, 0.05 / y_type.scale, y_type.zero_point, lo, 127)
               for ch in range(2)] for ox in range(ow)] for oy in range(oh)]]
    assert g.run(y, [x]).tolist() == want


# ------------------------------------------------------------------------------------ data movement


def requantized_bytes(x: np.ndarray, x_type, y_type) -> np.ndarray:
    real = x_type.scale / y_type.scale
    return np.vectorize(lambda q: requantize(int(q) - x_type.zero_point, real, y_type.zero_point, -128, 127))(x)


def test_concat_requantizes_each_input_to_the_output():
    a, b, c = int8(1, 2, 3), int8(1, 2, 2), int8(1, 2, 1)
    types = [qtype(0.1, 0), qtype(0.05, 3), qtype(0.2, -9)]
    y_type = qtype(0.1, 0)
    g = Graph(*(qtensor(v.shape, t) for v, t in zip((a, b, c), types)))
    y = g.integer(lite.ConcatOp(g.args, 2), y_type)
    want = np.concatenate([a, requantized_bytes(b, types[1], y_type), requantized_bytes(c, types[2], y_type)], axis=2)
    np.testing.assert_array_equal(g.run(y, [a, b, c]), want)


@pytest.mark.parametrize("y_type", [qtype(0.05, -2), qtype(0.07, 11)])
def test_reshape_transpose_slice_split(y_type):
    x, x_type = int8(2, 3, 4), qtype(0.05, -2)
    g = Graph(qtensor(x.shape, x_type))
    reshaped = g.integer(lite.ReshapeOp(g.args[0], (6, 4)), y_type)
    transposed = g.integer(lite.TransposeOp(g.args[0], (2, 0, 1)), y_type)
    sliced = g.integer(lite.SliceOp(g.args[0], (0, 2, 3), (2, 0, 0), (1, -1, -2)), y_type)
    parts = g.integer(lite.SplitOp(g.args[0], 2, (1, 3)), y_type, qtype(0.2, 1))
    got = g.run([reshaped, transposed, sliced, *parts], [x])
    moved = requantized_bytes(x, x_type, y_type)
    for have, want in zip(got, [moved.reshape(6, 4), moved.transpose(2, 0, 1), moved[0:2, 2:0:-1, 3:0:-2],
                                moved[..., :1], requantized_bytes(x[..., 1:], x_type, qtype(0.2, 1))]):
        np.testing.assert_array_equal(have, want)


def test_pad_with_the_zero_point_and_with_a_value():
    x, x_type, y_type = int8(1, 2, 2, 1), qtype(0.5, 7), qtype(0.25, -3)
    g = Graph(qtensor(x.shape, x_type))
    zero = g.integer(lite.PadOp(g.args[0], (0, 0, 1, 0, 0, 2, 0, 0)), x_type)
    value = g.integer(lite.PadOp(g.args[0], (0, 0, 0, 1, 1, 0, 0, 0), value=1.25), y_type)
    got_zero, got_value = g.run([zero, value], [x])
    np.testing.assert_array_equal(got_zero, np.pad(x, ((0, 0), (1, 0), (0, 2), (0, 0)), constant_values=7))
    fill = 7 + round_half_away(1.25 / 0.5)  # 9.5 -> away from zero, then requantized with the rest
    want = requantized_bytes(np.pad(x, ((0, 0), (0, 1), (1, 0), (0, 0)), constant_values=fill), x_type, y_type)
    np.testing.assert_array_equal(got_value, want)


def test_nearest_resize_moves_stored_values():
    x, x_type = int8(1, 3, 2, 2), qtype(0.1, 0)
    g = Graph(qtensor(x.shape, x_type))
    y = g.integer(lite.ResizeOp(g.args[0], (6, 4), "nearest", "asymmetric", "floor"), x_type)
    np.testing.assert_array_equal(g.run(y, [x]), x.repeat(2, axis=1).repeat(2, axis=2))


def test_float_ops_keep_fp32_kernels():
    """The executor dispatches on the element type: a float conv next to an integer one runs the fp32 kernel."""
    x = RNG.standard_normal((1, 3, 3, 2)).astype(np.float32)
    w = RNG.standard_normal((2, 1, 1, 2)).astype(np.float32)
    g = Graph(qtensor(x.shape, f32))
    y = g.op(lite.Conv2DOp(g.args[0], g.op(constant_op(w)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    np.testing.assert_allclose(g.run(y, [x]), x @ w[:, 0, 0].T, rtol=1e-6)
