"""Mutations of the two FlatBuffers formats.

Both files are mostly weight bytes, so a random flip rarely touches the tables. `metadata_ranges` gives the
byte ranges outside constant data, where the byte mutators aim. `.ms` files are also mutated field by field:
decoded to an `MsGraph`, changed (dimensions, data types, data sizes, indices, attributes, quantization
parameters) and encoded again.
"""

from __future__ import annotations

import copy
import random
import struct

import tflite
from flatbuffers.table import Table

from quantopt.backends.ms.flatbuf import dump_graph, load_graph
from quantopt.backends.ms.graph import MsGraph, MsQuantParam
from quantopt.backends.ms.schema_generated import MetaGraph

from .mutate_onnx import EDGE_FLOATS

INT32_EDGES = (0, -1, 1, 2, 3, 65535, 65536, 1_000_000_000, 2**31 - 1, -(2**31))
UINT32_EDGES = (0, 1, 2, 100, 65536, 2**31 - 1, 2**32 - 1)


def _gaps(size: int, data_ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    gaps, at = [], 0
    for start, end in sorted(data_ranges):
        if start > at:
            gaps.append((at, start))
        at = max(at, end)
    if at < size:
        gaps.append((at, size))
    return gaps


def _vector_range(table, slot: int) -> tuple[int, int] | None:
    offset = table._tab.Offset(slot)
    if not offset:
        return None
    start = table._tab.Vector(offset)
    return start, start + table._tab.VectorLen(offset)


def tflite_metadata_ranges(data: bytes) -> list[tuple[int, int]]:
    model = tflite.Model.GetRootAsModel(data, 0)
    ranges = [_vector_range(model.Buffers(i), 4) for i in range(model.BuffersLength())]
    return _gaps(len(data), [r for r in ranges if r])


def ms_metadata_ranges(data: bytes) -> list[tuple[int, int]]:
    graph = MetaGraph.MetaGraph.GetRootAs(data, 0)
    ranges = [_vector_range(graph.AllTensors(i), 16) for i in range(graph.AllTensorsLength())]
    return _gaps(len(data), [r for r in ranges if r])


# -- TFLite fields ---------------------------------------------------------------------------------------

Field = tuple[int, int]  # (byte position, width)


def _scalar(tab: Table, slot: int, width: int) -> list[Field]:
    offset = tab.Offset(slot)
    return [(tab.Pos + offset, width)] if offset else []


def _vector(tab: Table, slot: int, width: int) -> list[Field]:
    offset = tab.Offset(slot)
    if not offset:
        return []
    start = tab.Vector(offset)
    return [(start + k * width, width) for k in range(min(tab.VectorLen(offset), 64))]


def _table(tab: Table, slot: int) -> Table | None:
    offset = tab.Offset(slot)
    return Table(tab.Bytes, tab.Indirect(tab.Pos + offset)) if offset else None


def _tables(tab: Table, slot: int) -> list[Table]:
    offset = tab.Offset(slot)
    if not offset:
        return []
    start = tab.Vector(offset)
    return [Table(tab.Bytes, tab.Indirect(start + 4 * k)) for k in range(tab.VectorLen(offset))]


def _all_fields(tab: Table) -> list[Field]:
    """Every field present in a table's vtable, its width guessed from the distance to the next one."""
    vtable = tab.Pos - struct.unpack_from("<i", tab.Bytes, tab.Pos)[0]
    vtable_size, table_size = struct.unpack_from("<HH", tab.Bytes, vtable)
    offsets = sorted({struct.unpack_from("<H", tab.Bytes, vtable + 4 + 2 * k)[0] for k in range((vtable_size - 4) // 2)}
                     - {0})
    ends = offsets[1:] + [table_size]
    return [(tab.Pos + o, min(4, end - o)) for o, end in zip(offsets, ends) if end > o]


def tflite_fields(data: bytes) -> list[Field]:
    """Scalars and integer vector elements of the first subgraph: shapes, types, buffer and tensor indices,
    operator codes and options, quantization and sparsity parameters."""
    model = tflite.Model.GetRootAsModel(data, 0)._tab
    fields: list[Field] = []
    for code in _tables(model, 6):
        fields += _scalar(code, 4, 1) + _scalar(code, 10, 4)
    for buffer in _tables(model, 12):
        fields += _scalar(buffer, 6, 8) + _scalar(buffer, 8, 8)
    for graph in _tables(model, 8)[:1]:
        fields += _vector(graph, 6, 4) + _vector(graph, 8, 4)
        for tensor in _tables(graph, 4):
            fields += _vector(tensor, 4, 4) + _scalar(tensor, 6, 1) + _scalar(tensor, 8, 4)
            quant = _table(tensor, 12)
            if quant is not None:
                fields += _vector(quant, 8, 4) + _vector(quant, 10, 8) + _scalar(quant, 16, 4)
            sparsity = _table(tensor, 16)
            if sparsity is not None:
                fields += _vector(sparsity, 4, 4) + _vector(sparsity, 6, 4)
                for dim in _tables(sparsity, 8):
                    fields += _all_fields(dim)
                    for slot in (10, 14):
                        values = _table(dim, slot)
                        fields += _vector(values, 4, 4) if values is not None else []
        for op in _tables(graph, 10):
            fields += _all_fields(op) + _vector(op, 6, 4) + _vector(op, 8, 4) + _vector(op, 14, 1)
            options = _table(op, 12)
            fields += _all_fields(options) if options is not None else []
    return fields


def set_field(rng: random.Random, data: bytes, fields: list[Field], count: int) -> bytes:
    """Overwrite one of the known fields with an edge value of its width."""
    out = bytearray(data)
    pos, width = rng.choice(fields)
    if width == 8:
        struct.pack_into("<q", out, pos, rng.choice((0, -1, 1, 2**31, 2**40, 2**63 - 1, len(data), len(data) - 8)))
    elif width == 4:
        value = rng.choice(INT32_EDGES + (count, count - 1, count + 1, rng.randrange(-8, 64)))
        struct.pack_into("<i", out, pos, value)
    elif width == 2:
        struct.pack_into("<h", out, pos, rng.choice((0, -1, 1, 32767, -32768)))
    else:
        out[pos] = rng.choice((0, 1, 2, 3, 9, 17, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return bytes(out)


# -- .ms graphs --------------------------------------------------------------------------------------------


def _dims(rng: random.Random, dims: list[int]) -> list[int]:
    dims = list(dims)
    if dims and rng.random() < 0.6:
        dims[rng.randrange(len(dims))] = rng.choice(INT32_EDGES)
    elif rng.random() < 0.5:
        dims += [rng.choice((1, 2, rng.choice(INT32_EDGES))) for _ in range(rng.randint(1, 10))]
    elif dims:
        del dims[rng.randrange(len(dims))]
    return dims


def _indices(rng: random.Random, indices: list[int], limit: int) -> list[int]:
    indices = list(indices)
    value = rng.choice(UINT32_EDGES + (limit, limit - 1, rng.randrange(max(limit, 1))))
    if indices and rng.random() < 0.7:
        indices[rng.randrange(len(indices))] = value
    elif rng.random() < 0.5:
        indices.append(value)
    elif indices:
        del indices[rng.randrange(len(indices))]
    return indices


def _tensor(rng: random.Random, graph: MsGraph) -> None:
    t = rng.choice(graph.tensors)
    action = rng.random()
    if action < 0.35:
        t.dims = _dims(rng, t.dims)
    elif action < 0.5:
        t.data_type = rng.choice((0, 1, 13, 20, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 42, 43, 45, 46, 100))
    elif action < 0.65:
        t.data = t.data[: rng.randrange(len(t.data) + 1)] if rng.random() < 0.6 else t.data + rng.randbytes(8)
    elif action < 0.85:
        q = MsQuantParam(scale=rng.choice(EDGE_FLOATS + (0.01,)), zero_point=rng.choice((0, -128, 127, 2**31 - 1)),
                         num_bits=rng.choice((0, 1, 4, 7, 8, 9, 16, 17, 64, -1)), inited=rng.random() < 0.8,
                         var_corr=rng.choice((1.0, 0.0, float("nan"))), mean_corr=rng.choice((0.0, 1e38)))
        t.quant_params = [q] * rng.choice((1, 1, 2, 6, 1000))
        if rng.random() < 0.3:
            t.quant_clusters = [rng.choice(EDGE_FLOATS) for _ in range(rng.choice((0, 1, 16, 256)))]
    else:
        t.weight_quant_compress_type = rng.choice((0, 1, 2, 3, 4, 5))
        t.enable_huffman_code = rng.random() < 0.3


def _node(rng: random.Random, graph: MsGraph) -> None:
    node = rng.choice(graph.nodes)
    action = rng.random()
    if action < 0.3:
        node.inputs = _indices(rng, node.inputs, len(graph.tensors))
    elif action < 0.45:
        node.outputs = _indices(rng, node.outputs, len(graph.tensors))
    elif action < 0.9 and node.attrs:
        name = rng.choice(sorted(node.attrs))
        value = node.attrs[name]
        if isinstance(value, list) and value and isinstance(value[0], list):
            node.attrs[name] = [[rng.choice(INT32_EDGES) for _ in row] for row in value]
        elif isinstance(value, list):
            node.attrs[name] = [rng.choice(INT32_EDGES) for _ in range(rng.choice((0, len(value), 9)))]
        elif isinstance(value, bool):
            node.attrs[name] = not value
        elif isinstance(value, int):
            node.attrs[name] = rng.choice(INT32_EDGES)
        elif isinstance(value, float):
            node.attrs[name] = rng.choice(EDGE_FLOATS)
    else:
        node.quant_type = rng.choice((0, 1, 2, 3, 4, 100))


def _graph(rng: random.Random, graph: MsGraph) -> None:
    action = rng.random()
    if action < 0.3:
        graph.inputs = _indices(rng, graph.inputs, len(graph.tensors))
    elif action < 0.6:
        graph.outputs = _indices(rng, graph.outputs, len(graph.tensors))
    elif action < 0.8 and graph.subgraphs:
        s = rng.choice(graph.subgraphs)
        s.nodes = _indices(rng, s.nodes, len(graph.nodes))
    elif graph.nodes:
        rng.shuffle(graph.nodes)


MS_MUTATIONS = (_tensor, _tensor, _tensor, _node, _node, _node, _graph)


class MsGraphMutator:
    """Decodes a seed once; every case mutates a deep copy."""

    def __init__(self, data: bytes):
        self.graph = load_graph(data, "seed")

    def mutate(self, rng: random.Random) -> bytes:
        graph = copy.deepcopy(self.graph)
        for _ in range(rng.choice((1, 1, 2, 3))):
            rng.choice(MS_MUTATIONS)(rng, graph)
        return dump_graph(graph)
