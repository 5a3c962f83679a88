"""Integer convolutions and matrix products: int8 activations, int8 (or narrower) per-channel weights,
int32 bias, fixed-point requantization (see `requantize`).

    acc[c] = sum_k (x_k - zp_x) * (w_kc - zp_w[c]) + bias[c]                     (exact integers)
    y[c]   = clamp(zp_y + FixedPointMultiply(acc[c], s_x * s_w[c] / s_y), lo, hi)

with [lo, hi] the output storage range narrowed by a fused relu / relu6. The bias must be stored in units
of s_x * s_w[c] with zero point 0, as MindSpore Lite stores it (and `lower-to-int8` writes it).

The sums run on BLAS in floating point, which is exact here: every term and every partial sum is an
integer, and a float32 (float64) sum of integers is exact while the sum of the terms' magnitudes stays
below 2^24 (2^53), whatever order BLAS adds them in. For each layer that bound,
max|x - zp_x| * sum_k |w_kc - zp_w[c]| + |bias[c]|, is computed from the constant weights when the kernel
is built: under 2^24 the fp32 convolution kernels run unchanged on x - zp_x (their zero padding is then the
input zero point, i.e. real 0) and the bias rides in them; otherwise a float64 path runs (exact up to 2^53,
which int8 products reach only past 2^37 terms). Sums beyond the int32 range (past ~33,000 terms) saturate
in the requantization, where nnacl's int32 accumulators would overflow.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference import conv
from quantopt.backends.reference.int8_common import QParams, activation_qparams, qparams
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, unsupported
from quantopt.backends.reference.requantize import Requantizer, activation_bounds
from quantopt.dialects import lite
from xdsl.ir import Operation, SSAValue

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53


def accumulator_dtype(op: Operation, bound: float) -> np.dtype:
    """The narrowest float type in which sums of integers with total magnitude `bound` are exact."""
    if bound < FLOAT32_EXACT:
        return np.dtype(np.float32)
    if bound < FLOAT64_EXACT:
        return np.dtype(np.float64)
    raise unsupported(op, f"accumulates up to {bound:.3g}, beyond exact float64 integer arithmetic")


def _weights(op: Operation, value: SSAValue, const: ConstantLookup, channel_axis: int) -> tuple[Array, QParams]:
    """Constant quantized weights as int64 deviations w - zp_w and their parameters (per channel along
    `channel_axis`, or per tensor)."""
    w, params = const(value), qparams(value)
    if w is None or params is None:
        raise unsupported(op, f"needs constant quantized weights, got {value.type}")
    channel_axis %= w.ndim
    if params.axis >= 0 and params.axis != channel_axis:
        raise unsupported(op, f"needs weights quantized per output channel (axis {channel_axis}), "
                              f"got axis {params.axis}")
    zero_points = params.zero_points
    if params.axis >= 0:
        shape = [1] * w.ndim
        shape[channel_axis] = -1
        zero_points = zero_points.reshape(shape)
    return w.astype(np.int64) - zero_points, params


def _bias(op: Operation, value: SSAValue | None, const: ConstantLookup, x: QParams, w_scales: Array,
          channels: int) -> Array | None:
    """The int32 bias as int64, checked to be in units of s_x * s_w[c] with zero point 0."""
    if value is None:
        return None
    b, params = const(value), qparams(value)
    if b is None or params is None:
        raise unsupported(op, f"needs a constant quantized bias, got {value.type}")
    expected = np.broadcast_to(x.scale * w_scales, (channels,))
    scales = np.broadcast_to(params.scales, (channels,))
    if params.zero_points.any() or not np.allclose(scales, expected, rtol=1e-6, atol=0.0):
        raise unsupported(op, "needs its bias quantized with zero point 0 and scale s_input * s_weight per channel")
    return b.astype(np.int64)


def _requantizer(op: Operation, x: QParams, w_scales: Array, y: QParams, channels: int) -> Requantizer:
    lo, hi = activation_bounds(op.str_prop("activation"), y.scale, y.zero_point, y.qmin, y.qmax)
    real = np.broadcast_to(x.scale * w_scales / y.scale, (channels,))
    return Requantizer.create(real, y.zero_point, lo, hi, y.dtype)


def _centered(x: Array, zero_point: int, dtype: np.dtype) -> Array:
    """x - zero_point in `dtype` (one pass; padding zeros of this array are the zero point of x)."""
    centered = x.astype(dtype)
    if zero_point:
        np.subtract(centered, dtype.type(zero_point), out=centered)
    return centered


def exact_conv2d(x_shape, w: Array, b: Array | None, strides, dilations, pads, group: int):
    """float64 convolution of centered inputs for the layers whose sums exceed 2^24: one batched matmul
    per filter tap, [group, rows, Cin/group] x [group, Cin/group, Cout/group], accumulated in float64."""
    n = x_shape[0]
    o, kh, kw, cg = w.shape
    og = o // group
    _, oh, ow, _ = lite.infer_conv2d(x_shape, w.shape, strides, dilations, pads)
    (sh, sw), (dh, dw) = strides, dilations
    # taps[i, j]: [group, cg, og]
    taps = w.reshape(group, og, kh, kw, cg).transpose(2, 3, 0, 4, 1).astype(np.float64)
    rows = n * oh * ow
    initial = np.zeros((n, oh, ow, o)) if b is None else np.broadcast_to(b.astype(np.float64), (n, oh, ow, o))

    def run(x: Array) -> Array:
        padded = np.pad(x.astype(np.float64), ((0, 0), (pads[0], pads[1]), (pads[2], pads[3]), (0, 0)))
        acc = np.array(initial).reshape(rows, group, og).transpose(1, 0, 2)
        for i in range(kh):
            for j in range(kw):
                patch = padded[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                grouped = patch.reshape(rows, group, cg).transpose(1, 0, 2)
                acc += np.matmul(grouped, taps[i, j])
        return acc.transpose(1, 0, 2).reshape(n, oh, ow, o)

    return run


def build_conv2d(op: lite.Conv2DOp, const: ConstantLookup) -> Kernel:
    x, y = activation_qparams(op, op.input), activation_qparams(op, op.output)
    w, w_params = _weights(op, op.filter, const, 0)
    o = w.shape[0]
    b = _bias(op, op.bias, const, x, w_params.scales, o)
    bound = x.max_deviation() * np.abs(w).reshape(o, -1).sum(axis=1)
    if b is not None:
        bound = bound + np.abs(b)
    dtype = accumulator_dtype(op, float(bound.max()))
    geometry = (op.int_list("strides"), op.int_list("dilations"), op.int_list("pads"))
    group, x_shape = op.properties["group"].value.data, lite.shape_of(op.input)
    if dtype == np.float32:
        accumulate = conv.conv2d(x_shape, w.astype(np.float32), None if b is None else b.astype(np.float32),
                                 *geometry, group)
    else:
        accumulate = exact_conv2d(x_shape, w, b, *geometry, group)
    requantize = _requantizer(op, x, w_params.scales, y, o)
    zero_point = x.zero_point
    return Kernel(lambda q: requantize(accumulate(_centered(q, zero_point, dtype))), [op.input])


def build_fully_connected(op: lite.FullyConnectedOp, const: ConstantLookup) -> Kernel:
    x, y = activation_qparams(op, op.input), activation_qparams(op, op.output)
    w, w_params = _weights(op, op.weight, const, 0)
    o = w.shape[0]
    b = _bias(op, op.bias, const, x, w_params.scales, o)
    bound = x.max_deviation() * np.abs(w).sum(axis=1) + (0 if b is None else np.abs(b))
    dtype = accumulator_dtype(op, float(np.max(bound)))
    rows = lite.shape_of(op.input)[0]
    if dtype == np.float32:
        accumulate = conv.fully_connected(rows, w.astype(np.float32), None if b is None else b.astype(np.float32))
    else:
        weight, bias = w.T.astype(np.float64), 0.0 if b is None else b.astype(np.float64)

        def accumulate(a: Array) -> Array:
            return np.matmul(a, weight) + bias
    requantize = _requantizer(op, x, w_params.scales, y, o)
    zero_point = x.zero_point
    return Kernel(lambda q: requantize(accumulate(_centered(q, zero_point, dtype))), [op.input])


def build_matmul(op: lite.MatMulOp, const: ConstantLookup) -> Kernel:
    """lhs per tensor; rhs constant (per tensor or per output column) or a per-tensor activation."""
    transpose_a, transpose_b = op.bool_prop("transpose_a"), op.bool_prop("transpose_b")
    a, y = activation_qparams(op, op.lhs), activation_qparams(op, op.output)
    depth = lite.shape_of(op.lhs)[-2 if transpose_a else -1]
    columns = lite.shape_of(op.output)[-1]

    def oriented_a(x: Array) -> Array:
        return np.swapaxes(x, -1, -2) if transpose_a else x

    if const(op.rhs) is not None:
        rank = len(lite.shape_of(op.rhs))
        w, w_params = _weights(op, op.rhs, const, rank - 2 if transpose_b else rank - 1)
        w = np.swapaxes(w, -1, -2) if transpose_b else w
        bound = a.max_deviation() * np.abs(w).sum(axis=-2).max()
        dtype = accumulator_dtype(op, float(bound))
        weight = np.ascontiguousarray(w, dtype)
        requantize = _requantizer(op, a, w_params.scales, y, columns)
        zero_point = a.zero_point
        return Kernel(lambda q: requantize(np.matmul(oriented_a(_centered(q, zero_point, dtype)), weight)), [op.lhs])

    b = activation_qparams(op, op.rhs)
    dtype = accumulator_dtype(op, float(depth * a.max_deviation() * b.max_deviation()))
    requantize = _requantizer(op, a, np.asarray(b.scale), y, columns)

    def product(p: Array, q: Array) -> Array:
        rhs = _centered(q, b.zero_point, dtype)
        rhs = np.swapaxes(rhs, -1, -2) if transpose_b else rhs
        return requantize(np.matmul(oriented_a(_centered(p, a.zero_point, dtype)), rhs))

    return Kernel(product, [op.lhs, op.rhs])


BUILDERS = {
    lite.Conv2DOp: build_conv2d,
    lite.FullyConnectedOp: build_fully_connected,
    lite.MatMulOp: build_matmul,
}
