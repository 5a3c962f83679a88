"""TFLite frontend: a `.tflite` flatbuffer (schema v3) to `func.func @main` of `lite` ops.

TFLite is NHWC like `lite`, so activations need no layout change and the function keeps the model's own
input and output shapes. Weights become `arith.constant`; fp16 weights behind DEQUANTIZE (MediaPipe) are
folded to f32 and sparse weights behind DENSIFY are densified at import.

Already-quantized (int8 / uint8 / int16) models import as float graphs in QDQ form (see `tflite_graph`):
quantized constants keep their integer data and scales (`arith.constant` -> `quant.scast` ->
`quant.dcast`), and every quantized activation is rounded onto its grid by `quant.qcast` + `quant.dcast`.
A quantized graph input or output stays an f32 function argument or result holding the *dequantized*
value, scale * (q - zero_point): the module runs on float data like every other import, and the grid of
the input is applied right after the argument.

Only the first subgraph is imported; operators that do not contribute to its outputs are skipped.
Anything we cannot convert exactly is an error naming the op and the operator index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, ClassVar

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.frontend import Frontend

from quantopt.dialects.lite import shape_of, tensor
from quantopt.errors import QuantOptError
from quantopt.frontends.tflite_elementwise import ELEMENTWISE_CONVERTERS
from quantopt.frontends.tflite_graph import Constant, GraphBuilder
from quantopt.frontends.tflite_model import ConversionError, Model, Operator, read_model
from quantopt.frontends.tflite_nn import NN_CONVERTERS, mediapipe_transpose_conv_bias
from quantopt.frontends.tflite_tensor import TENSOR_CONVERTERS
from quantopt.limits import LimitError, check_module

CONVERTERS = {**NN_CONVERTERS, **ELEMENTWISE_CONVERTERS, **TENSOR_CONVERTERS}
CUSTOM_CONVERTERS = {"Convolution2DTransposeBias": mediapipe_transpose_conv_bias}
FLOAT_INPUT_TYPES = ("FLOAT32", "FLOAT16", "FLOAT64")


def import_tflite(path: str) -> ModuleOp:
    """Import a `.tflite` file as a verified module."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise QuantOptError(path, f"cannot read file: {e.strerror}") from e
    return import_tflite_bytes(data, path)


@dataclass(frozen=True)
class TfliteFrontend(Frontend):
    """`quant-opt model.tflite`: the xDSL driver hands over the bytes."""

    name: ClassVar[str] = "tflite"

    def parse(self, ctx: Context, input: IO[bytes], input_name: str) -> ModuleOp:
        return import_tflite_bytes(input.read(), input_name)


def import_tflite_bytes(data: bytes, path: str) -> ModuleOp:
    model = read_model(data, path)
    block = Block(arg_types=[tensor(input_shape(model, i)) for i in model.inputs])
    g = GraphBuilder(model, block)
    for index, arg in zip(model.inputs, block.args):
        define_input(g, index, arg)
    for op in live_operators(model):
        convert_operator(g, op)
    results = [output_value(g, index) for index in model.outputs]
    block.add_op(func.ReturnOp(*results))
    function = func.FuncOp("main", (block.arg_types, [v.type for v in results]), Region(block))
    module = ModuleOp([function])
    try:
        module.verify()
        check_module(module)
    except VerifyException as e:
        raise QuantOptError(path, f"the imported module does not verify: {e}") from e
    except LimitError as e:
        raise QuantOptError(path, str(e)) from e
    return module


def input_shape(model: Model, index: int) -> tuple[int, ...]:
    t = model.tensors[index]
    if t.type not in FLOAT_INPUT_TYPES and not t.is_quantized:
        raise QuantOptError(model.path, f"unsupported input type {t.type} (only float and quantized inputs)",
                            f"graph input '{t.name}'")
    return t.shape


def define_input(g: GraphBuilder, index: int, arg: SSAValue) -> None:
    try:
        g.define(index, arg)
    except (ConversionError, VerifyException) as e:
        raise QuantOptError(g.path, str(e), f"graph input '{g.tensor(index).name}'") from e


def live_operators(model: Model) -> list[Operator]:
    """The operators that contribute to the subgraph outputs, in file (topological) order."""
    needed = set(model.outputs)
    live = []
    for op in reversed(model.operators):
        if any(out in needed for out in op.outputs):
            live.append(op)
            needed.update(i for i in op.inputs if i >= 0)
    return live[::-1]


def convert_operator(g: GraphBuilder, op: Operator) -> None:
    kind = f"custom op '{op.name}'" if op.is_custom else f"op '{op.name}'"
    where = f"operator {op.index}, output '{g.model.tensors[op.outputs[0]].name}'"
    converter = (CUSTOM_CONVERTERS if op.is_custom else CONVERTERS).get(op.name)
    if converter is None:
        raise QuantOptError(g.path, f"unsupported TFLite {kind}", where)
    try:
        results = converter(g, op)
        if len(results) != len(op.outputs):
            raise ConversionError(f"has {len(op.outputs)} outputs, expected {len(results)}")
        for index, result in zip(op.outputs, results):
            if isinstance(result, Constant):
                g.define_constant(index, result)
            else:
                check_shape(g, index, result)
                g.define(index, result)
    except (ConversionError, VerifyException, ValueError) as e:
        raise QuantOptError(g.path, f"TFLite {kind}: {e}", where) from e


def check_shape(g: GraphBuilder, index: int, value: SSAValue) -> None:
    declared, computed = g.tensor(index).shape, shape_of(value)
    if declared and declared != computed:  # old files leave unknown shapes empty
        raise ConversionError(f"computed shape {list(computed)} differs from the declared shape {list(declared)}")


def output_value(g: GraphBuilder, index: int) -> SSAValue:
    try:
        return g.value(index)
    except (ConversionError, VerifyException, ValueError) as e:
        raise QuantOptError(g.path, str(e), f"graph output '{g.tensor(index).name}'") from e
