"""ONNX frontend: an ONNX model (opset 7 and newer, static shapes) to `func.func @main` of `lite` ops.

Function arguments and results keep the ONNX shapes (NCHW); inside, 4-D activations are NHWC (see
`onnx_graph`). Weights and constants become `arith.constant`; nodes computable from constants are folded
with numpy. Anything we cannot convert exactly is an error naming the op type and node.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import IO, ClassVar

import onnx
from onnx import external_data_helper, numpy_helper
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.frontend import Frontend

from quantopt.dialects.lite import tensor
from quantopt.errors import QuantOptError
from quantopt.frontends.onnx_elementwise import ELEMENTWISE_CONVERTERS
from quantopt.frontends.onnx_fold import FOLDERS, can_fold
from quantopt.frontends.onnx_graph import ConversionError, GraphBuilder, OnnxNode
from quantopt.frontends.onnx_nn import NN_CONVERTERS
from quantopt.frontends.onnx_tensor import TENSOR_CONVERTERS
from quantopt.frontends.protobuf_strings import undecodable_string
from quantopt.limits import LimitError, check_module, check_tensor

MIN_OPSET = 7
ONNX_DOMAINS = ("", "ai.onnx")

CONVERTERS = {**ELEMENTWISE_CONVERTERS, **NN_CONVERTERS, **TENSOR_CONVERTERS}
ATTRIBUTE_TYPES = {code: name for name, code in onnx.AttributeProto.AttributeType.items()}
# One stored value per element (packed, complex and string types have their own layouts).
PLAIN_TENSOR_TYPES = {getattr(onnx.TensorProto, t) for t in ("FLOAT", "FLOAT16", "DOUBLE", "INT8", "UINT8", "INT16",
                                                              "UINT16", "INT32", "UINT32", "INT64", "UINT64", "BOOL")}


def import_onnx(model: str | onnx.ModelProto, batch_size: int = 1) -> ModuleOp:
    """Import an ONNX file (or an in-memory ModelProto) as a verified module."""
    if isinstance(model, onnx.ModelProto):
        return import_onnx_model(model, model.graph.name or "<onnx model>", batch_size)
    try:
        proto = onnx.load(model)
    except Exception as e:  # missing file, truncated or non-ONNX bytes, unreadable external data
        raise QuantOptError(model, f"cannot read ONNX model: {e}") from e
    return import_onnx_model(proto, model, batch_size)


@dataclass(frozen=True)
class OnnxFrontend(Frontend):
    """`quant-opt model.onnx`: the xDSL driver hands over the bytes; `onnx{batch_size=4}` sets the batch."""

    name: ClassVar[str] = "onnx"
    batch_size: int = 1

    def parse(self, ctx: Context, input: IO[bytes], input_name: str) -> ModuleOp:
        try:
            proto = onnx.load_model_from_string(input.read())
            if os.path.isfile(input_name):
                external_data_helper.load_external_data_for_model(proto, os.path.dirname(input_name))
        except Exception as e:
            raise QuantOptError(input_name, f"cannot read ONNX model: {e}") from e
        return import_onnx_model(proto, input_name, self.batch_size)


def import_onnx_model(model: onnx.ModelProto, name: str, batch_size: int = 1) -> ModuleOp:
    """Import `model`; `name` is the file (or model) name errors report. Initializers are constants even
    when also listed as graph inputs; nodes that feed no graph output are skipped."""
    field = undecodable_string(model)
    if field is not None:
        raise QuantOptError(name, "corrupt ONNX model: a string is not UTF-8 text", field)
    opset = onnx_opset(model, name)
    graph = model.graph
    nodes = [wrap_node(proto, index, opset, name) for index, proto in enumerate(graph.node)]
    initializers = {t.name: t for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]

    block = Block(arg_types=[tensor(input_shape(i, name, batch_size)) for i in inputs])
    b = GraphBuilder(name, block)
    for info, arg in zip(inputs, block.args):
        b.define(info.name, arg)
    for init in initializers.values():
        b.define_const(init.name, initializer_array(init, name))

    live = live_nodes(nodes, [o.name for o in graph.output])
    b.used = {n for node in live for n in node.inputs} | {o.name for o in graph.output}
    for node in live:
        convert_node(b, node)

    results = []
    for out in graph.output:
        try:
            results.append(b.plain(out.name))
        except ConversionError as e:
            raise QuantOptError(name, str(e), f"graph output '{out.name}'") from e
        check_output_shape(out, b.shape(out.name), name)
    block.add_op(func.ReturnOp(*results))
    function = func.FuncOp("main", (block.arg_types, [v.type for v in results]), Region(block))
    module = ModuleOp([function])
    module.verify()
    try:
        check_module(module)
    except LimitError as e:
        raise QuantOptError(name, str(e)) from e
    return module


def initializer_array(tensor: onnx.TensorProto, name: str):
    """The value of an initializer; its size is checked against its data before numpy builds it."""
    where = f"initializer '{tensor.name}'"
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
        nbytes = check_tensor(tensor.dims, dtype.itemsize)
        if tensor.data_type in PLAIN_TENSOR_TYPES:
            count = math.prod(tensor.dims)
            if tensor.HasField("raw_data") and len(tensor.raw_data) != nbytes:
                raise ValueError(f"holds {len(tensor.raw_data)} bytes, its shape {list(tensor.dims)} needs {nbytes}")
            values = len(getattr(tensor, onnx.helper.tensor_dtype_to_field(tensor.data_type)))
            if not tensor.HasField("raw_data") and values != count:
                raise ValueError(f"holds {values} values, its shape {list(tensor.dims)} needs {count}")
        return numpy_helper.to_array(tensor)
    except (KeyError, TypeError, ValueError) as e:  # unknown data type, or data that does not fit the dims
        raise QuantOptError(name, f"cannot read initializer: {e}", where) from e


def convert_node(b: GraphBuilder, node: OnnxNode) -> None:
    op_type = node.op_type
    if node.proto.domain not in ONNX_DOMAINS or (op_type not in CONVERTERS and op_type not in FOLDERS):
        raise QuantOptError(b.path, f"unsupported ONNX op '{op_type}'", f"node '{node.name}'")
    if not onnx.defs.has(op_type, node.opset):
        raise QuantOptError(b.path, f"ONNX op '{op_type}' does not exist in opset {node.opset}", f"node '{node.name}'")
    try:
        check_schema(node)
        if can_fold(b, node):
            for out, array in zip(node.outputs, FOLDERS[op_type](b, node)):
                b.define_const(out, array)
        elif op_type in CONVERTERS:
            CONVERTERS[op_type](b, node)
        else:
            raise ConversionError("is only supported on constant inputs")
    except (ConversionError, VerifyException, ValueError) as e:
        raise QuantOptError(b.path, f"ONNX op '{op_type}': {e}", f"node '{node.name}'") from e


def wrap_node(proto: onnx.NodeProto, index: int, opset: int, name: str) -> OnnxNode:
    try:
        return OnnxNode.wrap(proto, index, opset)
    except ValueError as e:  # an attribute of an unknown type
        raise QuantOptError(name, f"corrupt ONNX node: {e}", f"node {index} '{proto.name}'") from e


def check_schema(node: OnnxNode) -> None:
    """The numbers of inputs and outputs and the attributes (names, types, required ones) that the op's
    schema declares in the model's opset; converters rely on them."""
    schema = onnx.defs.get_schema(node.op_type, node.opset)
    for what, count, lo, hi in (("inputs", len(node.proto.input), schema.min_input, schema.max_input),
                                ("outputs", len(node.proto.output), schema.min_output, schema.max_output)):
        if not lo <= count <= hi:
            expected = lo if lo == hi else f"at least {lo}" if hi >= 2**31 - 1 else f"{lo} to {hi}"
            raise ConversionError(f"has {count} {what}, expected {expected}")
    for a in node.proto.attribute:
        declared = schema.attributes.get(a.name)
        if declared is None:  # e.g. Slice `starts` as an attribute in an opset that takes it as an input
            raise ConversionError(f"attribute '{a.name}' does not exist in opset {node.opset}")
        if a.type != declared.type.value:
            raise ConversionError(f"attribute '{a.name}' has type {ATTRIBUTE_TYPES.get(a.type, a.type)}, expected "
                                  f"{declared.type.name}")
    missing = [n for n, declared in schema.attributes.items() if declared.required and n not in node.attrs]
    if missing:
        raise ConversionError(f"missing required attribute '{missing[0]}'")


def onnx_opset(model: onnx.ModelProto, name: str) -> int:
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    opset = versions[0] if versions else 1
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise QuantOptError(name, f"unsupported ONNX opset {opset}",
                            f"expected {MIN_OPSET} to {onnx.defs.onnx_opset_version()}")
    return opset


def input_shape(info: onnx.ValueInfoProto, name: str, batch_size: int) -> list[int]:
    """The static shape of a graph input; a symbolic dimension 0 is the batch."""
    t = info.type.tensor_type
    if not info.type.HasField("tensor_type") or t.elem_type != onnx.TensorProto.FLOAT:
        raise QuantOptError(name, "only float32 tensor inputs are supported", f"graph input '{info.name}'")
    if not t.HasField("shape"):
        raise QuantOptError(name, "input has no shape", f"graph input '{info.name}'")
    shape = []
    for axis, dim in enumerate(t.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            shape.append(dim.dim_value)
        elif axis == 0:
            shape.append(batch_size)
        else:
            raise QuantOptError(name, f"dynamic dimension {axis} ('{dim.dim_param}') is not supported",
                                f"graph input '{info.name}'")
    try:
        check_tensor(shape, 4, "input")
    except LimitError as e:
        raise QuantOptError(name, str(e), f"graph input '{info.name}'") from e
    return shape


def check_output_shape(info: onnx.ValueInfoProto, shape: tuple[int, ...], name: str) -> None:
    declared = info.type.tensor_type.shape.dim if info.type.tensor_type.HasField("shape") else None
    if declared is None:
        return
    static = [d.dim_value if d.HasField("dim_value") else None for d in declared]
    if len(static) != len(shape) or any(d is not None and d != s for d, s in zip(static, shape)):
        raise QuantOptError(name, f"computed shape {list(shape)} differs from the declared shape "
                                  f"{[d if d is not None else '?' for d in static]}", f"graph output '{info.name}'")


def live_nodes(nodes: list[OnnxNode], outputs: list[str]) -> list[OnnxNode]:
    """The nodes that contribute to the graph outputs, in graph order."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if any(out in needed for out in node.outputs):
            live.append(node)
            needed.update(n for n in node.inputs if n)
    return live[::-1]
