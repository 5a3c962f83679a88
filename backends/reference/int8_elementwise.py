"""Integer pointwise kernels: add, sub, mul, activations, clip, and softmax.

add / sub follow MindSpore Lite's nnacl (and TFLite's) quantized addition: both inputs are brought to a
common fixed-point scale with 20 bits of headroom, summed in int32, and the sum requantized to the output:

    a' = FixedPointMultiply((a - zp_a) * 2^20, s_a / (2 max(s_a, s_b)))     (likewise b')
    y  = clamp(zp_y + FixedPointMultiply(a' +- b', 2 max(s_a, s_b) / (2^20 s_y)), lo, hi)

a' depends on the byte a alone, so it is a 256-entry table. mul requantizes the exact product:
y = clamp(zp_y + FixedPointMultiply((a - zp_a)(b - zp_b), s_a s_b / s_y), lo, hi).

relu, relu6 and clip are clamps in the quantized domain (after a fixed-point requantization when the
output scale differs from the input's). Every other activation, defined by a float function, is a table
computing exactly what the fake-quant graph computes for each of the 256 inputs: dequantize to float32,
the fp32 activation kernel, quantize (round half to even, as `quant.qcast`). softmax is not pointwise:
it dequantizes, runs the fp32 softmax and quantizes the same way (float inside, int8 in and out).
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference import elementwise, normalization
from quantopt.backends.reference.int8_common import activation_qparams, lookup, requantize_table, storage_values
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, unsupported
from quantopt.backends.reference.quant_casts import dequantize, quantize
from quantopt.backends.reference.requantize import (
    FixedPointMultiplier,
    Requantizer,
    activation_bounds,
    round_half_away,
)
from quantopt.dialects import lite
from quantopt.dialects.quant import element_type_of

ADD_LEFT_SHIFT = 20


def _output_requantizer(op, real: float):
    y = activation_qparams(op, op.output)
    lo, hi = activation_bounds(op.str_prop("activation"), y.scale, y.zero_point, y.qmin, y.qmax)
    return Requantizer.create(real, y.zero_point, lo, hi, y.dtype)


def build_add_sub(op: lite.AddOp | lite.SubOp, const: ConstantLookup) -> Kernel:
    a, b, y = (activation_qparams(op, v) for v in (op.lhs, op.rhs, op.output))
    twice_max = 2.0 * max(a.scale, b.scale)

    def aligned(params) -> Array:
        shifted = (storage_values(params) - params.zero_point) << ADD_LEFT_SHIFT
        return FixedPointMultiplier.from_real(params.scale / twice_max).apply(shifted)

    table_a, table_b = aligned(a), aligned(b)
    if isinstance(op, lite.SubOp):
        table_b = -table_b
    requantize = _output_requantizer(op, twice_max / ((1 << ADD_LEFT_SHIFT) * y.scale))
    return Kernel(lambda p, q: requantize(np.add(lookup(table_a, p), lookup(table_b, q))), [op.lhs, op.rhs])


def build_mul(op: lite.MulOp, const: ConstantLookup) -> Kernel:
    a, b, y = (activation_qparams(op, v) for v in (op.lhs, op.rhs, op.output))
    table_a, table_b = storage_values(a) - a.zero_point, storage_values(b) - b.zero_point
    requantize = _output_requantizer(op, a.scale * b.scale / y.scale)
    return Kernel(lambda p, q: requantize(np.multiply(lookup(table_a, p), lookup(table_b, q))), [op.lhs, op.rhs])


def _quantized_bound(value: float, scale: float, zero_point: int, qmin: int, qmax: int) -> int:
    """The stored integer nearest `value` (ties away from zero), within the storage range."""
    if value == float("inf"):
        return qmax
    if value == float("-inf"):
        return qmin
    return int(np.clip(zero_point + round_half_away(value / scale), qmin, qmax))


def _clamp_table(op, lo_real: float, hi_real: float) -> Array:
    x, y = activation_qparams(op, op.input), activation_qparams(op, op.output)
    lo = _quantized_bound(lo_real, y.scale, y.zero_point, y.qmin, y.qmax)
    hi = max(lo, _quantized_bound(hi_real, y.scale, y.zero_point, y.qmin, y.qmax))
    table = requantize_table(x, y, lo, hi)
    return np.arange(256, dtype=np.uint8).view(x.dtype).astype(y.dtype) if table is None else table


def _float_function_table(op, f) -> Array:
    """quantize(f(dequantize(q))) for every byte q, as the fake-quant graph computes it."""
    x = activation_qparams(op, op.input)
    q = np.arange(256, dtype=np.uint8).view(x.dtype)
    real = dequantize(q, element_type_of(op.input.type))
    return quantize(f(real, np.empty_like(real)), element_type_of(op.output.type))


def _table_kernel(op, table: Array) -> Kernel:
    return Kernel(lambda q: lookup(table, q), [op.input])


def build_activation(op: lite.ActivationOp, const: ConstantLookup) -> Kernel:
    kind = op.str_prop("type")
    if kind == "relu":
        return _table_kernel(op, _clamp_table(op, 0.0, float("inf")))
    if kind == "relu6":
        return _table_kernel(op, _clamp_table(op, 0.0, 6.0))
    try:
        f = elementwise.activation_function(kind, op.float_prop("alpha"), op.float_prop("beta"))
    except KeyError:
        raise unsupported(op, f"has unknown activation type '{kind}'") from None
    return _table_kernel(op, _float_function_table(op, f))


def build_clip(op: lite.ClipOp, const: ConstantLookup) -> Kernel:
    return _table_kernel(op, _clamp_table(op, op.float_prop("min"), op.float_prop("max")))


def build_softmax(op: lite.SoftmaxOp, const: ConstantLookup) -> Kernel:
    activation_qparams(op, op.input)
    activation_qparams(op, op.output)
    axis = op.properties["axis"].value.data
    x_type, y_type = element_type_of(op.input.type), element_type_of(op.output.type)
    return Kernel(lambda q: quantize(normalization.softmax(dequantize(q, x_type), axis), y_type), [op.input])


BUILDERS = {
    lite.AddOp: build_add_sub,
    lite.SubOp: build_add_sub,
    lite.MulOp: build_mul,
    lite.ActivationOp: build_activation,
    lite.ClipOp: build_clip,
    lite.SoftmaxOp: build_softmax,
}
