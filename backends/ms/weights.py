"""Constant tensors between `.ms` and IR.

A plain constant is an `arith.constant`. A weight-quantized one (int8/int16 data with initialised
QuantParams) becomes the chain MLIR uses for quantized constants, so the float graph still runs:

    %q = arith.constant dense<...> : tensor<6x5x5x1xi8>
    %s = quant.scast %q : tensor<6x5x5x1xi8> to tensor<6x5x5x1x!quant.uniform<i8<-8:7>:f32:0, {...}>>
    %w = quant.dcast %s : ... to tensor<6x5x5x1xf32>

b-bit weights live in an i8 (b <= 8) or i16 (b <= 16) container whose storage range is
[-2^(b-1), 2^(b-1) - 1], the range MindSpore Lite quantizes weights to; the file stores them bit-packed
when b is not 8 or 16 (see `bitpacking`). One QuantParam means per-tensor, several mean one per channel
along the axis MindSpore Lite's runtime dequantizes along (`channel_axis`). Weights whose parameters
cannot be carried by `!quant.uniform` (varCorr/meanCorr corrections, k-means clusters, a non-positive
scale) are dequantized into a float constant instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, TensorType, f32
from xdsl.ir import Operation, SSAValue

from quantopt.backends.ms import bitpacking
from quantopt.backends.ms.codes import NUMPY_DTYPES, TypeId, numpy_dtype_of
from quantopt.backends.ms.graph import MsQuantParam, MsTensor
from quantopt.backends.ms.schema_generated.WeightQuantCompressType import WeightQuantCompressType
from quantopt.dialects.constant import constant_op, dense_to_numpy
from quantopt.dialects.quant import DequantizeCastOp, StorageCastOp, UniformQuantizedType

FLOAT_TYPES = (TypeId.FLOAT16, TypeId.FLOAT32, TypeId.FLOAT64)


class WeightError(ValueError):
    """A constant tensor whose data or quantization parameters are inconsistent."""


@dataclass
class QuantizedWeight:
    """Integer weight values with their b-bit uniform quantization, per tensor (axis -1) or per channel."""

    values: np.ndarray
    bits: int
    scales: list[float]
    zero_points: list[int]
    axis: int

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def dequantize(self) -> np.ndarray:
        return _dequantize(self.values, self.scales, self.zero_points, [1.0], [0.0], self.axis)


def channel_axis(primitive: str, input_index: int, attrs: dict[str, Any], rank: int) -> int:
    """The axis MindSpore Lite dequantizes per-channel weights along: the output channel, which is the
    first axis except for a MatMul operand stored [in, out] (rhs without transpose_b, lhs with transpose_a)."""
    if primitive == "MatMulFusion" and rank >= 2:
        channel_first = not attrs.get("transpose_a") if input_index == 0 else bool(attrs.get("transpose_b"))
        return 0 if channel_first else rank - 1
    return 0


def _broadcast_along(values: list, axis: int, rank: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if axis < 0:
        return array.reshape(())
    shape = [1] * rank
    shape[axis] = array.size
    return array.reshape(shape)


def _dequantize(q: np.ndarray, scales, zero_points, var_corrs, mean_corrs, axis: int) -> np.ndarray:
    b = lambda v: _broadcast_along(v, axis, q.ndim)  # noqa: E731
    real = (q.astype(np.float64) - b(zero_points)) * b(scales) * b(var_corrs) + b(mean_corrs)
    return real.astype(np.float32)


def _element_count(dims: list[int]) -> int:
    if any(d < 0 for d in dims):
        raise WeightError(f"constant has unknown dimensions {dims}")
    return math.prod(dims)


def _is_weight_quantized(tensor: MsTensor) -> bool:
    return (
        tensor.data_type in (TypeId.INT8, TypeId.INT16)
        and bool(tensor.quant_params)
        and tensor.quant_params[0].inited
    )


def decode_constant(tensor: MsTensor, axis: int) -> np.ndarray | QuantizedWeight:
    """The value of a constant tensor: a numpy array, or the quantized weight when `!quant.uniform` can
    carry it. `axis` is the channel axis its consumer dequantizes along."""
    if tensor.has_external_data:
        raise WeightError("data stored in an external file is not supported")
    if tensor.enable_huffman_code:
        raise WeightError("Huffman-coded weights are not supported")
    if tensor.weight_quant_compress_type not in (WeightQuantCompressType.NONE, WeightQuantCompressType.BITPACKING):
        raise WeightError(f"weight compression type {tensor.weight_quant_compress_type} is not supported")
    count = _element_count(tensor.dims)
    if not _is_weight_quantized(tensor):
        try:
            dtype = NUMPY_DTYPES[TypeId(tensor.data_type)]
        except (ValueError, KeyError):
            raise WeightError(f"unsupported dataType {tensor.data_type}") from None
        if len(tensor.data) != count * dtype.itemsize:
            raise WeightError(f"holds {len(tensor.data)} bytes, {tensor.dims} of dataType {tensor.data_type} "
                              f"take {count * dtype.itemsize}")
        return np.frombuffer(tensor.data, dtype=dtype).reshape(tensor.dims)
    return _decode_quantized(tensor, count, axis)


def _decode_quantized(tensor: MsTensor, count: int, axis: int) -> np.ndarray | QuantizedWeight:
    params = tensor.quant_params
    bits = params[0].num_bits
    if not 1 <= bits <= 16:
        raise WeightError(f"numBits {bits} is outside 1..16")
    container = TypeId.INT8 if bits <= 8 else TypeId.INT16
    if tensor.data_type != container:
        raise WeightError(f"{bits}-bit weights must be stored as dataType {int(container)}, got {tensor.data_type}")
    if bitpacking.is_packed(bits):
        values = bitpacking.unpack_bits(tensor.data, bits, count)
    else:
        dtype = NUMPY_DTYPES[container]
        if len(tensor.data) != count * dtype.itemsize:
            raise WeightError(f"holds {len(tensor.data)} bytes, {count} {bits}-bit values take "
                              f"{count * dtype.itemsize}")
        values = np.frombuffer(tensor.data, dtype=dtype)
    values = values.reshape(tensor.dims)
    if len(params) == 1:
        axis = -1
    elif not (0 <= axis < len(tensor.dims) and tensor.dims[axis] == len(params)):
        raise WeightError(f"has {len(params)} per-channel QuantParams but dimension {axis} of {tensor.dims} "
                          f"is the channel axis")
    scales = [p.scale for p in params]
    zero_points = [p.zero_point for p in params]
    if tensor.quant_clusters:
        clusters = np.asarray(tensor.quant_clusters, dtype=np.float32)
        index = values.astype(np.int64) - np.iinfo(np.int8).min
        if container != TypeId.INT8 or index.min(initial=0) < 0 or index.max(initial=0) >= clusters.size:
            raise WeightError("k-means cluster indices out of range")
        return clusters[index]
    weight = QuantizedWeight(values, bits, scales, zero_points, axis)
    carried = all(math.isfinite(s) and s > 0 for s in scales) and all(
        weight.qmin <= z <= weight.qmax for z in zero_points)
    if carried and all(p.var_corr == 1 and p.mean_corr == 0 for p in params):
        return weight
    return _dequantize(values, scales, zero_points, [p.var_corr for p in params],
                       [p.mean_corr for p in params], axis)


# ---------------------------------------------------------------------------------------------------------
# IR constants.


def quantized_constant(weight: QuantizedWeight) -> list[Operation]:
    """The arith.constant -> quant.scast -> quant.dcast chain of a quantized weight (last op is the float value)."""
    container = bitpacking.container_dtype(weight.bits)
    width = container.itemsize * 8
    const = constant_op(weight.values.astype(container))
    qtype = UniformQuantizedType.get(weight.scales, weight.zero_points, axis=weight.axis, width=width,
                                     qmin=weight.qmin, qmax=weight.qmax)
    shape = list(weight.values.shape)
    scast = StorageCastOp(const.result, TensorType(qtype, shape))
    dcast = DequantizeCastOp(scast.result, TensorType(f32, shape))
    return [const, scast, dcast]


def constant_array(op: arith.ConstantOp) -> np.ndarray:
    """The data of an `arith.constant` with a dense tensor value, as a numpy array of its shape."""
    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr) or not isinstance(value.type, TensorType):
        raise WeightError(f"constant value {value} is not a dense tensor")
    element = value.type.element_type
    dtype = numpy_dtype_of(element)
    if dtype is None:
        raise WeightError(f"constants of element type {element} cannot be stored in .ms")
    try:
        return dense_to_numpy(value)
    except ValueError as err:
        raise WeightError(str(err)) from None


def _bits_for_range(qmin: int, qmax: int) -> int:
    bits = 1
    while not (-(1 << (bits - 1)) <= qmin and qmax <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def quantized_weight_of(value: SSAValue) -> tuple[arith.ConstantOp, QuantizedWeight] | None:
    """Recognise `quant.dcast(quant.scast(arith.constant))`; returns the constant and the weight it holds."""
    dcast = value.owner
    if not isinstance(dcast, DequantizeCastOp):
        return None
    scast = dcast.input.owner
    if not isinstance(scast, StorageCastOp):
        return None
    const = scast.input.owner
    if not isinstance(const, arith.ConstantOp):
        return None
    qtype = scast.result.type.element_type
    if not isinstance(qtype, UniformQuantizedType):
        return None
    values = constant_array(const).astype(np.int64)
    qmin, qmax = qtype.qmin, qtype.qmax
    zero_points = qtype.zero_point_values
    if values.size and (values.min() < qmin or values.max() > qmax):
        raise WeightError(f"quantized values leave the storage range [{qmin}, {qmax}]")
    if not qtype.is_signed:  # MindSpore Lite weights are signed: shift unsigned storage by half its range
        shift = 1 << (qtype.width - 1)
        values, qmin, qmax = values - shift, qmin - shift, qmax - shift
        zero_points = [z - shift for z in zero_points]
    bits = _bits_for_range(qmin, qmax)
    if bits > 16:
        raise WeightError(f"{bits}-bit weights cannot be stored in .ms (at most 16 bits)")
    return const, QuantizedWeight(values, bits, qtype.scale_values, zero_points, qtype.axis.data)


def encode_quantized(weight: QuantizedWeight) -> tuple[TypeId, bytes, list[MsQuantParam]]:
    """dataType, data bytes and QuantParams of a quantized weight, as MindSpore Lite's weight quantizer
    writes them (narrowRange false, inited true). min/max stay unset: dequantization reads only scale and
    zero point, and per-channel parameters are a large share of a weight-quantized file."""
    container = bitpacking.container_dtype(weight.bits)
    data_type = TypeId.INT8 if container.itemsize == 1 else TypeId.INT16
    if bitpacking.is_packed(weight.bits):
        data = bitpacking.pack_bits(weight.values, weight.bits)
    else:
        data = weight.values.astype(container.newbyteorder("<")).tobytes()
    params = [
        MsQuantParam(scale=s, zero_point=z, narrow_range=False, num_bits=weight.bits, inited=True)
        for s, z in zip(weight.scales, weight.zero_points)
    ]
    return data_type, data, params

