"""Elementwise ONNX ops: activations keep their operand's layout; binary ops bring operands to one layout."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.ir import SSAValue

from quantopt.dialects import lite
from quantopt.frontends.onnx_graph import ConversionError, GraphBuilder, OnnxNode

FLOAT32_MAX = float(np.finfo(np.float32).max)


def operands(b: GraphBuilder, names: Sequence[str], out_rank: int) -> tuple[list[SSAValue], bool]:
    """The operands in a common layout: channels-last when the result is 4-D and one operand is held so."""
    channels_last = out_rank == 4 and any(b.is_channels_last(n) for n in names)
    return [b.nhwc_broadcast(n) if channels_last else b.plain(n) for n in names], channels_last


def broadcast_rank(b: GraphBuilder, names: Sequence[str]) -> int:
    return len(np.broadcast_shapes(*(b.shape(n) for n in names)))


def binary(op_class: type[lite._BinaryOp]):
    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        names = node.inputs[:2]
        (lhs, rhs), channels_last = operands(b, names, broadcast_rank(b, names))
        b.define(node.outputs[0], b.emit(op_class(lhs, rhs)).output, channels_last)

    return convert


def convert_sum(b: GraphBuilder, node: OnnxNode) -> None:
    if len(node.inputs) == 1:
        return b.alias(node.outputs[0], node.input(0))
    values, channels_last = operands(b, node.inputs, broadcast_rank(b, node.inputs))
    total = values[0]
    for value in values[1:]:
        total = b.emit(lite.AddOp(total, value)).output
    b.define(node.outputs[0], total, channels_last)


def convert_prelu(b: GraphBuilder, node: OnnxNode) -> None:
    x, slope = node.input(0), node.input(1)
    (x_value, slope_value), channels_last = operands(b, [x, slope], len(b.shape(x)))
    b.define(node.outputs[0], b.emit(lite.PReluOp(x_value, slope_value)).output, channels_last)


def unary(b: GraphBuilder, node: OnnxNode, make) -> None:
    """Apply `make(value)` to the input as held; the result keeps the input's layout."""
    t = b.tensor(node.input(0))
    b.define(node.outputs[0], b.emit(make(t.value)).results[0], t.channels_last)


def activation(kind: str, alpha: tuple[str, float] | None = None, beta: tuple[str, float] | None = None):
    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        a = node.attr(alpha[0], alpha[1]) if alpha else 0.0
        c = node.attr(beta[0], beta[1]) if beta else 0.0
        unary(b, node, lambda v: lite.ActivationOp(v, kind, a, c))

    return convert


def clip_bounds(b: GraphBuilder, node: OnnxNode) -> tuple[float | None, float | None]:
    """(min, max) of a Clip, None where unbounded; from attributes before opset 11, constant inputs after."""
    if node.opset < 11:
        return node.attr("min"), node.attr("max")
    bounds = []
    for index, what in ((1, "min"), (2, "max")):
        name = node.input(index)
        bounds.append(float(b.scalar(name, f"Clip {what}")) if name else None)
    return bounds[0], bounds[1]


def convert_clip(b: GraphBuilder, node: OnnxNode) -> None:
    lo, hi = clip_bounds(b, node)
    lo = None if lo is not None and lo <= -FLOAT32_MAX else lo
    hi = None if hi is not None and hi >= FLOAT32_MAX else hi
    if lo == 0 and hi == 6:
        return unary(b, node, lambda v: lite.ActivationOp(v, "relu6"))
    if lo == 0 and hi is None:
        return unary(b, node, lambda v: lite.ActivationOp(v, "relu"))
    if lo is not None and hi is not None and lo > hi:
        raise ConversionError(f"min {lo} exceeds max {hi}")
    lo = -FLOAT32_MAX if lo is None else lo
    hi = FLOAT32_MAX if hi is None else hi
    unary(b, node, lambda v: lite.ClipOp(v, lo, hi))


ELEMENTWISE_CONVERTERS = {
    "Add": binary(lite.AddOp),
    "Sub": binary(lite.SubOp),
    "Mul": binary(lite.MulOp),
    "Div": binary(lite.DivOp),
    "Sum": convert_sum,
    "PRelu": convert_prelu,
    "Relu": activation("relu"),
    "Sigmoid": activation("sigmoid"),
    "Tanh": activation("tanh"),
    "HardSwish": activation("hswish"),
    "HardSigmoid": activation("hard_sigmoid", ("alpha", 0.2), ("beta", 0.5)),
    "LeakyRelu": activation("leaky_relu", ("alpha", 0.01)),
    "Elu": activation("elu", ("alpha", 1.0)),
    "Softplus": activation("softplus"),
    "Abs": activation("abs"),
    "Clip": convert_clip,
}
