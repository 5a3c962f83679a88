"""Weights as `arith.constant` ops over bytes-backed dense attributes, converted to and from numpy zero-copy."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, SSAValue

_NUMPY_TO_XDSL = {
    np.dtype("float32"): f32, np.dtype("float16"): f16, np.dtype("float64"): f64,
    np.dtype("int8"): i8, np.dtype("int16"): i16, np.dtype("int32"): i32, np.dtype("int64"): i64,
    np.dtype("bool"): i1,
}


def numpy_dtype(element_type: Attribute) -> np.dtype:
    if isinstance(element_type, Float32Type):
        return np.dtype("<f4")
    if isinstance(element_type, Float16Type):
        return np.dtype("<f2")
    if isinstance(element_type, Float64Type):
        return np.dtype("<f8")
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        if width == 1:
            return np.dtype("bool")
        unsigned = element_type.signedness.data == Signedness.UNSIGNED
        return np.dtype(f"<{'u' if unsigned else 'i'}{max(1, width // 8)}")
    raise TypeError(f"no numpy dtype for {element_type}")


def dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    array = np.asarray(array)
    element_type = _NUMPY_TO_XDSL[array.dtype.newbyteorder("=")]
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return DenseIntOrFPElementsAttr(TensorType(element_type, array.shape), BytesAttr(data))


def constant_op(array: np.ndarray) -> arith.ConstantOp:
    return arith.ConstantOp(dense_attr(array))


def dense_to_numpy(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """A read-only numpy view of the attribute's bytes."""
    shape = tuple(attr.get_shape())
    dtype = numpy_dtype(attr.get_element_type())
    return np.frombuffer(attr.data.data, dtype=dtype).reshape(shape)


def constant_value(value: SSAValue) -> np.ndarray | None:
    """The numpy value of `value` if an `arith.constant` with dense data defines it, else None."""
    op = value.owner
    if isinstance(op, arith.ConstantOp) and isinstance(op.value, DenseIntOrFPElementsAttr):
        return dense_to_numpy(op.value)
    return None


def erase_dead_constants(rewriter, values) -> None:
    """Erase the `arith.constant` ops behind `values` that a rewrite left without users."""
    for value in values:
        if isinstance(value.owner, arith.ConstantOp) and not value.uses and value.owner.parent is not None:
            rewriter.erase(value.owner)
