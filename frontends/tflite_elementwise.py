"""TFLite elementwise ops: broadcasting arithmetic with fused activations, activations, softmax."""

from __future__ import annotations

from functools import partial

import numpy as np
from xdsl.ir import SSAValue

from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.frontends.tflite_graph import Constant, GraphBuilder
from quantopt.frontends.tflite_model import ConversionError, Operator
from quantopt.frontends.tflite_nn import fused_activation, with_activation


def binary(kind: type[lite.AddOp], options_kind: str):
    def convert(g: GraphBuilder, op: Operator) -> list[SSAValue]:
        o = op.options(options_kind)
        lhs, rhs = g.value(op.input(0)), g.value(op.input(1))
        return [with_activation(g, fused_activation(o), partial(kind, lhs, rhs))]

    return convert


def unary(name: str):
    def convert(g: GraphBuilder, op: Operator) -> list[SSAValue]:
        return [g.emit_value(lite.ActivationOp(g.value(op.input(0)), name))]

    return convert


def clip(lo: float, hi: float):
    def convert(g: GraphBuilder, op: Operator) -> list[SSAValue]:
        return [g.emit_value(lite.ClipOp(g.value(op.input(0)), lo, hi))]

    return convert


def leaky_relu(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    alpha = op.options("LeakyReluOptions").alpha
    return [g.emit_value(lite.ActivationOp(g.value(op.input(0)), "leaky_relu", alpha))]


def prelu(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    return [g.emit_value(lite.PReluOp(g.value(op.input(0)), g.value(op.input(1))))]


def elu(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    return [g.emit_value(lite.ActivationOp(g.value(op.input(0)), "elu", 1.0))]


def softmax(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    """softmax(beta * x) over the last axis; beta != 1 becomes a multiplication in front."""
    beta = op.options("SoftmaxOptions").beta
    x = g.value(op.input(0))
    rank = len(g.shape(op.input(0)))
    if rank == 0:
        raise ConversionError("softmax of a scalar")
    if beta != 1.0:
        scale = g.emit_value(constant_op(np.full((1,), beta, np.float32)))
        x = g.emit_value(lite.MulOp(x, scale))
    return [g.emit_value(lite.SoftmaxOp(x, rank - 1))]


def quantize(g: GraphBuilder, op: Operator) -> list[SSAValue | Constant]:
    """float -> int8 (or int8 -> int8 requantization): the output's fake-quant pair does the work."""
    return [g.value(op.input(0))]


def dequantize(g: GraphBuilder, op: Operator) -> list[SSAValue | Constant]:
    """int8 / fp16 -> f32. Activations are already f32 values; constants stay constants (fp16 folded to
    f32, int8 kept quantized so the weight keeps its scales)."""
    source = op.input(0)
    if not g.is_constant(source):
        return [g.value(source)]
    constant = g.constant(source)
    if constant.quant is None:
        return [Constant(constant.array.astype(np.float32))]
    return [constant]


def densify(g: GraphBuilder, op: Operator) -> list[SSAValue | Constant]:
    return [g.constant(op.input(0))]


ELEMENTWISE_CONVERTERS = {
    "ADD": binary(lite.AddOp, "AddOptions"),
    "SUB": binary(lite.SubOp, "SubOptions"),
    "MUL": binary(lite.MulOp, "MulOptions"),
    "DIV": binary(lite.DivOp, "DivOptions"),
    "RELU": unary("relu"),
    "RELU6": unary("relu6"),
    "LOGISTIC": unary("sigmoid"),
    "TANH": unary("tanh"),
    "HARD_SWISH": unary("hswish"),
    "ABS": unary("abs"),
    "ELU": elu,
    "RELU_N1_TO_1": clip(-1.0, 1.0),
    "RELU_0_TO_1": clip(0.0, 1.0),
    "LEAKY_RELU": leaky_relu,
    "PRELU": prelu,
    "SOFTMAX": softmax,
    "QUANTIZE": quantize,
    "DEQUANTIZE": dequantize,
    "DENSIFY": densify,
}
