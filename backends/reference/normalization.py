"""Normalisations and reductions: batch_norm, lrn, softmax, reduce."""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel
from quantopt.dialects import lite


def batch_norm(x: Array, scale: Array, offset: Array, mean: Array, variance: Array, epsilon: float) -> Array:
    """Channels-last inference batch norm: (x - mean) / sqrt(variance + epsilon) * scale + offset."""
    factor = (scale / np.sqrt(variance + np.float32(epsilon))).astype(np.float32)
    shift = (offset - mean * factor).astype(np.float32)
    y = np.multiply(x, factor)
    return np.add(y, shift, out=y)


def build_batch_norm(op: lite.BatchNormOp, const: ConstantLookup) -> Kernel:
    epsilon = op.float_prop("epsilon")
    return Kernel(lambda x, *params: batch_norm(x, *params, epsilon),
                  [op.input, op.scale, op.offset, op.mean, op.variance])


def lrn(x: Array, size: int, alpha: float, beta: float, bias: float) -> Array:
    """ONNX LRN over the last (channel) axis: the window of channel c spans
    [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)], clipped to the channels that exist."""
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    channels = x.shape[-1]
    squares = np.pad(np.square(x), [(0, 0)] * (x.ndim - 1) + [(before, after)])
    square_sum = squares[..., 0:channels].copy()
    for k in range(1, size):
        square_sum += squares[..., k:k + channels]
    denominator = np.power(np.float32(bias) + np.float32(alpha / size) * square_sum, np.float32(beta))
    return np.divide(x, denominator, out=denominator)


def build_lrn(op: lite.LRNOp, const: ConstantLookup) -> Kernel:
    size = op.properties["size"].value.data
    alpha, beta, bias = op.float_prop("alpha"), op.float_prop("beta"), op.float_prop("bias")
    return Kernel(lambda x: lrn(x, size, alpha, beta, bias), [op.input])


def softmax(x: Array, axis: int) -> Array:
    y = np.subtract(x, x.max(axis=axis, keepdims=True))
    np.exp(y, out=y)
    return np.divide(y, y.sum(axis=axis, keepdims=True), out=y)


def build_softmax(op: lite.SoftmaxOp, const: ConstantLookup) -> Kernel:
    axis = op.properties["axis"].value.data
    return Kernel(lambda x: softmax(x, axis), [op.input])


_REDUCTIONS = {"mean": np.mean, "max": np.max, "min": np.min, "sum": np.sum, "prod": np.prod}


def build_reduce(op: lite.ReduceOp, const: ConstantLookup) -> Kernel:
    reduction = _REDUCTIONS[op.str_prop("mode")]
    axes, keep_dims = tuple(op.int_list("axes")), op.bool_prop("keep_dims")
    if not axes:
        return Kernel(lambda x: x, [op.input], returns_view=True)
    if reduction in (np.mean, np.sum):
        # Accumulated in float64: numpy adds up non-contiguous axes (H and W of NHWC) one element after
        # another, and in float32 that rounding error grows with the number of elements summed.
        return Kernel(lambda x: np.asarray(reduction(x, axis=axes, keepdims=keep_dims, dtype=np.float64),
                                           dtype=np.float32), [op.input])
    return Kernel(lambda x: np.asarray(reduction(x, axis=axes, keepdims=keep_dims), dtype=np.float32), [op.input])


BUILDERS = {
    lite.BatchNormOp: build_batch_norm,
    lite.LRNOp: build_lrn,
    lite.SoftmaxOp: build_softmax,
    lite.ReduceOp: build_reduce,
}
