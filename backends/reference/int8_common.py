"""What the int8 kernel families share: quantization parameters read from types, and 256-entry tables.

A quantized tensor is a numpy array of its storage integers (int8 or uint8 for the activations these
kernels take). Every map from one stored byte to another (requantization between two scales, relu
and relu6 in the quantized domain, sigmoid and the other activations) is a table indexed by the byte:
exact, and one gather per element however complicated the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from quantopt.backends.reference.kernel import Array, unsupported
from quantopt.backends.reference.quant_casts import dtype_of
from quantopt.backends.reference.requantize import FixedPointMultiplier
from quantopt.dialects.quant import UniformQuantizedType, element_type_of
from xdsl.ir import Operation, SSAValue


@dataclass(frozen=True)
class QParams:
    """Scale(s) and zero point(s) of a `!quant.uniform` value: float64 / int64 arrays of one element per
    tensor, or one per slice along `axis`."""

    scales: Array
    zero_points: Array
    axis: int
    qmin: int
    qmax: int
    dtype: np.dtype

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0])

    @property
    def same_values(self) -> tuple:
        """What decides the real value of every stored integer: two tensors with equal `same_values`
        need no requantization between them."""
        return (tuple(self.scales), tuple(self.zero_points), self.axis)

    def max_deviation(self) -> int:
        """max |q - zero_point| over the storage range (per-tensor)."""
        return max(self.qmax - self.zero_point, self.zero_point - self.qmin)


def qparams(value: SSAValue) -> QParams | None:
    qtype = element_type_of(value.type)
    if not isinstance(qtype, UniformQuantizedType):
        return None
    return QParams(np.asarray(qtype.scale_values, np.float64), np.asarray(qtype.zero_point_values, np.int64),
                   qtype.axis.data, qtype.qmin, qtype.qmax, dtype_of(qtype))


def activation_qparams(op: Operation, value: SSAValue) -> QParams:
    """Per-tensor parameters of an activation operand or result held in one byte, or an error naming it."""
    params = qparams(value)
    if params is None or params.axis >= 0 or params.dtype.itemsize != 1:
        raise unsupported(op, f"needs per-tensor 8-bit quantized activations, got {value.type}")
    return params


def storage_values(params: QParams) -> Array:
    """The value of each of the 256 bytes under the storage dtype: index i holds the integer whose byte is i."""
    return np.arange(256, dtype=np.uint8).view(params.dtype).astype(np.int64)


def lookup(table: Array, x: Array) -> Array:
    """table[byte of x] for int8 or uint8 x."""
    return np.take(table, x.view(np.uint8))


def requantize_table(src: QParams, dst: QParams, lo: int | None = None, hi: int | None = None) -> Array | None:
    """The byte table of y = clamp(zp_dst + (x - zp_src) * s_src / s_dst) in fixed point, clamped to
    [lo, hi] (default the storage range of dst); None when it is the identity."""
    lo = dst.qmin if lo is None else lo
    hi = dst.qmax if hi is None else hi
    if src.same_values == dst.same_values and src.dtype == dst.dtype and lo <= src.qmin and src.qmax <= hi:
        return None
    q = storage_values(src)
    deviation = q - src.zero_point
    if src.scale == dst.scale:
        y = deviation
    else:
        y = FixedPointMultiplier.from_real(src.scale / dst.scale).apply(deviation.copy())
    return np.clip(y + dst.zero_point, lo, hi).astype(dst.dtype)


def requantizer(src: QParams, dst: QParams):
    """x -> x stored under dst's parameters (a table lookup, or x itself when nothing changes)."""
    table = requantize_table(src, dst)
    if table is None:
        return lambda x: x
    return lambda x: lookup(table, x)
