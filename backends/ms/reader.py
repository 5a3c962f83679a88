"""Read a MindSpore Lite `.ms` model into our IR.

    module = read_ms("lenet.ms")

gives `func.func @main` whose arguments are the graph inputs (NHWC, as the file stores them), one or a
few `lite` ops per CNode (see `reader_ops.CONVERTERS`), weights as `arith.constant` (or the quantized chain
of `weights`), and `func.return` of the graph outputs. Names survive as discardable attributes so that a
written model keeps them: `ms.name` on ops (CNode name, or tensor name for constants), `ms.output_names`
where output tensors are not named after their node, `ms.name` in the argument attributes, and the
module's `ms.version` / `ms.fmk_type`.

Full-quantized models (see `full_quant`) read back as the integer IR `lower-to-int8` produces: a node whose
outputs are Int8 tensors with QuantParams is an integer node, its lite op produces `!quant.uniform` results
and reads its integer constants as `quant.scast` (not dequantized); QuantDTypeCast nodes become
`quant.qcast` / `quant.dcast`.

Every inconsistency in the file (indices, sizes, shapes, unsupported operators or encodings) is reported
as a `QuantOptError` naming the node or tensor.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from quantopt.backends.ms.codes import ELEMENT_TYPES, TypeId
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.backends.ms.full_quant import (
    QuantParamError,
    StoredConstant,
    activation_type,
    decode_stored,
    is_quantized_activation,
    is_stored_constant,
    stored_constant_ops,
)
from quantopt.backends.ms.graph import MsGraph, MsNode, MsTensor
from quantopt.backends.ms.weights import (
    FLOAT_TYPES,
    QuantizedWeight,
    WeightError,
    channel_axis,
    decode_constant,
    quantized_constant,
)
from quantopt.dialects.constant import constant_op
from quantopt.dialects.lite import shape_of
from quantopt.errors import QuantOptError
from quantopt.limits import LimitError, check_module

NAME = "ms.name"
OUTPUT_NAMES = "ms.output_names"
VERSION = "ms.version"
FMK_TYPE = "ms.fmk_type"


def default_output_names(node_name: str, count: int) -> list[str]:
    """How the writer names a node's output tensors unless told otherwise."""
    return [node_name] if count == 1 else [f"{node_name}:{k}" for k in range(count)]


def read_ms(path: str | os.PathLike) -> ModuleOp:
    """Import a `.ms` file; raises `QuantOptError` for anything it cannot represent faithfully."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as err:
        raise QuantOptError(path, f"cannot read file: {err.strerror}") from None
    return decode_ms(buf, path)


def decode_ms(buf: bytes, file: str = "<bytes>") -> ModuleOp:
    """Import `.ms` bytes (what `read_ms` does after reading the file); `file` names errors."""
    graph = load_graph(buf, file)
    module = _Importer(file, graph).run()
    try:
        module.verify()
        check_module(module)
    except VerifyException as err:
        raise QuantOptError(file, f"the model does not form a valid graph: {err}") from None
    except LimitError as err:
        raise QuantOptError(file, str(err)) from None
    return module


@dataclass
class NodeContext:
    """What a converter sees of one CNode: its attributes, inputs as IR values, and where to put ops."""

    importer: _Importer
    node: MsNode
    ops: list[Operation] = field(default_factory=list)

    @property
    def attrs(self) -> dict:
        return self.node.attrs

    @property
    def num_inputs(self) -> int:
        return len(self.node.inputs)

    @property
    def integer(self) -> bool:
        """Whether the node computes on quantized values (full quantization): its outputs are int8 tensors."""
        return any(is_quantized_activation(self.importer.tensor(t)) for t in self.node.outputs)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.inputs)

    def error(self, what: str) -> QuantOptError:
        return QuantOptError(self.importer.path, what, f"node '{self.node.name}' ({self.node.primitive})")

    def emit(self, op: Operation) -> Operation:
        op.verify()
        self.importer.block.add_op(op)
        self.ops.append(op)
        return op

    def input(self, i: int, *, perm: tuple[int, ...] | None = None) -> SSAValue:
        """Input i as an IR value; constants are materialised here, with their dimensions permuted by `perm`
        (a weight stored in another layout than the lite op wants)."""
        if not self.has_input(i):
            raise self.error(f"expects at least {i + 1} inputs, has {self.num_inputs}")
        return self.importer.value(self.node.inputs[i], self, i, perm)

    def input_format(self, i: int) -> int:
        """The `format` the file records for input i."""
        return self.importer.tensor(self.node.inputs[i]).format

    def const(self, i: int, what: str) -> np.ndarray:
        """Input i as numpy data; it must be a constant tensor (shapes, permutations, axes)."""
        if not self.has_input(i):
            raise self.error(f"has no {what} input")
        index = self.node.inputs[i]
        if not self.importer.is_constant(index):
            raise self.error(f"{what} must be a constant tensor, '{self.importer.tensor(index).name}' is computed")
        value = self.importer.decode(index, self, 0)
        return value.dequantize() if isinstance(value, QuantizedWeight) else value

    def output_dims(self, k: int = 0) -> list[int] | None:
        """Dims the file records for output k, when they are static."""
        dims = self.importer.tensor(self.node.outputs[k]).dims
        return list(dims) if dims and all(d >= 0 for d in dims) else None


class _Importer:
    def __init__(self, path: str, graph: MsGraph):
        self.path, self.graph = path, graph
        self.block = Block()
        self.values: dict[int, SSAValue] = {}
        self.constants: dict[tuple, SSAValue] = {}
        self.producers: dict[int, str] = {}

    def fail(self, what: str, where: str | None = None) -> QuantOptError:
        return QuantOptError(self.path, what, where)

    def tensor(self, index: int) -> MsTensor:
        return self.graph.tensors[index]

    def is_constant(self, index: int) -> bool:
        return index not in self.producers and index not in self.graph.inputs

    # ----- graph structure

    def nodes_in_order(self) -> list[MsNode]:
        """The nodes of the (single) subgraph in dependency order, original order among independent ones."""
        graph = self.graph
        if len(graph.subgraphs) > 1:
            raise self.fail(f"models with {len(graph.subgraphs)} subgraphs (control flow) are not supported")
        nodes = [graph.nodes[i] for i in graph.subgraphs[0].nodes] if graph.subgraphs else list(graph.nodes)
        for node in nodes:
            for t in node.outputs:
                if t in self.producers:
                    raise self.fail(f"tensor {t} is produced by both '{self.producers[t]}' and '{node.name}'")
                if t in graph.inputs:
                    raise self.fail(f"graph input tensor {t} is also produced by node '{node.name}'")
                self.producers[t] = node.name
        produced_by = {t: k for k, node in enumerate(nodes) for t in node.outputs}
        waiting = [sum(1 for t in set(node.inputs) if t in produced_by) for node in nodes]
        users: dict[int, list[int]] = {}
        for k, node in enumerate(nodes):
            for t in set(node.inputs):
                if t in produced_by:
                    users.setdefault(produced_by[t], []).append(k)
        ready = [k for k, n in enumerate(waiting) if n == 0]
        order: list[int] = []
        while ready:
            k = min(ready)
            ready.remove(k)
            order.append(k)
            for user in users.get(k, []):
                waiting[user] -= 1
                if waiting[user] == 0:
                    ready.append(user)
        if len(order) != len(nodes):
            stuck = next(nodes[k].name for k in range(len(nodes)) if k not in set(order))
            raise self.fail("the graph has a cycle", f"node '{stuck}'")
        return [nodes[k] for k in order]

    def argument_type(self, index: int) -> TensorType:
        t = self.tensor(index)
        where = f"graph input '{t.name}'"
        if not t.dims or any(d <= 0 for d in t.dims):
            raise self.fail(f"graph input needs a static shape, the file records {t.dims}", where)
        if t.data_type not in ELEMENT_TYPES:
            raise self.fail(f"unsupported input dataType {t.data_type}", where)
        return TensorType(ELEMENT_TYPES[TypeId(t.data_type)], t.dims)

    # ----- values

    def decode(self, index: int, ctx: NodeContext, position: int) -> np.ndarray | QuantizedWeight:
        t = self.tensor(index)
        axis = channel_axis(ctx.node.primitive, position, ctx.attrs, len(t.dims))
        try:
            return decode_constant(t, axis)
        except (WeightError, ValueError) as err:
            raise self.fail(f"constant tensor {err}", f"tensor {index} '{t.name}' of node '{ctx.node.name}'") from None

    def decode_stored(self, index: int, ctx: NodeContext, position: int,
                      perm: tuple[int, ...] | None) -> StoredConstant:
        t = self.tensor(index)
        try:
            stored = decode_stored(t, channel_axis(ctx.node.primitive, position, ctx.attrs, len(t.dims)))
        except QuantParamError as err:
            raise self.fail(f"constant tensor {err}", f"tensor {index} '{t.name}' of node '{ctx.node.name}'") from None
        return stored if perm is None else stored.permuted(perm)

    def value(self, index: int, ctx: NodeContext, position: int, perm: tuple[int, ...] | None) -> SSAValue:
        if index in self.values:
            if perm is not None and perm != tuple(range(len(perm))):
                raise ctx.error(f"input {position} must be a constant in this layout")
            return self.values[index]
        if not self.is_constant(index):
            raise ctx.error(f"input tensor {index} is used before it is computed")
        t = self.tensor(index)
        if not t.data:
            raise ctx.error(f"input tensor {index} '{t.name}' is neither computed nor constant data")
        per_channel = len(t.quant_params) > 1
        stored = ctx.integer and is_stored_constant(t)  # read as quantized values, not dequantized
        key = (index, channel_axis(ctx.node.primitive, position, ctx.attrs, len(t.dims)) if per_channel else -1, perm,
               stored)
        if key in self.constants:
            return self.constants[key]
        if perm is not None and len(perm) != len(t.dims):
            raise ctx.error(f"expects a {len(perm)}-D constant as input {position}, '{t.name}' has dims {t.dims}")
        if stored:
            ops = stored_constant_ops(self.decode_stored(index, ctx, position, perm))
        else:
            decoded = self.decode(index, ctx, position)
            if perm is not None:
                decoded = _permuted(decoded, perm)
            if isinstance(decoded, QuantizedWeight):
                ops = quantized_constant(decoded)
            else:
                if t.data_type in FLOAT_TYPES:  # the graph computes in f32
                    decoded = decoded.astype(np.float32)
                ops = [constant_op(decoded)]
        ops[0].attributes[NAME] = StringAttr(t.name)
        for op in ops:
            self.block.add_op(op)
        self.constants[key] = ops[-1].results[0]
        return ops[-1].results[0]

    # ----- conversion

    def convert(self, node: MsNode) -> None:
        from quantopt.backends.ms.reader_ops import CONVERTERS

        converter = CONVERTERS.get(node.primitive)
        if converter is None:
            raise self.fail(f"unsupported primitive '{node.primitive}'", f"node '{node.name}'")
        ctx = NodeContext(self, node)
        try:
            outputs = list(converter(ctx))
        except QuantOptError:
            raise
        except (VerifyException, ValueError, IndexError, KeyError, TypeError, ZeroDivisionError) as err:
            raise ctx.error(f"inconsistent node: {err}") from None  # e.g. shapes that do not fit the op
        if len(outputs) != len(node.outputs):
            raise ctx.error(f"has {len(node.outputs)} outputs, the conversion gives {len(outputs)}")
        for k, value in enumerate(outputs):
            dims = ctx.output_dims(k)
            if dims is not None and list(shape_of(value)) != dims:
                raise ctx.error(f"output {k} has shape {list(shape_of(value))}, the file records {dims}")
        if ctx.integer:
            outputs = self.quantized_outputs(ctx, outputs)
        self.name_outputs(ctx, outputs)
        for t, value in zip(node.outputs, outputs):
            self.values[t] = value

    def quantized_outputs(self, ctx: NodeContext, outputs: list[SSAValue]) -> list[SSAValue]:
        """An integer node's outputs with the `!quant.uniform` types of its output tensors: the converter's op
        (built with float results) is rebuilt with them, as `lower-to-int8` rebuilds it."""
        types = []
        for t, value in zip(ctx.node.outputs, outputs):
            tensor = self.tensor(t)
            try:
                types.append(TensorType(activation_type(tensor), shape_of(value)) if is_quantized_activation(tensor)
                             else value.type)
            except QuantParamError as err:
                raise ctx.error(f"output '{tensor.name}': {err}") from None
        if [v.type for v in outputs] == types:
            return outputs
        op = outputs[0].owner
        if len(ctx.ops) != 1 or len(op.results) != len(outputs) or any(r is not v for r, v in zip(op.results, outputs)):
            raise ctx.error("an int8 node must convert to a single lite op")
        typed = type(op).create(operands=list(op.operands), result_types=types, properties=dict(op.properties),
                                attributes=dict(op.attributes))
        try:
            typed.verify()
        except VerifyException as err:
            raise ctx.error(f"inconsistent int8 node: {err}") from None
        self.block.insert_op_before(typed, op)
        self.block.erase_op(op)
        ctx.ops[0] = typed
        return list(typed.results)

    def name_outputs(self, ctx: NodeContext, outputs: Sequence[SSAValue]) -> None:
        node = ctx.node
        names = [self.tensor(t).name for t in node.outputs]
        owners = {id(v.owner): v.owner for v in outputs}
        for owner in owners.values():
            if owner not in ctx.ops:
                raise ctx.error("a conversion must compute its outputs")  # converters always emit an op
            owner.attributes[NAME] = StringAttr(node.name)
            if len(owners) == 1 and names != default_output_names(node.name, len(names)):
                owner.attributes[OUTPUT_NAMES] = ArrayAttr([StringAttr(n) for n in names])

    def run(self) -> ModuleOp:
        graph = self.graph
        nodes = self.nodes_in_order()
        arg_types = [self.argument_type(t) for t in graph.inputs]
        for t, arg_type in zip(graph.inputs, arg_types):
            self.values[t] = self.block.insert_arg(arg_type, len(self.block.args))
        for node in nodes:
            self.convert(node)
        results = []
        for t in graph.outputs:
            if t not in self.values:
                if not self.is_constant(t):
                    raise self.fail(f"graph output tensor {t} is never computed")
                results.append(self.output_constant(t))
            else:
                results.append(self.values[t])
        self.block.add_op(func.ReturnOp(*results))
        arg_attrs = ArrayAttr([DictionaryAttr({NAME: StringAttr(self.tensor(t).name)}) for t in graph.inputs])
        main = func.FuncOp("main", (arg_types, [v.type for v in results]), Region(self.block), arg_attrs=arg_attrs)
        module = ModuleOp([main])
        module.attributes[VERSION] = StringAttr(graph.version)
        module.attributes[FMK_TYPE] = IntegerAttr(graph.fmk_type, i64)
        return module

    def output_constant(self, index: int) -> SSAValue:
        t = self.tensor(index)
        try:
            value = decode_constant(t, 0)
        except (WeightError, ValueError) as err:
            raise self.fail(f"constant tensor {err}", f"graph output '{t.name}'") from None
        if isinstance(value, QuantizedWeight):
            value = value.dequantize()
        op = constant_op(value.astype(np.float32) if t.data_type in FLOAT_TYPES else value)
        op.attributes[NAME] = StringAttr(t.name)
        self.block.add_op(op)
        return op.result


def _permuted(value: np.ndarray | QuantizedWeight, perm: tuple[int, ...]) -> np.ndarray | QuantizedWeight:
    if isinstance(value, QuantizedWeight):
        axis = value.axis if value.axis < 0 else perm.index(value.axis)
        values = np.ascontiguousarray(value.values.transpose(perm))
        return QuantizedWeight(values, value.bits, value.scales, value.zero_points, axis)
    return np.ascontiguousarray(value.transpose(perm))

