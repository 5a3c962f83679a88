"""MindIR frontend: a MindSpore MindIR model (1.x and 2.x encodings) to `func.func @main` of `lite` ops.

Function arguments and results keep the model's shapes (NCHW); inside, 4-D activations are NHWC (see
`mindir_graph`). Parameters (weights) become `arith.constant`. Only the nodes that feed the graph outputs
are converted, following data edges only: the side-effect plumbing (UpdateState, the monad inputs of
Load and Depend) is never followed. Anything we cannot convert exactly is an error naming the op type
and the node.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from google.protobuf.message import DecodeError
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.frontend import Frontend

from quantopt.dialects.lite import tensor
from quantopt.errors import QuantOptError
from quantopt.frontends.mindir_graph import (
    REFERENCE_PREFIX,
    GraphBuilder,
    MindirNode,
    Tensor,
    TupleValue,
    primitive_table,
    wrap_node,
)
from quantopt.frontends.mindir_nn import NN_CONVERTERS
from quantopt.frontends.mindir_tensor import TENSOR_CONVERTERS
from quantopt.frontends.mindir_values import ConversionError, attribute_value, tensor_to_numpy
from quantopt.frontends.proto import mind_ir_pb2 as pb
from quantopt.frontends.protobuf_strings import undecodable_string
from quantopt.limits import ConstantBudget, LimitError, check_module, check_tensor

CONVERTERS = {**NN_CONVERTERS, **TENSOR_CONVERTERS}

# Inputs that carry data; the others are side-effect tokens (monads) or ordering edges.
DATA_INPUTS = {"Load": slice(0, 1), "Depend": slice(0, 1), "UpdateState": slice(0, 0)}
# Inputs a converter reads unconditionally (one for the ops not listed).
MIN_INPUTS = {"Conv2D": 2, "BatchNorm": 5, "MatMul": 2, "Dense": 2, "BiasAdd": 2, "TupleGetItem": 2, "Add": 2,
              "Sub": 2, "Mul": 2, "Div": 2, "RealDiv": 2, "MakeTuple": 0, "UpdateState": 0}


def import_mindir(path: str) -> ModuleOp:
    """Import a .mindir file as a verified module."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise QuantOptError(path, f"cannot read MindIR model: {e.strerror or e}") from e
    return import_mindir_bytes(data, path, os.path.dirname(path))


@dataclass(frozen=True)
class MindirFrontend(Frontend):
    """`quant-opt model.mindir`: the xDSL driver hands over the bytes."""

    name: ClassVar[str] = "mindir"

    def parse(self, ctx: Context, input: IO[bytes], input_name: str) -> ModuleOp:
        model_dir = os.path.dirname(input_name) if os.path.isfile(input_name) else None
        return import_mindir_bytes(input.read(), input_name, model_dir)


def import_mindir_bytes(data: bytes, name: str, model_dir: str | None = None) -> ModuleOp:
    """`model_dir` is where external weight files live (None: the model must hold all its weights)."""
    model = parse_model(data, name)
    graph = model.graph
    primitives = primitive_table(model)
    nodes = [wrap_node(proto, primitives, model_dir) for proto in graph.node]
    outputs = [o.name for o in graph.output]
    live = live_nodes(nodes, outputs)

    parameters = {p.name for p in graph.parameter}
    inputs = [i for i in graph.input if i.name not in parameters]
    block = Block(arg_types=[tensor(input_shape(i, name)) for i in inputs])
    consumers = Counter(n for node in live for n in node.inputs[data_slice(node)]) + Counter(outputs)
    b = GraphBuilder(name, block, consumers, model_dir)
    for info, arg in zip(inputs, block.args):
        b.bind(info.name, Tensor(arg))
    budget = ConstantBudget()
    for proto in graph.parameter:
        try:
            array = tensor_to_numpy(proto, model_dir)
            budget.take(array.nbytes, "parameter")
            b.bind_parameter(proto.name, array)
        except (ConversionError, LimitError) as e:
            raise QuantOptError(name, f"cannot read parameter: {e}", f"parameter '{proto.name}'") from e
    for node in live:
        convert_node(b, node)

    results = []
    for out in outputs:
        try:
            results += [b.plain(v) for v in flatten_output(b.get(out))]
        except ConversionError as e:
            raise QuantOptError(name, str(e), f"graph output '{out}'") from e
    block.add_op(func.ReturnOp(*results))
    function = func.FuncOp("main", (block.arg_types, [v.type for v in results]), Region(block))
    module = ModuleOp([function])
    module.verify()
    try:
        check_module(module)
    except LimitError as e:
        raise QuantOptError(name, str(e)) from e
    return module


def parse_model(data: bytes, name: str) -> pb.ModelProto:
    model = pb.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise QuantOptError(name, "not a MindIR model: the protobuf cannot be parsed (truncated or corrupt file?)",
                            str(e) or type(e).__name__) from e
    if not model.HasField("graph") or not model.graph.output:
        raise QuantOptError(name, "not a MindIR model: it has no graph with outputs")
    if model.HasField("little_endian") and not model.little_endian:
        raise QuantOptError(name, "big-endian MindIR models are not supported")
    field = undecodable_string(model)
    if field is not None:
        raise QuantOptError(name, "corrupt MindIR model: a string is not UTF-8 text", field)
    return model


def data_slice(node: MindirNode) -> slice:
    return DATA_INPUTS.get(node.op_type, slice(None))


def live_nodes(nodes: list[MindirNode], outputs: list[str]) -> list[MindirNode]:
    """The nodes whose data reaches the graph outputs, in graph order."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if any(out in needed for out in node.proto.output):
            live.append(node)
            needed.update(node.inputs[data_slice(node)])
    return live[::-1]


def convert_node(b: GraphBuilder, node: MindirNode) -> None:
    if node.op_type == "Constant":
        try:
            value = node_constant(node, b.model_dir)
        except ConversionError as e:
            raise QuantOptError(b.path, f"MindIR constant: {e}", f"node '{node.name}'") from e
        b.bind(node.output, value)
        return
    if node.op_type.startswith(REFERENCE_PREFIX):
        raise QuantOptError(b.path, f"'{node.op_type}' names no primitive of the model (calls of sub-graphs are "
                                    "not supported)", f"node '{node.name}'")
    if node.op_type not in CONVERTERS:
        raise QuantOptError(b.path, f"unsupported MindIR op '{node.op_type}'", f"node '{node.name}'")
    try:
        if len(node.inputs) < MIN_INPUTS.get(node.op_type, 1):
            raise ConversionError(f"expects at least {MIN_INPUTS.get(node.op_type, 1)} input(s), "
                                  f"got {len(node.inputs)}")
        value = CONVERTERS[node.op_type](b, node)
        check_declared_shape(node, value)
        b.bind(node.output, value)
    # Arguments and attributes are whatever Python values the file encodes (tuples, strings, None, types),
    # so int() or len() of the wrong kind (a TypeError) is bad input like a wrong value.
    except (ConversionError, VerifyException, ValueError, TypeError) as e:
        raise QuantOptError(b.path, f"MindIR op '{node.op_type}': {e}", f"node '{node.name}'") from e


def node_constant(node: MindirNode, model_dir: str | None) -> Any:
    """The value of a Constant node: its attribute `value` (or its only attribute)."""
    attrs = [a for a in node.proto.attribute if a.name == "value"] or list(node.proto.attribute)
    if len(attrs) != 1:
        raise ConversionError(f"expected one value attribute, got {len(attrs)}")
    return attribute_value(attrs[0], model_dir)


def check_declared_shape(node: MindirNode, value: Any) -> None:
    declared = node.declared_shape
    if isinstance(value, Tensor) and declared is not None and tuple(value.shape) != declared:
        raise ConversionError(f"computed shape {list(value.shape)} differs from the shape {list(declared)} "
                              "the file declares")


def flatten_output(value: Any) -> list[Any]:
    if isinstance(value, TupleValue):
        return [v for item in value.items for v in flatten_output(item)]
    return [value]


def input_shape(info: pb.ValueInfoProto, name: str) -> list[int]:
    if len(info.tensor) != 1 or info.tensor[0].data_type != pb.TensorProto.FLOAT:
        raise QuantOptError(name, "only float32 tensor inputs are supported", f"graph input '{info.name}'")
    shape = list(info.tensor[0].dims)
    if min(shape, default=1) < 1:
        raise QuantOptError(name, f"dynamic input shape {shape} is not supported", f"graph input '{info.name}'")
    try:
        check_tensor(shape, 4, "input")
    except LimitError as e:
        raise QuantOptError(name, str(e), f"graph input '{info.name}'") from e
    return shape
