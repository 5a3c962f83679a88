"""Weights as `arith.constant` ops over bytes-backed dense attributes, converted to and from numpy zero-copy.

The one place where numpy arrays become dense attributes and back: frontends, passes, the `.ms` backend and
the executor all go through it.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerType,
    Signedness,
    TensorType,
    f16,
    f32,
    f64,
    i1,
)
from xdsl.ir import Attribute, SSAValue


def element_type_for(dtype: np.dtype) -> Attribute:
    """The xDSL element type of a numpy dtype: floats, bool (i1), signless signed and unsigned integers."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return {2: f16, 4: f32, 8: f64}[dtype.itemsize]
    if dtype.kind == "b":
        return i1
    if dtype.kind in "iu":
        return IntegerType(8 * dtype.itemsize, Signedness.UNSIGNED if dtype.kind == "u" else Signedness.SIGNLESS)
    raise TypeError(f"no xDSL element type for numpy {dtype}")


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The little-endian numpy dtype holding values of an element type; ValueError when there is none."""
    if isinstance(element_type, Float32Type):
        return np.dtype("<f4")
    if isinstance(element_type, Float16Type):
        return np.dtype("<f2")
    if isinstance(element_type, Float64Type):
        return np.dtype("<f8")
    if isinstance(element_type, IndexType):
        return np.dtype("<i8")
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        if width == 1:
            return np.dtype("bool")
        kind = "u" if element_type.signedness.data == Signedness.UNSIGNED else "i"
        for bits in (8, 16, 32, 64):  # the narrowest integer that holds the width (i4 storage is int8)
            if width <= bits:
                return np.dtype(f"<{kind}{bits // 8}")
    raise ValueError(f"no numpy dtype for {element_type}")


def dense_attr(array: np.ndarray) -> DenseIntOrFPElementsAttr:
    array = np.asarray(array)
    data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return DenseIntOrFPElementsAttr(TensorType(element_type_for(array.dtype), array.shape), BytesAttr(data))


def constant_op(array: np.ndarray) -> arith.ConstantOp:
    return arith.ConstantOp(dense_attr(array))


def dense_to_numpy(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The attribute's values as an array of its shape: a read-only view of its bytes, or for a splat (one
    stored value standing for a larger shape) that value broadcast. Raises ValueError on a size mismatch."""
    shape = tuple(attr.get_shape())
    data = np.frombuffer(attr.data.data, dtype=numpy_dtype(attr.get_element_type()))
    count = int(np.prod(shape, dtype=np.int64))
    if data.size == 1 and count != 1:
        return np.broadcast_to(data[0], shape)
    if data.size != count:
        raise ValueError(f"dense attribute holds {data.size} values for shape {list(shape)}")
    return data.reshape(shape)


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
