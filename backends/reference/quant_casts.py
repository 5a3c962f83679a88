"""quant.scast / quant.dcast / quant.qcast on per-tensor and per-axis `!quant.uniform` values.

A quantized tensor is held as a numpy array of its storage integers. Dequantization is
(q - zero_point) * scale; quantization is clamp(round_half_to_even(x / scale) + zero_point, qmin, qmax),
both as onnxruntime's DequantizeLinear / QuantizeLinear compute them.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, unsupported
from quantopt.dialects.constant import numpy_dtype
from quantopt.dialects.quant import (
    DequantizeCastOp,
    QuantizeCastOp,
    StorageCastOp,
    UniformQuantizedType,
    element_type_of,
)
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute


def dtype_of(element_type: Attribute) -> np.dtype:
    """The numpy dtype holding values of an element type (storage integers for quantized types)."""
    if isinstance(element_type, UniformQuantizedType):
        return numpy_dtype(element_type.storage_type)
    return numpy_dtype(element_type)


def _parameters(qtype: UniformQuantizedType, shape) -> tuple[Array, Array]:
    """Scale (float32) and zero point (int32) arrays broadcasting against a tensor of `shape`."""
    scales = np.asarray(qtype.scale_values, np.float32)
    zero_points = np.asarray(qtype.zero_point_values, np.int32)
    if qtype.is_per_axis:
        along_axis = [1] * len(shape)
        along_axis[qtype.axis.data] = -1
        return scales.reshape(along_axis), zero_points.reshape(along_axis)
    return scales.reshape(()), zero_points.reshape(())


def dequantize(q: Array, qtype: UniformQuantizedType) -> Array:
    scale, zero_point = _parameters(qtype, q.shape)
    y = np.subtract(q, zero_point, dtype=np.int32).astype(np.float32)
    return np.multiply(y, scale, out=y)


def quantize(x: Array, qtype: UniformQuantizedType) -> Array:
    scale, zero_point = _parameters(qtype, x.shape)
    q = np.divide(x, scale, dtype=np.float32)
    np.rint(q, out=q)
    np.add(q, zero_point.astype(np.float32), out=q)
    np.clip(q, qtype.qmin, qtype.qmax, out=q)
    return q.astype(dtype_of(qtype))


def _quantized_type(op, value) -> UniformQuantizedType:
    t = element_type_of(value.type)
    if not isinstance(t, UniformQuantizedType) or not isinstance(value.type, TensorType):
        raise unsupported(op, f"needs a ranked tensor of !quant.uniform, got {value.type}")
    return t


def build_dcast(op: DequantizeCastOp, const: ConstantLookup) -> Kernel:
    qtype = _quantized_type(op, op.input)
    return Kernel(lambda q: dequantize(q, qtype), [op.input])


def build_qcast(op: QuantizeCastOp, const: ConstantLookup) -> Kernel:
    qtype = _quantized_type(op, op.result)
    return Kernel(lambda x: quantize(x, qtype), [op.input])


def build_scast(op: StorageCastOp, const: ConstantLookup) -> Kernel:
    target = dtype_of(element_type_of(op.result.type))
    # A storage cast reinterprets bits: i8 data behind a u8 quantized type reads as 0..255.
    return Kernel(lambda q: q.view(target) if q.dtype.itemsize == target.itemsize else q.astype(target),
                  [op.input], returns_view=True)


BUILDERS = {DequantizeCastOp: build_dcast, QuantizeCastOp: build_qcast, StorageCastOp: build_scast}
