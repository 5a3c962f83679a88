"""Full quantization between `.ms` and IR: int8 activations, integer weights and int32 biases.

`lower-to-int8` leaves integer lite ops whose operands and results are `!quant.uniform` tensors:

    %q = quant.qcast %x : tensor<1x8x8x3xf32> to tensor<1x8x8x3x!quant.uniform<i8<-127:127>:f32, 0.025>>
    %w = quant.scast %wi : tensor<8x3x3x3xi8> to tensor<8x3x3x3x!quant.uniform<i8:f32:0, {...}>>
    %b = quant.scast %bi : tensor<8xi32> to tensor<8x!quant.uniform<i32:f32:0, {...}>>
    %y = lite.conv2d %q, %w, %b : (...) -> tensor<1x8x8x8x!quant.uniform<i8<-127:127>:f32, 0.043>>
    %f = quant.dcast %y : ... to tensor<1x8x8x8xf32>

In `.ms` (as MindSpore Lite's full quantizer writes it) a quantized activation is an Int8 tensor with one
initialised QuantParam (scale, zeroPoint, numBits, narrowRange, and min/max, the real range the storage
range covers); a stored constant (`quant.scast` of integer data) is an Int8/Int16/Int32 tensor with one
QuantParam per tensor or one per channel along the axis MindSpore Lite's runtime uses (`channel_axis`);
`quant.qcast` and `quant.dcast` are QuantDTypeCast nodes (Float32 -> Int8 and Int8 -> Float32).

A storage range is (numBits b, narrowRange): [-2^(b-1), 2^(b-1) - 1], or [-(2^(b-1) - 1), 2^(b-1) - 1] when
narrow, so `i8<-127:127>` is (8, true), `i8<-8:7>` (4, false), `i8` (8, false) and `i32` (32, false). Other
ranges (unsigned, off-centre) have no QuantParam spelling and are refused. Activations below 8 bits stay
one byte per value; constants follow the weight-quant storage (`bitpacking`): b-bit values in the
container that fits b (Int8 up to 8, Int16 up to 16, Int32 only for 32), bit-packed unless b is 8 or 16.

A single QuantParam reads back per tensor: a per-axis type over one channel comes back per tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

from quantopt.backends.ms import bitpacking
from quantopt.backends.ms.codes import NUMPY_DTYPES, TypeId
from quantopt.backends.ms.graph import MsQuantParam, MsTensor
from quantopt.backends.ms.schema_generated.WeightQuantCompressType import WeightQuantCompressType
from quantopt.backends.ms.weights import WeightError, constant_array
from quantopt.dialects.constant import constant_op
from quantopt.dialects.quant import StorageCastOp, UniformQuantizedType

ACTIVATION_BITS = 8  # activations are stored one byte per value whatever their range
CONTAINERS = {8: TypeId.INT8, 16: TypeId.INT16, 32: TypeId.INT32}
"""Storage width of a constant -> its dataType."""


class QuantParamError(ValueError):
    """A quantized type without a `.ms` spelling, or QuantParams that describe no valid type."""


# ---------------------------------------------------------------------------------------------------------
# Storage ranges.


def range_bits(qmin: int, qmax: int) -> tuple[int, bool]:
    """(numBits, narrowRange) of a signed storage range; QuantParamError when it is neither form."""
    bits = qmax.bit_length() + 1
    if qmax >= 1 and qmax == (1 << (bits - 1)) - 1 and qmin in (-qmax - 1, -qmax):
        return bits, qmin == -qmax
    raise QuantParamError(f"storage range [{qmin}, {qmax}] is neither [-2^(b-1), 2^(b-1)-1] nor the narrow "
                          f"[-(2^(b-1)-1), 2^(b-1)-1], which is all a QuantParam (numBits, narrowRange) can express")


def bits_range(num_bits: int, narrow_range: bool) -> tuple[int, int]:
    """The storage range of (numBits, narrowRange)."""
    qmax = (1 << (num_bits - 1)) - 1
    return (-qmax if narrow_range else -qmax - 1), qmax


def _checked_bits(qtype: UniformQuantizedType, what: str) -> tuple[int, bool]:
    if not qtype.is_signed:
        raise QuantParamError(f"{what} has unsigned storage {qtype}; MindSpore Lite stores signed integers")
    if qtype.expressed_type != f32:
        raise QuantParamError(f"{what} {qtype} expresses {qtype.expressed_type}; .ms quantized values express f32")
    return range_bits(qtype.qmin, qtype.qmax)


def _uniform(scales, zero_points, axis: int, width: int, qmin: int, qmax: int) -> UniformQuantizedType:
    try:  # the type verifies itself when it is built
        return UniformQuantizedType.get(scales, zero_points, axis=axis, width=width, qmin=qmin, qmax=qmax)
    except VerifyException as err:
        raise QuantParamError(f"QuantParams describe no valid quantized type: {err}") from None


# ---------------------------------------------------------------------------------------------------------
# Activations.


def is_quantized_activation(tensor: MsTensor) -> bool:
    """An Int8 tensor with initialised QuantParams: a value the integer kernels compute on."""
    return tensor.data_type == TypeId.INT8 and bool(tensor.quant_params) and tensor.quant_params[0].inited


def activation_param(qtype: UniformQuantizedType) -> MsQuantParam:
    """The QuantParam of a quantized activation type (per tensor, signed, at most 8 bits)."""
    if qtype.is_per_axis:
        raise QuantParamError(f"activation type {qtype} is quantized per axis; MindSpore Lite activations are "
                              f"quantized per tensor")
    if qtype.width != ACTIVATION_BITS:
        raise QuantParamError(f"activation type {qtype} is stored in i{qtype.width}; .ms activations are int8")
    bits, narrow = _checked_bits(qtype, "activation type")
    scale, zero_point = qtype.scale, qtype.zero_point
    return MsQuantParam(scale=scale, zero_point=zero_point, min=scale * (qtype.qmin - zero_point),
                        max=scale * (qtype.qmax - zero_point), narrow_range=narrow, num_bits=bits, inited=True)


def activation_type(tensor: MsTensor) -> UniformQuantizedType:
    """The `!quant.uniform` element type of a quantized activation tensor."""
    if len(tensor.quant_params) != 1:
        raise QuantParamError(f"an int8 activation has one QuantParam, this one has {len(tensor.quant_params)}")
    q = tensor.quant_params[0]
    if not 2 <= q.num_bits <= ACTIVATION_BITS:
        raise QuantParamError(f"numBits {q.num_bits} of an int8 activation is outside 2..{ACTIVATION_BITS}")
    qmin, qmax = bits_range(q.num_bits, q.narrow_range)
    return _uniform(q.scale, q.zero_point, -1, ACTIVATION_BITS, qmin, qmax)


# ---------------------------------------------------------------------------------------------------------
# Stored constants (integer weights and biases).


@dataclass
class StoredConstant:
    """Integer data with the quantized type a `quant.scast` gives it, per tensor (axis -1) or per channel."""

    values: np.ndarray
    width: int
    qmin: int
    qmax: int
    scales: list[float]
    zero_points: list[int]
    axis: int

    def quantized_type(self) -> UniformQuantizedType:
        return _uniform(self.scales, self.zero_points, self.axis, self.width, self.qmin, self.qmax)

    def permuted(self, perm: tuple[int, ...]) -> StoredConstant:
        axis = self.axis if self.axis < 0 else perm.index(self.axis)
        values = np.ascontiguousarray(self.values.transpose(perm))
        return StoredConstant(values, self.width, self.qmin, self.qmax, self.scales, self.zero_points, axis)


def stored_constant_of(value: SSAValue) -> tuple[arith.ConstantOp, StoredConstant] | None:
    """Recognise `quant.scast(arith.constant)` to `!quant.uniform`; returns the constant op and its data."""
    scast = value.owner
    if not isinstance(scast, StorageCastOp) or not isinstance(scast.result.type, TensorType):
        return None
    qtype = scast.result.type.element_type
    const = scast.input.owner
    if not isinstance(qtype, UniformQuantizedType) or not isinstance(const, arith.ConstantOp):
        return None
    _checked_bits(qtype, "constant type")
    values = constant_array(const)
    if values.size and (values.min() < qtype.qmin or values.max() > qtype.qmax):
        raise WeightError(f"quantized values leave the storage range [{qtype.qmin}, {qtype.qmax}]")
    return const, StoredConstant(values, qtype.width, qtype.qmin, qtype.qmax, qtype.scale_values,
                                 qtype.zero_point_values, qtype.axis.data)


def _container_width(bits: int) -> int:
    return 8 if bits <= 8 else 16 if bits <= 16 else 32


def encode_stored(stored: StoredConstant) -> tuple[TypeId, bytes, list[MsQuantParam]]:
    """dataType, data bytes and QuantParams of a stored constant."""
    bits, narrow = range_bits(stored.qmin, stored.qmax)
    if stored.width != _container_width(bits):
        raise QuantParamError(f"{bits}-bit values are stored in i{_container_width(bits)} in .ms, this constant "
                              f"is i{stored.width}")
    if stored.width < 32 and bitpacking.is_packed(bits):
        data = bitpacking.pack_bits(stored.values, bits)
    else:
        data = stored.values.astype(NUMPY_DTYPES[CONTAINERS[stored.width]]).tobytes()
    params = [MsQuantParam(scale=s, zero_point=z, narrow_range=narrow, num_bits=bits, inited=True)
              for s, z in zip(stored.scales, stored.zero_points)]
    return CONTAINERS[stored.width], data, params


def is_stored_constant(tensor: MsTensor) -> bool:
    """An integer constant with initialised QuantParams (what an integer node reads as `quant.scast`)."""
    return tensor.data_type in CONTAINERS.values() and bool(tensor.quant_params) and tensor.quant_params[0].inited


def decode_stored(tensor: MsTensor, axis: int) -> StoredConstant:
    """The data and quantization of a stored constant read by an integer node; `axis` is the channel axis
    MindSpore Lite's runtime uses for this input."""
    if tensor.has_external_data or tensor.enable_huffman_code:
        raise QuantParamError("integer constants in external files or Huffman-coded are not supported")
    if tensor.weight_quant_compress_type not in (WeightQuantCompressType.NONE, WeightQuantCompressType.BITPACKING):
        raise QuantParamError(f"weight compression type {tensor.weight_quant_compress_type} is not supported")
    params = tensor.quant_params
    width = next(w for w, code in CONTAINERS.items() if code == tensor.data_type)
    bits = params[0].num_bits
    if _container_width(bits) != width or (width == 32 and bits != 32) or bits < 2:
        raise QuantParamError(f"numBits {bits} does not fit dataType {tensor.data_type}")
    if any(p.num_bits != bits or p.narrow_range != params[0].narrow_range for p in params):
        raise QuantParamError("per-channel QuantParams disagree on numBits or narrowRange")
    if any(d < 0 for d in tensor.dims):
        raise QuantParamError(f"constant has unknown dimensions {tensor.dims}")
    count = math.prod(tensor.dims)
    if width < 32 and bitpacking.is_packed(bits):
        try:
            values = bitpacking.unpack_bits(tensor.data, bits, count)
        except ValueError as err:
            raise QuantParamError(str(err)) from None
    else:
        dtype = NUMPY_DTYPES[CONTAINERS[width]]
        if len(tensor.data) != count * dtype.itemsize:
            raise QuantParamError(f"holds {len(tensor.data)} bytes, {count} {bits}-bit values take "
                                  f"{count * dtype.itemsize}")
        values = np.frombuffer(tensor.data, dtype=dtype)
    if len(params) == 1:
        axis = -1
    elif not (0 <= axis < len(tensor.dims) and tensor.dims[axis] == len(params)):
        raise QuantParamError(f"has {len(params)} per-channel QuantParams but dimension {axis} of {tensor.dims} "
                              f"is the channel axis")
    qmin, qmax = bits_range(bits, params[0].narrow_range)
    values = values.reshape(tensor.dims)
    if values.size and (values.min() < qmin or values.max() > qmax):
        raise QuantParamError(f"values leave the storage range [{qmin}, {qmax}]")
    stored = StoredConstant(values, width, qmin, qmax, [p.scale for p in params], [p.zero_point for p in params],
                            axis)
    stored.quantized_type()  # QuantParamError if the parameters describe no type
    return stored


def stored_constant_ops(stored: StoredConstant) -> list[Operation]:
    """`arith.constant` integer data and the `quant.scast` to its quantized type (last op is the value)."""
    const = constant_op(stored.values.astype(NUMPY_DTYPES[CONTAINERS[stored.width]]))
    scast = StorageCastOp(const.result, TensorType(stored.quantized_type(), list(stored.values.shape)))
    return [const, scast]

