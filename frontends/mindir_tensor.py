"""Elementwise, shape and plumbing MindIR ops.

Elementwise ops keep the layout of their input; ops that read the element order (reshapes) or address
axes (reductions, softmax, concat) either remap the axes to NHWC or ask for the plain NCHW value.
Side-effect plumbing carries no data: `Load(param, U)` is the parameter, `Depend(x, ...)` is x.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from quantopt.dialects import lite
from quantopt.dialects.lite import infer_broadcast
from quantopt.frontends.mindir_graph import (
    MONAD,
    NHWC_AXIS,
    TO_NCHW,
    GraphBuilder,
    MindirNode,
    Tensor,
    TupleValue,
    arg,
    normalize_axis,
)
from quantopt.frontends.mindir_values import ConversionError


def convert_first_input(b: GraphBuilder, node: MindirNode) -> Any:
    return b.get(node.inputs[0])


def convert_update_state(b: GraphBuilder, node: MindirNode) -> Any:
    return MONAD


def convert_make_tuple(b: GraphBuilder, node: MindirNode) -> TupleValue:
    return TupleValue(tuple(b.get(name) for name in node.inputs))


def convert_tuple_get_item(b: GraphBuilder, node: MindirNode) -> Any:
    items = b.get(node.inputs[0])
    index = b.const(b.get(node.inputs[1]), "the index")
    if not isinstance(items, TupleValue):
        raise ConversionError("the first input is not a tuple")
    if not 0 <= int(index) < len(items.items):
        raise ConversionError(f"index {index} is out of range: the tuple has {len(items.items)} usable item(s)")
    return items.items[int(index)]


def activation_converter(kind: str):
    def convert(b: GraphBuilder, node: MindirNode) -> Tensor:
        x = b.get(node.inputs[0])
        data = x.value if isinstance(x, Tensor) else b.materialize(x)
        op = b.emit(lite.ActivationOp(data, kind))
        return Tensor(op.output, b.is_channels_last(x))

    return convert


def binary_converter(op_class: type[lite._BinaryOp], fold):
    def convert(b: GraphBuilder, node: MindirNode) -> Any:
        lhs, rhs = b.get(node.inputs[0]), b.get(node.inputs[1])
        if not isinstance(lhs, Tensor) and not isinstance(rhs, Tensor):
            return fold(np.asarray(b.const(lhs, "lhs")), np.asarray(b.const(rhs, "rhs")))
        shape = infer_broadcast(b.shape(lhs), b.shape(rhs))
        channels_last = len(shape) == 4 and (b.is_channels_last(lhs) or b.is_channels_last(rhs))
        if channels_last:
            op = b.emit(op_class(b.nhwc_broadcast(lhs), b.nhwc_broadcast(rhs)))
        else:
            op = b.emit(op_class(b.plain(lhs), b.plain(rhs)))
        return Tensor(op.output, channels_last)

    return convert


def reshaped(b: GraphBuilder, x: Any, shape) -> Any:
    if not isinstance(x, Tensor):
        return np.reshape(b.const(x, "the input"), shape)
    return Tensor(b.reshape(b.row_major(x), shape))


def convert_flatten(b: GraphBuilder, node: MindirNode) -> Any:
    x = b.get(node.inputs[0])
    shape = b.shape(x)
    start = normalize_axis(int(arg(b, node, 1, "start_dim", 1)), len(shape))
    end = normalize_axis(int(arg(b, node, 2, "end_dim", -1)), len(shape))
    return reshaped(b, x, (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:]))


def convert_reshape(b: GraphBuilder, node: MindirNode) -> Any:
    x = b.get(node.inputs[0])
    target = [int(d) for d in np.ravel(arg(b, node, 1, "shape"))]
    size = math.prod(b.shape(x))
    if target.count(-1) == 1:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = size // known if known else 0
    if math.prod(target) != size or min(target, default=0) < 0:
        raise ConversionError(f"cannot reshape {list(b.shape(x))} to {target}")
    return reshaped(b, x, target)


def convert_expand_dims(b: GraphBuilder, node: MindirNode) -> Any:
    x = b.get(node.inputs[0])
    shape = list(b.shape(x))
    axis = normalize_axis(int(arg(b, node, 1, "axis")), len(shape) + 1)
    return reshaped(b, x, shape[:axis] + [1] + shape[axis:])


def convert_squeeze(b: GraphBuilder, node: MindirNode) -> Any:
    x = b.get(node.inputs[0])
    shape = b.shape(x)
    axes = axis_list(arg(b, node, 1, "axis", ()), len(shape)) or [i for i, d in enumerate(shape) if d == 1]
    if any(shape[a] != 1 for a in axes):
        raise ConversionError(f"cannot squeeze axes {axes} of shape {list(shape)}")
    return reshaped(b, x, [d for i, d in enumerate(shape) if i not in axes])


def convert_transpose(b: GraphBuilder, node: MindirNode) -> Any:
    x = b.get(node.inputs[0])
    perm = [int(p) for p in np.ravel(arg(b, node, 1, "perm"))]
    if sorted(perm) != list(range(len(b.shape(x)))):
        raise ConversionError(f"perm {perm} is not a permutation of {len(b.shape(x))} axes")
    if not isinstance(x, Tensor):
        return np.transpose(b.const(x, "the input"), perm)
    if x.channels_last:  # NCHW = NHWC.transpose(TO_NCHW), so compose the two permutations
        return Tensor(b.transpose(x.value, [TO_NCHW[p] for p in perm]))
    return Tensor(b.transpose(x.value, perm))


def axis_list(value: Any, rank: int) -> list[int]:
    values = [value] if np.ndim(value) == 0 else list(np.ravel(value))
    return sorted({normalize_axis(int(a), rank) for a in values})


def keeps_order(kept_axes: list[int]) -> bool:
    """Whether NCHW axes `kept_axes` appear in the same order in NHWC."""
    return sorted(kept_axes, key=lambda a: NHWC_AXIS[a]) == kept_axes


def reduce_converter(mode: str):
    def convert(b: GraphBuilder, node: MindirNode) -> Tensor:
        x = b.get(node.inputs[0])
        shape = b.shape(x)
        axes = axis_list(arg(b, node, 1, "axis", ()), len(shape)) or list(range(len(shape)))
        keep_dims = bool(arg(b, node, 2, "keep_dims", False))
        kept = [a for a in range(len(shape)) if a not in axes]
        if b.is_channels_last(x) and (keep_dims or keeps_order(kept)):
            op = b.emit(lite.ReduceOp(x.value, mode, sorted(NHWC_AXIS[a] for a in axes), keep_dims))
            return Tensor(op.output, channels_last=keep_dims)
        op = b.emit(lite.ReduceOp(b.plain(x), mode, axes, keep_dims))
        return Tensor(op.output)

    return convert


def convert_softmax(b: GraphBuilder, node: MindirNode) -> Tensor:
    x = b.get(node.inputs[0])
    rank = len(b.shape(x))
    axes = axis_list(arg(b, node, 1, "axis", -1), rank)
    if len(axes) != 1:
        raise ConversionError(f"softmax over several axes {axes} is not supported")
    if b.is_channels_last(x):
        return Tensor(b.emit(lite.SoftmaxOp(x.value, NHWC_AXIS[axes[0]])).output, channels_last=True)
    return Tensor(b.emit(lite.SoftmaxOp(b.plain(x), axes[0])).output)


def convert_concat(b: GraphBuilder, node: MindirNode) -> Any:
    first = b.get(node.inputs[0])
    if isinstance(first, TupleValue):
        items = list(first.items)
        axis = arg(b, node, 1, "axis", 0)
    else:  # older files list the tensors as inputs
        items = [b.get(name) for name in node.inputs]
        axis = node.attrs.get("axis", 0)
    rank = len(b.shape(items[0]))
    axis = normalize_axis(int(axis), rank)
    if not any(isinstance(v, Tensor) for v in items):
        return np.concatenate([np.asarray(b.const(v, "an input")) for v in items], axis)
    if rank == 4 and any(b.is_channels_last(v) for v in items):
        op = b.emit(lite.ConcatOp([b.nhwc(v) for v in items], NHWC_AXIS[axis]))
        return Tensor(op.output, channels_last=True)
    return Tensor(b.emit(lite.ConcatOp([b.plain(v) for v in items], axis)).output)


TENSOR_CONVERTERS = {
    "Load": convert_first_input,
    "Depend": convert_first_input,
    "UpdateState": convert_update_state,
    "MakeTuple": convert_make_tuple,
    "TupleGetItem": convert_tuple_get_item,
    "ReLU": activation_converter("relu"),
    "ReLU6": activation_converter("relu6"),
    "Sigmoid": activation_converter("sigmoid"),
    "Tanh": activation_converter("tanh"),
    "HSwish": activation_converter("hswish"),
    "HSigmoid": activation_converter("hsigmoid"),
    "Add": binary_converter(lite.AddOp, np.add),
    "Sub": binary_converter(lite.SubOp, np.subtract),
    "Mul": binary_converter(lite.MulOp, np.multiply),
    "Div": binary_converter(lite.DivOp, np.true_divide),
    "RealDiv": binary_converter(lite.DivOp, np.true_divide),
    "Flatten": convert_flatten,
    "Reshape": convert_reshape,
    "ExpandDims": convert_expand_dims,
    "Squeeze": convert_squeeze,
    "Transpose": convert_transpose,
    "ReduceMean": reduce_converter("mean"),
    "ReduceMax": reduce_converter("max"),
    "ReduceMin": reduce_converter("min"),
    "ReduceSum": reduce_converter("sum"),
    "Softmax": convert_softmax,
    "Concat": convert_concat,
}
