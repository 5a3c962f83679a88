"""MindIR protobuf values as Python values: tensors as numpy arrays, attributes as scalars, tuples, None.

MindSpore writes attribute values in two encodings. Files from 2.x set `type` and nest sequence elements
in `values` (an element's scalar is the first entry of its repeated field). Files from 1.x describe the
value in `ref_attr_name` instead: "scalar:value0" (one scalar in i/f/d/s), "scalar:Tuple[value1,value2,]"
(the elements, in order, in the first non-empty repeated field), "tensor:value0", "none", "Monad:UMonad",
"type:...", and "shape:..." for the output shapes of a node.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from quantopt.frontends.proto import mind_ir_pb2 as pb
from quantopt.limits import LimitError, check_tensor

Attribute = pb.AttributeProto
TensorProto = pb.TensorProto

TENSOR_DTYPES = {
    TensorProto.FLOAT: np.float32, TensorProto.FLOAT16: np.float16, TensorProto.DOUBLE: np.float64,
    TensorProto.FLOAT64: np.float64, TensorProto.INT8: np.int8, TensorProto.INT16: np.int16,
    TensorProto.INT32: np.int32, TensorProto.INT64: np.int64, TensorProto.UINT8: np.uint8,
    TensorProto.UINT16: np.uint16, TensorProto.UINT32: np.uint32, TensorProto.UINT64: np.uint64,
    TensorProto.BOOL: np.bool_,
}

_INTEGER_TYPES = {Attribute.INT8, Attribute.INT16, Attribute.INT32, Attribute.INT64, Attribute.UINT8,
                  Attribute.UINT16, Attribute.UINT32, Attribute.UINT64}
_FLOAT_FIELDS = {Attribute.FLOAT: ("f", "floats"), Attribute.DOUBLE: ("d", "doubles")}


class ConversionError(Exception):
    """Raised while decoding or converting; the import loop adds the file, op type and node name."""


class Monad:
    """MindSpore's side-effect token (UMonad / IOMonad): carries ordering, never data."""

    def __repr__(self) -> str:
        return "Monad"


MONAD = Monad()


@dataclass(frozen=True)
class DataType:
    """A type used as a value (the `dtype` argument of Cast and friends): a TensorProto.DataType code."""

    code: int


def tensor_to_numpy(proto: pb.TensorProto, model_dir: str | None) -> np.ndarray:
    """The data of a TensorProto, read-only and without copying inline raw_data."""
    dtype = TENSOR_DTYPES.get(proto.data_type)
    if dtype is None:
        raise ConversionError(f"tensor '{proto.name}' has unsupported data type {proto.data_type}")
    if proto.compression_type != TensorProto.NO_COMPRESSION:
        name = TensorProto.CompressionType.Name(proto.compression_type)
        raise ConversionError(f"tensor '{proto.name}' is compressed ({name}), which is not supported")
    shape = tuple(proto.dims)
    try:
        expected = check_tensor(shape, np.dtype(dtype).itemsize, f"tensor '{proto.name}'")
    except LimitError as e:
        raise ConversionError(str(e)) from e
    data = _external_data(proto, model_dir, expected) if proto.HasField("external_data") else proto.raw_data
    if len(data) != expected:
        raise ConversionError(f"tensor '{proto.name}' of shape {list(shape)} holds {len(data)} bytes, "
                              f"expected {expected}")
    return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def _external_data(proto: pb.TensorProto, model_dir: str | None, expected: int) -> bytes:
    """The `expected` bytes of a tensor kept in a file beside the model (a regular file inside the model's
    directory; its offset and length must lie within it)."""
    ext = proto.external_data
    where = f"external data '{ext.location}' of tensor '{proto.name}'"
    if model_dir is None:
        raise ConversionError(f"tensor '{proto.name}' keeps its data in the external file '{ext.location}', "
                              "which cannot be found without the model's path")
    root = os.path.realpath(model_dir)
    path = os.path.realpath(os.path.join(root, ext.location))
    if os.path.commonpath([root, path]) != root or not os.path.isfile(path):
        raise ConversionError(f"{where} is not a file in the model's directory")
    length = ext.length if ext.HasField("length") else expected
    if ext.offset < 0 or length != expected or ext.offset + length > os.path.getsize(path):
        raise ConversionError(f"{where}: {length} bytes at offset {ext.offset} do not hold the {expected} bytes "
                              f"of its shape, or lie outside the file")
    try:
        with open(path, "rb") as f:
            f.seek(ext.offset)
            return f.read(length)
    except OSError as e:
        raise ConversionError(f"cannot read external data of tensor '{proto.name}': {e}") from e


def attribute_value(attr: pb.AttributeProto, model_dir: str | None = None) -> Any:
    if attr.HasField("ref_attr_name"):
        return _legacy_value(attr, model_dir)
    return _typed_value(attr, model_dir)


def _typed_value(attr: pb.AttributeProto, model_dir: str | None) -> Any:
    kind = attr.type
    if kind in (Attribute.TUPLE, Attribute.LIST):
        return tuple(_typed_value(v, model_dir) for v in attr.values)
    if kind == Attribute.TENSORS:
        return _tensor_or_type(_first_tensor(attr), model_dir)
    if kind == Attribute.TENSOR:
        return _tensor_or_type(attr.t, model_dir)
    if kind == Attribute.NONE:
        return None
    if kind in (Attribute.UMONAD, Attribute.IOMONAD):
        return MONAD
    return _scalar(attr, 0)


def _first_tensor(attr: pb.AttributeProto) -> pb.TensorProto:
    if not attr.tensors:
        raise ConversionError(f"attribute '{attr.name}' holds no tensor")
    return attr.tensors[0]


def _tensor_or_type(proto: pb.TensorProto, model_dir: str | None) -> Any:
    """A tensor without data stands for its data type."""
    if proto.HasField("raw_data") or proto.HasField("external_data"):
        return tensor_to_numpy(proto, model_dir)
    return DataType(proto.data_type)


def _scalar_fields(attr: pb.AttributeProto) -> tuple[str, str]:
    """The single and the repeated field that hold a scalar of the attribute's type."""
    kind = attr.type
    if kind in _INTEGER_TYPES or kind == Attribute.BOOL:
        return "i", "ints"
    if kind in _FLOAT_FIELDS:
        return _FLOAT_FIELDS[kind]
    if kind == Attribute.STRING:
        return "s", "strings"
    raise ConversionError(f"attribute '{attr.name}' has unsupported type {Attribute.AttributeType.Name(kind)}")


def _scalar(attr: pb.AttributeProto, index: int, single_field: bool = False) -> Any:
    """Element `index` of a scalar attribute: from the repeated field if it has one, else the single field."""
    single, repeated = _scalar_fields(attr)
    values = getattr(attr, repeated)
    raw = values[index] if not single_field and len(values) > index else getattr(attr, single)
    if attr.type == Attribute.BOOL:
        return bool(raw)
    if attr.type == Attribute.STRING:
        return raw.decode()
    return float(raw) if attr.type in _FLOAT_FIELDS else int(raw)


def _legacy_value(attr: pb.AttributeProto, model_dir: str | None) -> Any:
    ref = attr.ref_attr_name
    if ref.startswith("scalar:"):
        if "value0" in ref:
            return _scalar(attr, 0, single_field=True)
        return _legacy_sequence(attr, ref[len("scalar:"):], model_dir)
    if ref.startswith("tensor:"):
        return tensor_to_numpy(_first_tensor(attr), model_dir)
    if ref.startswith("type:"):
        return DataType(_first_tensor(attr).data_type)
    if ref.startswith("none"):
        return None
    if ref.startswith("Monad"):
        return MONAD
    raise ConversionError(f"attribute '{attr.name}' has an unknown encoding '{ref}'")


def _legacy_sequence(attr: pb.AttributeProto, layout: str, model_dir: str | None) -> tuple:
    """Rebuild the nesting that `layout` ("Tuple[value1,List[value2,value3,],]") describes."""
    if attr.tensors:
        elements = [tensor_to_numpy(t, model_dir) for t in attr.tensors]
    else:
        count = next((len(f) for f in (attr.ints, attr.doubles, attr.floats, attr.strings) if len(f)), 0)
        elements = [_scalar(attr, i) for i in range(count)]
    stack: list[list] = [[]]
    for token in re.findall(r"\[|\]|value\d+", layout):
        if token == "[":
            stack.append([])
        elif token == "]":
            if len(stack) < 2:
                raise ConversionError(f"attribute '{attr.name}' has malformed layout '{layout}'")
            done = tuple(stack.pop())
            stack[-1].append(done)
        else:
            position = int(token[len("value"):]) - 1
            if not 0 <= position < len(elements):
                raise ConversionError(f"attribute '{attr.name}' refers to missing element {token}")
            stack[-1].append(elements[position])
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ConversionError(f"attribute '{attr.name}' has malformed layout '{layout}'")
    return stack[0][0]


def declared_shape(attr: pb.AttributeProto) -> tuple[int, ...] | None:
    """The output shape a node's shape attribute declares, when it declares exactly one tensor."""
    if attr.type == Attribute.TENSORS or attr.ref_attr_name.startswith("shape:"):
        if len(attr.tensors) == 1:
            return tuple(attr.tensors[0].dims)
    return None
