"""Write our IR as a MindSpore Lite `.ms` model.

    write_ms(module, "model.ms", fmk_type=FmkType.ONNX)

`func.func @main` becomes one SubGraph: its arguments the graph inputs, one CNode per lite op (see
`writer_ops.EMITTERS`), constants const tensors (nodeType ValueNode), every other tensor nodeType CNode
as MindSpore Lite's exporter writes them. Weight-quantized constants (`quant.dcast(quant.scast(arith.constant
int))`, see `weights`) become int8/int16 tensors with QuantParams, bit-packed below 8 or between 8 and 16
bits, and their consumer is marked QUANT_WEIGHT. The integer graph `lower-to-int8` leaves (full quantization)
is written as MindSpore Lite's full quantizer writes it (see `full_quant`): `!quant.uniform` activations
become Int8 tensors with one QuantParam, `quant.scast` constants Int8/Int32 tensors with per-tensor or
per-channel QuantParams, `quant.qcast` / `quant.dcast` of activations QuantDTypeCast nodes, and every node
touching such a tensor is marked QUANT_ALL; graph inputs and outputs stay float. Names come from the `ms.*` attributes the reader sets
(see `reader`), otherwise `<Primitive>-<n>` as MindSpore Lite names nodes.

The output is a pure function of the module: the same module always gives the same bytes. The file is
written to a temporary file beside the target and renamed into place, so an error never leaves a
half-written model.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence

import numpy as np
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue

from quantopt.backends.ms.codes import FmkType, TypeId, type_id_of
from quantopt.backends.ms.flatbuf import dump_graph
from quantopt.backends.ms.full_quant import (
    QuantParamError,
    StoredConstant,
    activation_param,
    encode_stored,
    stored_constant_of,
)
from quantopt.backends.ms.graph import MsGraph, MsNode, MsSubGraph, MsTensor
from quantopt.backends.ms.reader import FMK_TYPE, NAME, OUTPUT_NAMES, VERSION, default_output_names
from quantopt.backends.ms.schema_generated.Format import Format
from quantopt.backends.ms.schema_generated.NodeType import NodeType
from quantopt.backends.ms.schema_generated.QuantType import QuantType
from quantopt.backends.ms.weights import (
    WeightError,
    channel_axis,
    constant_array,
    encode_quantized,
    quantized_weight_of,
)
from quantopt.backends.ms.writer_ops import EMITTERS, QUANT_CAST_EMITTERS, ConstInput, EmitError
from quantopt.dialects.quant import DequantizeCastOp, StorageCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError

DEFAULT_VERSION = "MindSpore Lite 1.3.0"
FILTER_INPUTS = {("Conv2DFusion", 1), ("Conv2dTransposeFusion", 1)}  # stored KHWC: [out, kh, kw, in / group]
SKIPPED_OPS = (arith.ConstantOp, StorageCastOp)  # become tensors where they are used


def write_ms(module: ModuleOp, path: str | os.PathLike, *, fmk_type: int | None = None,
             version: str | None = None) -> None:
    """Write `module` to `path`. `fmk_type` (a `FmkType`, the framework the model came from) and `version`
    default to the module's `ms.fmk_type` / `ms.version` attributes; the version then to MindSpore Lite 1.3.0,
    whose runtime semantics the writer follows."""
    path = os.fspath(path)
    data = encode_ms(module, fmk_type=fmk_type, version=version, file=path)
    _write_atomically(path, data)


def encode_ms(module: ModuleOp, *, fmk_type: int | None = None, version: str | None = None,
              file: str | None = None) -> bytes:
    """The `.ms` bytes of `module` (what `write_ms` writes); `file` only names errors."""
    return dump_graph(_Exporter(module, file).run(fmk_type, version))


def _write_atomically(path: str, data: bytes) -> None:
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)),
                             f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:  # the temporary file is created inside this try, so no interrupt can leave it behind
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    except OSError as err:
        raise QuantOptError(path, f"cannot write file: {err.strerror}") from None


def _main_function(module: ModuleOp, file: str | None) -> func.FuncOp:
    funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
    main = next((f for f in funcs if f.sym_name.data == "main"), funcs[0] if len(funcs) == 1 else None)
    if main is None:
        raise QuantOptError(file, "the module has no func.func @main to write")
    if len(main.body.blocks) != 1:
        raise QuantOptError(file, "func.func @main must have a single block")
    return main


class _Exporter:
    def __init__(self, module: ModuleOp, file: str | None):
        self.module, self.file = module, file
        self.tensors: list[MsTensor] = []
        self.nodes: list[MsNode] = []
        self.index: dict[SSAValue, int] = {}
        self.weight_axes: dict[int, int] = {}  # tensor -> channel axis its quantization assumes
        self.quantized: set[int] = set()  # weight-quantized constants
        self.integer: set[int] = set()  # quantized activations and stored constants (full quantization)

    def fail(self, what: str, where: str | None = None) -> QuantOptError:
        return QuantOptError(self.file, what, where)

    # ----- tensors

    def add_tensor(self, tensor: MsTensor, value: SSAValue | None = None) -> int:
        self.tensors.append(tensor)
        if value is not None:
            self.index[value] = len(self.tensors) - 1
        return len(self.tensors) - 1

    def value_tensor(self, value: SSAValue, name: str, where: str) -> MsTensor:
        """The tensor of a computed value (graph input or op result)."""
        t = value.type
        element = t.element_type if isinstance(t, TensorType) else None
        params = []
        if isinstance(element, UniformQuantizedType):
            try:
                params = [activation_param(element)]
            except QuantParamError as err:
                raise self.fail(str(err), where) from None
            code = TypeId.INT8
        else:
            code = type_id_of(element) if element is not None else None
        if code is None:
            raise self.fail(f"values of type {t} cannot be stored in .ms", where)
        return MsTensor(name=name, node_type=NodeType.CNode, data_type=code, dims=list(t.get_shape()),
                        format=Format.NHWC, quant_params=params)

    def add_value_tensor(self, value: SSAValue, name: str, where: str) -> int:
        index = self.add_tensor(self.value_tensor(value, name, where), value)
        if self.tensors[index].quant_params:
            self.integer.add(index)
        return index

    def input_tensor(self, value: SSAValue, node: MsNode, position: int) -> int:
        where = f"input {position} of node '{node.name}'"
        rank = len(value.type.get_shape()) if isinstance(value.type, TensorType) else 0
        axis = channel_axis(node.primitive, position, node.attrs, rank)
        if value in self.index:
            index = self.index[value]
            if index in self.weight_axes and self.weight_axes[index] not in (-1, axis):
                raise self.fail(f"per-channel weight is used along axis {axis} here but axis "
                                f"{self.weight_axes[index]} elsewhere", where)
            return index
        owner = value.owner
        fmt = Format.KHWC if (node.primitive, position) in FILTER_INPUTS else Format.NHWC
        default_name = f"{node.name}/input-{position}"
        try:
            if isinstance(owner, arith.ConstantOp):
                array = constant_array(owner)
                code = type_id_of(owner.result.type.element_type)
                if code is None:
                    raise WeightError(f"constants of type {owner.result.type} cannot be stored in .ms")
                tensor = MsTensor(name=_name_of(owner, default_name), node_type=NodeType.ValueNode, data_type=code,
                                  dims=list(array.shape), format=fmt, data=_little_endian(array))
                return self.add_tensor(tensor, value)
            stored = stored_constant_of(value)
            if stored is not None:
                return self.stored_tensor(stored, value, fmt, default_name, axis, where)
            found = quantized_weight_of(value)
        except (WeightError, QuantParamError) as err:
            raise self.fail(str(err), where) from None
        if found is not None:
            const, weight = found
            if weight.axis >= 0 and weight.axis != axis:
                raise self.fail(f"the weight is quantized per channel along axis {weight.axis}, MindSpore Lite "
                                f"dequantizes {node.primitive} input {position} along axis {axis}", where)
            data_type, data, params = encode_quantized(weight)
            tensor = MsTensor(name=_name_of(const, default_name), node_type=NodeType.ValueNode, data_type=data_type,
                              dims=list(weight.values.shape), format=fmt, data=data, quant_params=params)
            index = self.add_tensor(tensor, value)
            self.weight_axes[index] = weight.axis
            self.quantized.add(index)
            return index
        producer = owner.name if isinstance(owner, Operation) else "a block argument"
        raise self.fail(f"operand computed by {producer} cannot be written to .ms", where)

    def stored_tensor(self, found: tuple[arith.ConstantOp, StoredConstant], value: SSAValue, fmt: int,
                      default_name: str, axis: int, where: str) -> int:
        """The tensor of `quant.scast(arith.constant)`: integer data an integer node reads directly."""
        const, stored = found
        if stored.axis >= 0 and stored.axis != axis:
            raise self.fail(f"the constant is quantized per channel along axis {stored.axis}, MindSpore Lite "
                            f"reads it along axis {axis}", where)
        try:
            data_type, data, params = encode_stored(stored)
        except QuantParamError as err:
            raise self.fail(str(err), where) from None
        tensor = MsTensor(name=_name_of(const, default_name), node_type=NodeType.ValueNode, data_type=data_type,
                          dims=list(stored.values.shape), format=fmt, data=data, quant_params=params)
        index = self.add_tensor(tensor, value)
        self.weight_axes[index] = stored.axis
        self.integer.add(index)
        return index

    def const_input(self, const: ConstInput, node: MsNode) -> int:
        values = np.ascontiguousarray(const.values, dtype="<i4")
        return self.add_tensor(MsTensor(name=f"{node.name}/{const.role}", node_type=NodeType.ValueNode,
                                        data_type=TypeId.INT32, dims=list(values.shape), format=Format.NHWC,
                                        data=values.tobytes()))

    # ----- nodes

    def node_name(self, op: Operation, primitive: str) -> str:
        name = op.attributes.get(NAME)
        return name.data if isinstance(name, StringAttr) else f"{primitive}-{len(self.nodes) + 1}"

    def output_names(self, op: Operation, node_name: str) -> list[str]:
        names = op.attributes.get(OUTPUT_NAMES)
        if isinstance(names, ArrayAttr) and len(names.data) == len(op.results):
            return [n.data for n in names.data]
        return default_output_names(node_name, len(op.results))

    def add_node(self, op: Operation) -> None:
        emitter = EMITTERS.get(type(op)) or QUANT_CAST_EMITTERS.get(type(op))
        if emitter is None:
            raise self.fail(f"'{op.name}' has no MindSpore Lite equivalent")
        try:
            emitted = emitter(op)
        except EmitError as err:
            raise self.fail(str(err), f"op '{op.name}' ({self.node_name(op, op.name)})") from None
        node = MsNode(name=self.node_name(op, emitted.primitive), primitive=emitted.primitive,
                      attrs=emitted.attrs, inputs=[], outputs=[])
        for position, value in enumerate(emitted.inputs):
            node.inputs.append(self.const_input(value, node) if isinstance(value, ConstInput)
                               else self.input_tensor(value, node, position))
        for result, name in zip(op.results, self.output_names(op, node.name)):
            node.outputs.append(self.add_value_tensor(result, name, f"node '{node.name}'"))
        node.quant_type = _quant_type(node, self.integer, self.quantized)
        self.nodes.append(node)

    # ----- graph

    def graph_output(self, value: SSAValue, position: int) -> int:
        if _is_quantized(value):
            producer = value.owner.name if isinstance(value.owner, Operation) else "a block argument"
            raise self.fail(f"graph output {position} (from {producer}) is quantized; the outputs of a .ms model are "
                            f"float: dequantize it with quant.dcast before func.return")
        if value in self.index:
            return self.index[value]
        if isinstance(value.owner, arith.ConstantOp):
            holder = MsNode(name=f"graph_output-{position}", primitive="", attrs={}, inputs=[], outputs=[])
            return self.input_tensor(value, holder, 0)
        raise self.fail(f"graph output {position} is computed by '{value.owner.name}', which cannot be written")

    def run(self, fmk_type: int | None, version: str | None) -> MsGraph:
        main = _main_function(self.module, self.file)
        block = main.body.block
        arg_names = _argument_names(main)
        inputs = []
        for i, arg in enumerate(block.args):
            name = arg_names[i] or f"graph_input-{i}"
            if _is_quantized(arg):
                raise self.fail(f"graph input {i} is quantized; the inputs of a .ms model are float: quantize them "
                                f"with quant.qcast")
            inputs.append(self.add_value_tensor(arg, name, f"graph input {i}"))
        outputs: list[int] = []
        for op in block.ops:
            if isinstance(op, SKIPPED_OPS) or _is_weight_dequantization(op):
                continue
            if isinstance(op, func.ReturnOp):
                outputs = [self.graph_output(v, k) for k, v in enumerate(op.operands)]
                continue
            self.add_node(op)
        version = version or _string_attr(self.module, VERSION) or DEFAULT_VERSION
        if fmk_type is None:
            fmk = self.module.attributes.get(FMK_TYPE)
            if not isinstance(fmk, IntegerAttr):
                raise self.fail("the source framework is unknown: pass fmk_type (TF 0, CAFFE 1, ONNX 2, MINDIR 3, "
                                "TFLITE 4)")
            fmk_type = fmk.value.data
        if fmk_type not in set(FmkType):
            raise self.fail(f"unknown fmk_type {fmk_type} (TF 0, CAFFE 1, ONNX 2, MINDIR 3, TFLITE 4)")
        n = len(self.tensors)
        subgraph = MsSubGraph(name="main_graph", inputs=inputs, outputs=outputs,
                              nodes=list(range(len(self.nodes))), tensors=list(range(n)))
        return MsGraph(name="", version=version, fmk_type=int(fmk_type), inputs=inputs, outputs=outputs,
                       nodes=self.nodes, tensors=self.tensors, subgraphs=[subgraph])


def _is_quantized(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and isinstance(value.type.element_type, UniformQuantizedType)


def _is_weight_dequantization(op: Operation) -> bool:
    """A `quant.dcast` of a `quant.scast` constant: part of a weight-quantized tensor, not a node."""
    return isinstance(op, DequantizeCastOp) and isinstance(op.input.owner, StorageCastOp)


def _quant_type(node: MsNode, integer: set[int], weight_quantized: set[int]) -> int:
    if integer.intersection(node.inputs) or integer.intersection(node.outputs):
        return QuantType.QUANT_ALL
    return QuantType.QUANT_WEIGHT if weight_quantized.intersection(node.inputs) else QuantType.QUANT_NONE


def _name_of(op: Operation, default: str) -> str:
    name = op.attributes.get(NAME)
    return name.data if isinstance(name, StringAttr) else default


def _string_attr(op: Operation, key: str) -> str | None:
    value = op.attributes.get(key)
    return value.data if isinstance(value, StringAttr) else None


def _argument_names(main: func.FuncOp) -> Sequence[str | None]:
    attrs = main.arg_attrs.data if main.arg_attrs is not None else []
    names: list[str | None] = []
    for i in range(len(main.body.block.args)):
        name = attrs[i].data.get(NAME) if i < len(attrs) else None
        names.append(name.data if isinstance(name, StringAttr) else None)
    return names


def _little_endian(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()

