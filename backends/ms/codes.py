"""Numeric codes of the `.ms` format that the schema leaves as plain ints, and their IR counterparts.

`dataType` holds a MindSpore TypeId, `MetaGraph.fmkType` the converter's source framework. Enums that the
schema does declare (Format, ActivationType, PadMode, QuantType, ...) are used from the generated code.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from xdsl.dialects.builtin import IntegerType, Signedness, f16, f32, f64, i1
from xdsl.ir import Attribute

from quantopt.backends.ms.schema_generated.ActivationType import ActivationType
from quantopt.backends.ms.schema_generated.ReduceMode import ReduceMode


class TypeId(IntEnum):
    """MindSpore's `TypeId` values used as `Tensor.dataType`."""

    BOOL = 30
    INT8 = 32
    INT16 = 33
    INT32 = 34
    INT64 = 35
    UINT8 = 37
    FLOAT16 = 42
    FLOAT32 = 43
    FLOAT64 = 44


class FmkType(IntEnum):
    """`MetaGraph.fmkType`: the framework the model was converted from."""

    TF = 0
    CAFFE = 1
    ONNX = 2
    MINDIR = 3
    TFLITE = 4


NUMPY_DTYPES: dict[TypeId, np.dtype] = {
    TypeId.BOOL: np.dtype(np.bool_),
    TypeId.INT8: np.dtype("<i1"),
    TypeId.INT16: np.dtype("<i2"),
    TypeId.INT32: np.dtype("<i4"),
    TypeId.INT64: np.dtype("<i8"),
    TypeId.UINT8: np.dtype("<u1"),
    TypeId.FLOAT16: np.dtype("<f2"),
    TypeId.FLOAT32: np.dtype("<f4"),
    TypeId.FLOAT64: np.dtype("<f8"),
}

ELEMENT_TYPES: dict[TypeId, Attribute] = {
    TypeId.BOOL: i1,
    TypeId.INT8: IntegerType(8),
    TypeId.INT16: IntegerType(16),
    TypeId.INT32: IntegerType(32),
    TypeId.INT64: IntegerType(64),
    TypeId.UINT8: IntegerType(8, Signedness.UNSIGNED),
    TypeId.FLOAT16: f16,
    TypeId.FLOAT32: f32,
    TypeId.FLOAT64: f64,
}


def type_id_of(element_type: Attribute) -> TypeId | None:
    """The TypeId of an xDSL element type, or None when `.ms` has no code for it."""
    for code, candidate in ELEMENT_TYPES.items():
        if candidate == element_type:
            return code
    return None


def numpy_dtype_of(element_type: Attribute) -> np.dtype | None:
    """The numpy dtype that holds dense data of an xDSL element type (any integer width up to 64)."""
    code = type_id_of(element_type)
    if code is not None:
        return NUMPY_DTYPES[code]
    if isinstance(element_type, IntegerType):
        width, signed = element_type.width.data, element_type.signedness.data != Signedness.UNSIGNED
        for size in (1, 2, 4, 8):
            if width <= size * 8:
                return np.dtype(f"<{'i' if signed else 'u'}{size}")
    return None


ACTIVATION_TYPES: dict[str, int] = {
    "relu": ActivationType.RELU, "sigmoid": ActivationType.SIGMOID, "relu6": ActivationType.RELU6,
    "elu": ActivationType.ELU, "leaky_relu": ActivationType.LEAKY_RELU, "abs": ActivationType.ABS,
    "softplus": ActivationType.SOFTPLUS, "tanh": ActivationType.TANH, "hswish": ActivationType.HSWISH,
    "hsigmoid": ActivationType.HSIGMOID, "swish": ActivationType.SWISH, "gelu": ActivationType.GELU,
}
"""`lite.activation` types that are one `ActivationType` (hard_sigmoid and clip: see reader_ops/writer_ops)."""

REDUCE_MODES: dict[str, int] = {
    "mean": ReduceMode.ReduceMean, "max": ReduceMode.ReduceMax, "min": ReduceMode.ReduceMin,
    "prod": ReduceMode.ReduceProd, "sum": ReduceMode.ReduceSum,
}
"""`lite.reduce` modes and their `ReduceMode` codes."""
