"""Reading a `.tflite` flatbuffer into plain, validated Python objects.

All flatbuffer access happens here, eagerly, so a corrupt file fails in one place with one message instead
of somewhere inside a converter. Builtin options are decoded into a namespace whose fields carry the
schema's snake_case names (`padding`, `stride_w`, `new_shape`, ...). Constant data stays a numpy view on
the file's bytes until a converter needs it.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import flatbuffers
import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

from quantopt.errors import QuantOptError

FILE_IDENTIFIER = b"TFL3"
CUSTOM_CODE = tflite.BuiltinOperator.CUSTOM

TENSOR_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
OPTIONS_NAMES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
NUMPY_TYPES = {
    "FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64, "INT8": np.int8, "UINT8": np.uint8,
    "INT16": np.int16, "UINT16": np.uint16, "INT32": np.int32, "UINT32": np.uint32, "INT64": np.int64,
    "UINT64": np.uint64, "BOOL": np.bool_,
}
SPARSE_INDEX_VECTORS = {1: tflite.Int32Vector, 2: tflite.Uint16Vector, 3: tflite.Uint8Vector}


class ConversionError(Exception):
    """Raised while converting one operator; the import loop adds the file, op and operator index."""


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a tensor: real = scale * (q - zero_point), per tensor or along `axis`."""

    scales: np.ndarray
    zero_points: np.ndarray
    axis: int

    @property
    def per_axis(self) -> bool:
        return len(self.scales) > 1


@dataclass(frozen=True)
class DimensionMetadata:
    dense: bool
    dense_size: int
    segments: np.ndarray | None
    indices: np.ndarray | None


@dataclass(frozen=True)
class Sparsity:
    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dims: tuple[DimensionMetadata, ...]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    type: str
    data: np.ndarray | None = None
    """Constant contents: shaped like the tensor, or the flat list of stored values of a sparse tensor."""
    quant: QuantParams | None = None
    sparsity: Sparsity | None = None

    @property
    def is_quantized(self) -> bool:
        return self.quant is not None and self.type in ("INT8", "UINT8", "INT16", "INT32")


@dataclass
class Operator:
    index: int
    name: str
    """Builtin operator name (`CONV_2D`) or the custom code of a CUSTOM op."""
    is_custom: bool
    inputs: tuple[int, ...]
    """Tensor indices; -1 marks an omitted optional input."""
    outputs: tuple[int, ...]
    options_kind: str | None = None
    options_fields: SimpleNamespace = field(default_factory=SimpleNamespace)
    custom_options: bytes = b""

    def options(self, kind: str) -> SimpleNamespace:
        """The decoded `kind` table (e.g. "Conv2DOptions"); schema defaults when the op carries none."""
        if self.options_kind == kind:
            return self.options_fields
        if self.options_kind is None:
            return default_options(kind)
        raise ConversionError(f"carries {self.options_kind}, expected {kind}")

    def input(self, i: int) -> int:
        """The tensor index of input `i`, or -1 when it is omitted or absent."""
        return self.inputs[i] if i < len(self.inputs) else -1


@dataclass
class Model:
    path: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


def read_model(data: bytes, path: str) -> Model:
    """Decode and validate the first subgraph of a TFLite flatbuffer."""
    if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise QuantOptError(path, "not a TFLite model", "missing file identifier 'TFL3'")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        return _read_model(model, data, path)
    except (IndexError, struct.error, ValueError, TypeError, UnicodeDecodeError, OverflowError, AttributeError) as e:
        raise QuantOptError(path, "corrupt TFLite model", f"{type(e).__name__}: {e}") from e


def _read_model(model: tflite.Model, data: bytes, path: str) -> Model:
    if model.SubgraphsLength() < 1:
        raise QuantOptError(path, "corrupt TFLite model", "no subgraph")
    buffers = [_buffer_bytes(model.Buffers(i), data, path, i) for i in range(model.BuffersLength())]
    codes = [_operator_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    graph = model.Subgraphs(0)
    tensors = [_read_tensor(graph.Tensors(i), i, buffers, path) for i in range(graph.TensorsLength())]
    operators = [_read_operator(graph.Operators(i), i, codes, len(tensors), path)
                 for i in range(graph.OperatorsLength())]
    inputs = _indices(graph.InputsAsNumpy(), len(tensors), path, "subgraph inputs")
    outputs = _indices(graph.OutputsAsNumpy(), len(tensors), path, "subgraph outputs")
    if -1 in inputs or -1 in outputs:
        raise QuantOptError(path, "corrupt TFLite model", "subgraph input or output index -1")
    return Model(path, tensors, operators, inputs, outputs)


def _buffer_bytes(buffer: tflite.Buffer | None, data: bytes, path: str, index: int) -> np.ndarray:
    if buffer is None:
        return np.zeros(0, np.uint8)
    offset, size = buffer.Offset(), buffer.Size()
    if offset > 1:  # models over 2 GB keep buffers after the flatbuffer
        if offset + size > len(data):
            raise QuantOptError(path, "corrupt TFLite model", f"buffer {index} lies outside the file")
        return np.frombuffer(data, np.uint8, count=size, offset=offset)
    contents = buffer.DataAsNumpy()
    return contents if isinstance(contents, np.ndarray) else np.zeros(0, np.uint8)


def _operator_name(code: tflite.OperatorCode) -> str:
    # Old files fill only the int8 `deprecated_builtin_code` and leave `builtin_code` at 0 (ADD).
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == CUSTOM_CODE:
        custom = code.CustomCode()
        return "CUSTOM:" + (custom.decode() if custom else "")
    return BUILTIN_OPCODE2NAME.get(builtin, f"builtin code {builtin}")


def _indices(values, count: int, path: str, where: str) -> list[int]:
    indices = [int(v) for v in values] if isinstance(values, np.ndarray) else []
    if any(not -1 <= i < count for i in indices):
        raise QuantOptError(path, "corrupt TFLite model", f"{where}: tensor index out of range in {indices}")
    return indices


def _read_tensor(t: tflite.Tensor, index: int, buffers: Sequence[np.ndarray], path: str) -> Tensor:
    raw_name = t.Name()
    name = raw_name.decode(errors="replace") if raw_name else f"tensor{index}"
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    type_name = TENSOR_TYPE_NAMES.get(t.Type(), f"type {t.Type()}")
    where = f"tensor {index} '{name}'"
    if any(d < 0 for d in shape):
        raise QuantOptError(path, "corrupt TFLite model", f"{where}: negative dimension in {list(shape)}")
    if not 0 <= t.Buffer() < max(len(buffers), 1):
        raise QuantOptError(path, "corrupt TFLite model", f"{where}: buffer index {t.Buffer()} out of range")
    tensor = Tensor(index, name, shape, type_name, quant=_read_quant(t.Quantization(), shape, path, where))
    if t.Sparsity() is not None:
        tensor.sparsity = _read_sparsity(t.Sparsity(), len(shape), path, where)
    raw = buffers[t.Buffer()] if buffers else np.zeros(0, np.uint8)
    if raw.size:
        tensor.data = _tensor_data(tensor, raw, path, where)
    return tensor


def _tensor_data(tensor: Tensor, raw: np.ndarray, path: str, where: str) -> np.ndarray:
    if tensor.type not in NUMPY_TYPES:
        raise QuantOptError(path, f"unsupported constant tensor type {tensor.type}", where)
    dtype = np.dtype(NUMPY_TYPES[tensor.type]).newbyteorder("<")
    if raw.size % dtype.itemsize:
        raise QuantOptError(path, "corrupt TFLite model", f"{where}: {raw.size} bytes of {tensor.type}")
    values = raw.view(dtype)
    if tensor.sparsity is not None:
        return values
    if values.size != math.prod(tensor.shape):
        raise QuantOptError(path, "corrupt TFLite model",
                            f"{where}: buffer holds {values.size} values for shape {list(tensor.shape)}")
    return values.reshape(tensor.shape)


def _read_quant(q: tflite.QuantizationParameters | None, shape: tuple[int, ...], path: str, where: str):
    if q is None or q.ScaleLength() == 0:
        return None
    scales = q.ScaleAsNumpy().astype(np.float64)
    zero_points = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(1, np.int64)
    zero_points = np.broadcast_to(zero_points.astype(np.int64), scales.shape) if zero_points.size == 1 \
        else zero_points.astype(np.int64)
    axis = q.QuantizedDimension()
    if zero_points.shape != scales.shape:
        raise QuantOptError(path, "corrupt TFLite model",
                            f"{where}: {scales.size} scales, {zero_points.size} zero points")
    if scales.size > 1 and not (0 <= axis < len(shape) and shape[axis] == scales.size):
        raise QuantOptError(path, "corrupt TFLite model",
                            f"{where}: {scales.size} scales along dimension {axis} of shape {list(shape)}")
    return QuantParams(scales, zero_points, axis if scales.size > 1 else -1)


def _read_sparsity(s: tflite.SparsityParameters, rank: int, path: str, where: str) -> Sparsity:
    order = tuple(int(v) for v in s.TraversalOrderAsNumpy()) if s.TraversalOrderLength() else ()
    block_map = tuple(int(v) for v in s.BlockMapAsNumpy()) if s.BlockMapLength() else ()
    dims = tuple(_read_dimension(s.DimMetadata(i)) for i in range(s.DimMetadataLength()))
    levels = rank + len(block_map)
    if sorted(order) != list(range(levels)) or len(dims) != levels or sorted(order[:rank]) != list(range(rank)) \
            or any(not 0 <= b < rank for b in block_map):
        raise QuantOptError(path, "corrupt TFLite model",
                            f"{where}: sparsity traversal order {list(order)}, block map {list(block_map)} and "
                            f"{len(dims)} dimension records do not fit rank {rank}")
    return Sparsity(order, block_map, dims)


def _read_dimension(d: tflite.DimensionMetadata) -> DimensionMetadata:
    if d.Format() == tflite.DimensionType.DENSE:
        return DimensionMetadata(True, d.DenseSize(), None, None)
    return DimensionMetadata(False, 0, _index_vector(d.ArraySegmentsType(), d.ArraySegments()),
                             _index_vector(d.ArrayIndicesType(), d.ArrayIndices()))


def _index_vector(kind: int, table) -> np.ndarray:
    if kind not in SPARSE_INDEX_VECTORS or table is None:
        raise ValueError(f"sparse index vector of unknown kind {kind}")
    vector = SPARSE_INDEX_VECTORS[kind]()
    vector.Init(table.Bytes, table.Pos)
    values = vector.ValuesAsNumpy()
    return values.astype(np.int64) if isinstance(values, np.ndarray) else np.zeros(0, np.int64)


def _read_operator(op: tflite.Operator, index: int, codes: Sequence[str], tensor_count: int, path: str) -> Operator:
    if not 0 <= op.OpcodeIndex() < len(codes):
        raise QuantOptError(path, "corrupt TFLite model",
                            f"operator {index}: opcode index {op.OpcodeIndex()} out of range")
    name = codes[op.OpcodeIndex()]
    where = f"operator {index} ({name})"
    inputs = _indices(op.InputsAsNumpy(), tensor_count, path, f"{where} inputs")
    outputs = _indices(op.OutputsAsNumpy(), tensor_count, path, f"{where} outputs")
    if not outputs or -1 in outputs:
        raise QuantOptError(path, "corrupt TFLite model", f"{where}: missing output tensor")
    is_custom = name.startswith("CUSTOM:")
    result = Operator(index, name.removeprefix("CUSTOM:"), is_custom, tuple(inputs), tuple(outputs))
    if is_custom:
        custom = op.CustomOptionsAsNumpy()
        result.custom_options = custom.tobytes() if isinstance(custom, np.ndarray) else b""
    elif op.BuiltinOptionsType() != 0:
        kind = OPTIONS_NAMES.get(op.BuiltinOptionsType())
        table = op.BuiltinOptions()
        if kind is None or table is None:
            raise ValueError(f"{where}: unknown builtin options type {op.BuiltinOptionsType()}")
        result.options_kind = kind
        result.options_fields = _decode_table(getattr(tflite, kind), table.Bytes, table.Pos)
    return result


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _decode_table(cls: type, buf, pos: int) -> SimpleNamespace:
    """Every scalar field of a generated options table, and every vector field as a numpy array."""
    table = cls()
    table.Init(buf, pos)
    fields = {}
    for attr, fn in vars(cls).items():
        if not callable(fn) or attr == "Init" or attr.endswith(("IsNone", "Length", "BufferHasIdentifier")) \
                or attr.startswith("GetRootAs") or fn.__code__.co_argcount != 1:
            continue
        value = getattr(table, attr)()
        if attr.endswith("AsNumpy"):  # absent vectors read as 0
            attr = attr.removesuffix("AsNumpy")
            value = value if isinstance(value, np.ndarray) else np.zeros(0, np.int32)
        fields[_snake_case(attr)] = value
    return SimpleNamespace(**fields)


def _empty_table() -> bytes:
    builder = flatbuffers.Builder(16)
    builder.StartObject(0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


_EMPTY_TABLE = _empty_table()


def default_options(kind: str) -> SimpleNamespace:
    """The schema defaults of an options table, read from a table with no fields set."""
    cls = getattr(tflite, kind)
    root = flatbuffers.encode.Get(flatbuffers.packer.uoffset, _EMPTY_TABLE, 0)
    return _decode_table(cls, _EMPTY_TABLE, root)
