"""FlatBuffers encoding of an `MsGraph`, through the official runtime and the code flatc generated from our
schema (`schema/*.fbs` -> `schema_generated/`).

`load_graph` checks what FlatBuffers itself cannot: the file identifier, that every vector fits in the
buffer and that every index points at an existing tensor or node. Whatever goes wrong while decoding a
damaged buffer surfaces as a `QuantOptError`, never as an `IndexError` or `struct.error`.

Operator attributes are read and written generically from the generated modules: a table's fields are
the `Add<Field>` functions flatc emitted for it. Integer vectors in operator tables are `[long]` in the
schema (every one we use), so they are written as int64.
"""

from __future__ import annotations

import importlib
import keyword
import re
import struct
from collections.abc import Callable, Sequence
from functools import cache
from types import ModuleType
from typing import Any

import flatbuffers
import numpy as np

from quantopt.backends.ms import schema_generated as fb
from quantopt.backends.ms.graph import MsGraph, MsNode, MsQuantParam, MsSubGraph, MsTensor
from quantopt.backends.ms.schema_generated import (
    CNode,
    MetaGraph,
    Primitive,
    QuantParam,
    SubGraph,
    Tensor,
    Vec,
    Vec2D,
)
from quantopt.backends.ms.schema_generated.PrimitiveType import PrimitiveType
from quantopt.errors import QuantOptError

FILE_IDENTIFIER = b"MSL2"

PRIMITIVE_NAMES: dict[int, str] = {
    code: name for name, code in vars(PrimitiveType).items() if not name.startswith("_") and name != "NONE"
}
PRIMITIVE_CODES: dict[str, int] = {name: code for code, name in PRIMITIVE_NAMES.items()}


def primitive_name(code: int) -> str:
    """The union member name of a `PrimitiveType` index; unknown indices read `PrimitiveType#<n>`."""
    return PRIMITIVE_NAMES.get(code, f"PrimitiveType#{code}")


# ---------------------------------------------------------------------------------------------------------
# Generic access to operator tables.


@cache
def _table_module(name: str) -> ModuleType:
    return importlib.import_module(f"{fb.__name__}.{name}")


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel.rstrip("_")).lower()


def _camel(snake: str) -> str:
    camel = "".join(part[:1].upper() + part[1:] for part in snake.split("_"))
    return camel + "_" if keyword.iskeyword(snake) else camel


@cache
def _fields(table: str) -> tuple[str, ...]:
    """CamelCase names of a table's fields, as flatc spells its accessors."""
    prefix = f"{table}Add"  # flatc emits `<Table>Add<Field>` for every field (and an unprefixed alias)
    return tuple(sorted(n[len(prefix):] for n in dir(_table_module(table)) if n.startswith(prefix)))


class _Reader:
    """Decodes one buffer; every vector length is checked against the buffer size before use."""

    def __init__(self, buf: bytes, file: str):
        self.buf, self.file = buf, file

    def fail(self, what: str, where: str | None = None) -> QuantOptError:
        return QuantOptError(self.file, what, where)

    def length(self, table: Any, field: str, item_size: int, where: str) -> int:
        n = getattr(table, f"{field}Length")()
        if n * item_size > len(self.buf):
            raise self.fail(f"corrupt .ms file: vector {field} claims {n} elements", where)
        return n

    def numbers(self, table: Any, field: str, item_size: int, where: str) -> list:
        if getattr(table, f"{field}IsNone")():
            return []
        self.length(table, field, item_size, where)
        return getattr(table, f"{field}AsNumpy")().tolist()

    def tables(self, table: Any, field: str, where: str) -> list:
        get = getattr(table, field)
        return [get(j) for j in range(self.length(table, field, 4, where))]

    def string(self, value: bytes | None, where: str) -> str:
        if value is None:
            return ""
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as err:
            raise self.fail(f"corrupt .ms file: name is not UTF-8 ({err.reason})", where) from None

    def attributes(self, table_name: str, table: Any, where: str) -> dict[str, Any]:
        cls = getattr(_table_module(table_name), table_name)
        attrs: dict[str, Any] = {}
        for field in _fields(table_name):
            if hasattr(cls, f"{field}Length"):
                if getattr(table, f"{field}IsNone")():
                    value = None
                elif hasattr(cls, f"{field}AsNumpy"):
                    value = self.numbers(table, field, 1, where)
                else:
                    value = [self.string(s, where) for s in self.tables(table, field, where)]
            else:
                value = getattr(table, field)()
                if isinstance(value, Vec2D.Vec2D):
                    value = [self.numbers(v, "Data", 8, where) for v in self.tables(value, "Data", where)]
                elif isinstance(value, bytes):
                    value = self.string(value, where)
            attrs[_snake(field)] = value
        return attrs

    def quant_param(self, q: QuantParam.QuantParam) -> MsQuantParam:
        return MsQuantParam(
            scale=q.Scale(), zero_point=q.ZeroPoint(), min=q.Min(), max=q.Max(), narrow_range=q.NarrowRange(),
            num_bits=q.NumBits(), inited=q.Inited(), var_corr=q.VarCorr(), mean_corr=q.MeanCorr(),
            dst_dtype=q.DstDtype(), round_type=q.RoundType(), multiplier=q.Multiplier(),
        )

    def tensor(self, t: Tensor.Tensor, index: int) -> MsTensor:
        where = f"tensor {index}"
        data = b""
        if not t.DataIsNone() and self.length(t, "Data", 1, where):
            data = t.DataAsNumpy().tobytes()
        return MsTensor(
            name=self.string(t.Name(), where), node_type=t.NodeType(), data_type=t.DataType(),
            dims=self.numbers(t, "Dims", 4, where), format=t.Format(), data=data,
            quant_params=[self.quant_param(q) for q in self.tables(t, "QuantParams", where)],
            quant_clusters=self.numbers(t, "QuantClusters", 4, where),
            enable_huffman_code=t.EnableHuffmanCode(), weight_quant_compress_type=t.WeightQuantCompressType(),
            has_external_data=t.ExternalDataLength() > 0,
        )

    def node(self, n: CNode.CNode, index: int) -> MsNode:
        name = self.string(n.Name(), f"node {index}")
        where = f"node {index} '{name}'"
        primitive = n.Primitive()
        code = primitive.ValueType() if primitive is not None else 0
        value = primitive.Value() if primitive is not None else None
        if code == 0 or value is None:
            raise self.fail("node has no primitive", where)
        kind = primitive_name(code)
        attrs: dict[str, Any] = {}
        if code in PRIMITIVE_NAMES:
            table = getattr(_table_module(kind), kind)()
            table.Init(value.Bytes, value.Pos)
            attrs = self.attributes(kind, table, where)
        return MsNode(
            name=name, primitive=kind, attrs=attrs, inputs=self.numbers(n, "InputIndex", 4, where),
            outputs=self.numbers(n, "OutputIndex", 4, where), quant_type=n.QuantType(), device_type=n.DeviceType(),
        )

    def subgraph(self, s: SubGraph.SubGraph, index: int) -> MsSubGraph:
        where = f"subgraph {index}"
        return MsSubGraph(
            name=self.string(s.Name(), where), inputs=self.numbers(s, "InputIndices", 4, where),
            outputs=self.numbers(s, "OutputIndices", 4, where), nodes=self.numbers(s, "NodeIndices", 4, where),
            tensors=self.numbers(s, "TensorIndices", 4, where),
        )

    def graph(self) -> MsGraph:
        if len(self.buf) < 8:
            raise self.fail("not a MindSpore Lite model: file is too short")
        if not MetaGraph.MetaGraph.MetaGraphBufferHasIdentifier(self.buf, 0):
            found = self.buf[4:8]
            hint = " (written by MindSpore Lite < 1.2, not supported)" if found == b"MSL1" else ""
            raise self.fail(f"not a MindSpore Lite model: file identifier {found!r}, expected b'MSL2'{hint}")
        g = MetaGraph.MetaGraph.GetRootAs(self.buf, 0)
        return MsGraph(
            name=self.string(g.Name(), "graph"), version=self.string(g.Version(), "graph"), fmk_type=g.FmkType(),
            inputs=self.numbers(g, "InputIndex", 4, "graph"), outputs=self.numbers(g, "OutputIndex", 4, "graph"),
            nodes=[self.node(n, i) for i, n in enumerate(self.tables(g, "Nodes", "graph"))],
            tensors=[self.tensor(t, i) for i, t in enumerate(self.tables(g, "AllTensors", "graph"))],
            subgraphs=[self.subgraph(s, i) for i, s in enumerate(self.tables(g, "SubGraph", "graph"))],
        )


def _check_indices(graph: MsGraph, file: str) -> None:
    n_tensors, n_nodes = len(graph.tensors), len(graph.nodes)

    def check(indices: Sequence[int], limit: int, what: str, where: str) -> None:
        bad = [i for i in indices if not 0 <= i < limit]
        if bad:
            raise QuantOptError(file, f"{what} index {bad[0]} out of range (the file has {limit})", where)

    check(graph.inputs, n_tensors, "tensor", "graph inputs")
    check(graph.outputs, n_tensors, "tensor", "graph outputs")
    for node in graph.nodes:
        where = f"node '{node.name}'"
        check(node.inputs, n_tensors, "tensor", where)
        check(node.outputs, n_tensors, "tensor", where)
    for s in graph.subgraphs:
        where = f"subgraph '{s.name}'"
        for part in (s.inputs, s.outputs, s.tensors):
            check(part, n_tensors, "tensor", where)
        check(s.nodes, n_nodes, "node", where)


def load_graph(buf: bytes, file: str) -> MsGraph:
    """Decode and sanity-check a `.ms` buffer; `file` names it in error messages."""
    try:
        graph = _Reader(buf, file).graph()
    except QuantOptError:
        raise
    except (IndexError, struct.error, ValueError, TypeError, OverflowError, MemoryError) as err:
        raise QuantOptError(file, f"corrupt .ms file: {type(err).__name__}: {err}") from None
    _check_indices(graph, file)
    return graph


# ---------------------------------------------------------------------------------------------------------
# Encoding.


def _offsets(b: flatbuffers.Builder, start: Callable, offsets: Sequence[int]) -> int:
    start(b, len(offsets))
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _numbers(b: flatbuffers.Builder, values: Sequence | np.ndarray, dtype: str) -> int:
    return b.CreateNumpyVector(np.ascontiguousarray(np.asarray(values, dtype=dtype)))


def _attribute_value(b: flatbuffers.Builder, value: Any) -> Any:
    """Pre-build the out-of-line part of an attribute: strings, vectors, Vec2D tables."""
    if isinstance(value, str):
        return b.CreateString(value)
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            rows = []
            for row in value:
                data = _numbers(b, row, "<i8")
                Vec.Start(b)
                Vec.AddData(b, data)
                rows.append(Vec.End(b))
            data = _offsets(b, Vec2D.StartDataVector, rows)
            Vec2D.Start(b)
            Vec2D.AddData(b, data)
            return Vec2D.End(b)
        is_float = any(isinstance(v, float) for v in value)
        return _numbers(b, value, "<f4" if is_float else "<i8")
    return value


def _primitive_table(b: flatbuffers.Builder, kind: str, attrs: dict[str, Any]) -> int:
    module = _table_module(kind)
    values = {name: _attribute_value(b, v) for name, v in attrs.items() if v is not None}
    module.Start(b)
    for name, value in values.items():
        add = getattr(module, f"Add{_camel(name)}", None)
        if add is None:
            raise ValueError(f"{kind} has no attribute '{name}'")
        add(b, value)
    return module.End(b)


def _quant_param(b: flatbuffers.Builder, q: MsQuantParam) -> int:
    QuantParam.Start(b)
    QuantParam.AddScale(b, q.scale)
    QuantParam.AddZeroPoint(b, q.zero_point)
    QuantParam.AddMin(b, q.min)
    QuantParam.AddMax(b, q.max)
    QuantParam.AddNarrowRange(b, q.narrow_range)
    QuantParam.AddNumBits(b, q.num_bits)
    QuantParam.AddInited(b, q.inited)
    QuantParam.AddVarCorr(b, q.var_corr)
    QuantParam.AddMeanCorr(b, q.mean_corr)
    QuantParam.AddDstDtype(b, q.dst_dtype)
    QuantParam.AddRoundType(b, q.round_type)
    QuantParam.AddMultiplier(b, q.multiplier)
    return QuantParam.End(b)


def _tensor(b: flatbuffers.Builder, t: MsTensor, shared_params: dict[MsQuantParam, int]) -> int:
    if t.has_external_data:
        raise ValueError(f"tensor '{t.name}': external data cannot be written")
    name = b.CreateString(t.name)
    dims = _numbers(b, t.dims, "<i4")
    data = b.CreateNumpyVector(np.frombuffer(t.data, dtype=np.uint8)) if t.data else None
    # Equal QuantParams (channels with the same scale and zero point, here or in another tensor) share one
    # table: a vector of tables may hold the same offset twice, and per-channel parameters are a large part
    # of a weight-quantized file.
    for q in t.quant_params:
        if q not in shared_params:
            shared_params[q] = _quant_param(b, q)
    params = [shared_params[q] for q in t.quant_params]
    quant_params = _offsets(b, Tensor.StartQuantParamsVector, params) if params else None
    clusters = _numbers(b, t.quant_clusters, "<f4") if t.quant_clusters else None
    Tensor.Start(b)
    Tensor.AddNodeType(b, t.node_type)
    Tensor.AddDataType(b, t.data_type)
    Tensor.AddDims(b, dims)
    Tensor.AddFormat(b, t.format)
    if data is not None:
        Tensor.AddData(b, data)
    if quant_params is not None:
        Tensor.AddQuantParams(b, quant_params)
    if clusters is not None:
        Tensor.AddQuantClusters(b, clusters)
    Tensor.AddName(b, name)
    Tensor.AddEnableHuffmanCode(b, t.enable_huffman_code)
    Tensor.AddWeightQuantCompressType(b, t.weight_quant_compress_type)
    return Tensor.End(b)


def _node(b: flatbuffers.Builder, n: MsNode) -> int:
    name = b.CreateString(n.name)
    value = _primitive_table(b, n.primitive, n.attrs)
    Primitive.Start(b)
    Primitive.AddValueType(b, PRIMITIVE_CODES[n.primitive])
    Primitive.AddValue(b, value)
    primitive = Primitive.End(b)
    inputs = _numbers(b, n.inputs, "<u4")
    outputs = _numbers(b, n.outputs, "<u4")
    CNode.Start(b)
    CNode.AddName(b, name)
    CNode.AddPrimitive(b, primitive)
    CNode.AddInputIndex(b, inputs)
    CNode.AddOutputIndex(b, outputs)
    CNode.AddQuantType(b, n.quant_type)
    CNode.AddDeviceType(b, n.device_type)
    return CNode.End(b)


def _subgraph(b: flatbuffers.Builder, s: MsSubGraph) -> int:
    name = b.CreateString(s.name)
    parts = [_numbers(b, p, "<u4") for p in (s.inputs, s.outputs, s.nodes, s.tensors)]
    SubGraph.Start(b)
    SubGraph.AddName(b, name)
    SubGraph.AddInputIndices(b, parts[0])
    SubGraph.AddOutputIndices(b, parts[1])
    SubGraph.AddNodeIndices(b, parts[2])
    SubGraph.AddTensorIndices(b, parts[3])
    return SubGraph.End(b)


def dump_graph(graph: MsGraph) -> bytes:
    """Encode an `MsGraph` as a `.ms` buffer; the same graph always gives the same bytes."""
    b = flatbuffers.Builder(1024 + sum(len(t.data) for t in graph.tensors))
    shared_params: dict[MsQuantParam, int] = {}
    tensors = _offsets(b, MetaGraph.StartAllTensorsVector, [_tensor(b, t, shared_params) for t in graph.tensors])
    nodes = _offsets(b, MetaGraph.StartNodesVector, [_node(b, n) for n in graph.nodes])
    subgraphs = _offsets(b, MetaGraph.StartSubGraphVector, [_subgraph(b, s) for s in graph.subgraphs])
    name = b.CreateString(graph.name) if graph.name else None
    version = b.CreateString(graph.version)
    inputs = _numbers(b, graph.inputs, "<u4")
    outputs = _numbers(b, graph.outputs, "<u4")
    MetaGraph.Start(b)
    if name is not None:
        MetaGraph.AddName(b, name)
    MetaGraph.AddVersion(b, version)
    MetaGraph.AddFmkType(b, graph.fmk_type)
    MetaGraph.AddInputIndex(b, inputs)
    MetaGraph.AddOutputIndex(b, outputs)
    MetaGraph.AddNodes(b, nodes)
    MetaGraph.AddAllTensors(b, tensors)
    MetaGraph.AddSubGraph(b, subgraphs)
    b.Finish(MetaGraph.End(b), file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())
