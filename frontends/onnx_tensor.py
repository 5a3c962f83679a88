"""Shape and data-movement ONNX ops. Axis-carrying ops remap their axes onto channels-last values; ops that
reinterpret the element order (Reshape, Flatten, Squeeze, Unsqueeze) need it in ONNX order."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from quantopt.dialects import lite
from quantopt.dialects.lite import shape_of
from quantopt.frontends.onnx_graph import (
    NHWC_AXIS,
    TO_NHWC,
    ConversionError,
    GraphBuilder,
    OnnxNode,
    normalize_axis,
)
from quantopt.frontends.onnx_shapes import (
    axes_param,
    flatten_shape,
    pad_amounts,
    reshape_target,
    slice_params,
    split_sizes,
    squeeze_shape,
    transpose_perm,
    unsqueeze_shape,
)


def reshaping(target: Callable[[GraphBuilder, OnnxNode, Sequence[int]], Sequence[int]]):
    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        x = node.input(0)
        b.define(node.outputs[0], b.reshape(b.row_major(x), target(b, node, b.shape(x))))

    return convert


def convert_transpose(b: GraphBuilder, node: OnnxNode) -> None:
    t = b.tensor(node.input(0))
    perm = transpose_perm(node, len(t.shape))
    if t.channels_last:
        perm = [NHWC_AXIS[p] for p in perm]  # output dim i is held dim NHWC_AXIS[perm[i]]
    if len(perm) == 4 and [perm[p] for p in TO_NHWC] == [0, 1, 2, 3]:
        return b.define(node.outputs[0], t.value, channels_last=True)  # the result held NHWC is the input
    b.define(node.outputs[0], b.transpose(t.value, perm))


def convert_concat(b: GraphBuilder, node: OnnxNode) -> None:
    names = [n for n in node.inputs if n]
    if not names:
        raise ConversionError("has no inputs")
    rank = len(b.shape(names[0]))
    axis = normalize_axis(node.attr("axis"), rank)
    channels_last = rank == 4 and any(b.is_channels_last(n) for n in names)
    if len(names) == 1:
        return b.alias(node.outputs[0], names[0])
    values = [b.nhwc(n) if channels_last else b.plain(n) for n in names]
    op = lite.ConcatOp(values, NHWC_AXIS[axis] if channels_last else axis)
    b.define(node.outputs[0], b.emit(op).output, channels_last)


def convert_split(b: GraphBuilder, node: OnnxNode) -> None:
    t = b.tensor(node.input(0))
    axis = normalize_axis(node.attr("axis", 0), len(t.shape))
    sizes = split_sizes(b, node, t.shape[axis])
    op = b.emit(lite.SplitOp(t.value, NHWC_AXIS[axis] if t.channels_last else axis, sizes))
    for name, result in zip(node.outputs, op.outputs):
        if name:
            b.define(name, result, t.channels_last)


def held_order(values: Sequence[int], channels_last: bool) -> list[int]:
    """Per-dimension parameters of an ONNX 4-D tensor reordered for its channels-last value."""
    return [values[p] for p in TO_NHWC] if channels_last else list(values)


def convert_slice(b: GraphBuilder, node: OnnxNode) -> None:
    t = b.tensor(node.input(0))
    begin, end, strides = slice_params(b, node, t.shape)
    if begin == [0] * len(begin) and end == list(t.shape) and strides == [1] * len(strides):
        return b.alias(node.outputs[0], node.input(0))
    begin, end, strides = (held_order(p, t.channels_last) for p in (begin, end, strides))
    b.define(node.outputs[0], b.emit(lite.SliceOp(t.value, begin, end, strides)).output, t.channels_last)


PAD_MODES = ("constant", "reflect", "edge")


def convert_pad(b: GraphBuilder, node: OnnxNode) -> None:
    mode = node.attr("mode", "constant")
    if mode not in PAD_MODES:
        raise ConversionError(f"unsupported mode={mode!r}")
    t = b.tensor(node.input(0))
    pads = pad_amounts(b, node, len(t.shape))
    if node.opset < 11:
        value = float(node.attr("value", 0.0))
    else:
        value = float(b.scalar(node.input(2), "constant_value")) if node.input(2) else 0.0
    if not any(pads):
        return b.alias(node.outputs[0], node.input(0))
    pairs = held_order([(pads[2 * i], pads[2 * i + 1]) for i in range(len(t.shape))], t.channels_last)
    op = lite.PadOp(t.value, [p for pair in pairs for p in pair], mode, value)
    b.define(node.outputs[0], b.emit(op).output, t.channels_last)


def convert_softmax(b: GraphBuilder, node: OnnxNode) -> None:
    x = node.input(0)
    t = b.tensor(x)
    rank = len(t.shape)
    axis = normalize_axis(node.attr("axis", -1 if node.opset >= 13 else 1), rank)
    if node.opset >= 13 or axis == rank - 1:
        op = lite.SoftmaxOp(t.value, NHWC_AXIS[axis] if t.channels_last else axis)
        return b.define(node.outputs[0], b.emit(op).output, t.channels_last)
    # Before opset 13 the input is coerced to 2-D [d0·…·d(axis-1), d(axis)·…]. Over C, H and W together the
    # result does not depend on their order, so a channels-last value needs no transpose.
    channels_last = t.channels_last and axis <= 1
    value = t.value if channels_last else b.plain(x)
    held = shape_of(value)
    flat = b.reshape(value, (math.prod(held[:axis]), math.prod(held[axis:])))
    y = b.reshape(b.emit(lite.SoftmaxOp(flat, 1)).output, held)
    b.define(node.outputs[0], y, channels_last)


def reduce(mode: str):
    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        x = node.input(0)
        t = b.tensor(x)
        rank = len(t.shape)
        axes = axes_param(b, node, rank, 1)
        keep_dims = bool(node.attr("keepdims", 1))
        if not axes:
            if node.attr("noop_with_empty_axes", 0):
                return b.alias(node.outputs[0], x)
            axes = list(range(rank))
        # Dropping axes of an NHWC value leaves the ONNX order unless C and H or W both survive.
        reorders = not keep_dims and 1 not in axes and not {2, 3} <= set(axes)
        channels_last = t.channels_last and not reorders
        value = t.value if channels_last else b.plain(x)
        held_axes = sorted(NHWC_AXIS[a] for a in axes) if channels_last else sorted(axes)
        op = lite.ReduceOp(value, mode, held_axes, keep_dims)
        b.define(node.outputs[0], b.emit(op).output, channels_last and keep_dims)

    return convert


def convert_gather(b: GraphBuilder, node: OnnxNode) -> None:
    """Gather of constant indices in arithmetic progression from a tensor: a slice, then a reshape."""
    data = node.input(0)
    shape = b.shape(data)
    indices = b.require_const(node.input(1), "indices").astype(np.int64)
    axis = normalize_axis(node.attr("axis", 0), len(shape))
    dim = shape[axis]
    flat = np.where(indices < 0, indices + dim, indices).reshape(-1)
    if flat.size == 0 or flat.min() < 0 or flat.max() >= dim:
        raise ConversionError(f"indices out of range for dimension {dim}")
    step = int(flat[1] - flat[0]) if flat.size > 1 else 1
    if step == 0 or np.any(np.diff(flat) != step):
        raise ConversionError("indices of a non-constant Gather must form an arithmetic progression")
    begin, end, strides = [0] * len(shape), list(shape), [1] * len(shape)
    begin[axis], end[axis], strides[axis] = int(flat[0]), int(flat[-1]) + (1 if step > 0 else -1), step
    sliced = b.emit(lite.SliceOp(b.plain(data), begin, end, strides)).output
    b.define(node.outputs[0], b.reshape(sliced, shape[:axis] + indices.shape + shape[axis + 1:]))


def convert_dropout(b: GraphBuilder, node: OnnxNode) -> None:
    training = b.scalar(node.input(2), "training_mode") if b.is_const(node.input(2)) else None
    if training is not None and bool(training):
        raise ConversionError("training_mode=True is not supported")
    if len(node.outputs) > 1 and node.outputs[1] in b.used:
        raise ConversionError("the mask output is not supported")
    b.alias(node.outputs[0], node.input(0))


def convert_cast(b: GraphBuilder, node: OnnxNode) -> None:
    if node.attr("to") != 1:  # TensorProto.FLOAT: every non-constant tensor is already float32
        raise ConversionError(f"unsupported cast of a non-constant tensor to type {node.attr('to')}")
    b.alias(node.outputs[0], node.input(0))


TENSOR_CONVERTERS = {
    "Reshape": reshaping(reshape_target),
    "Flatten": reshaping(lambda b, node, shape: flatten_shape(node, shape)),
    "Squeeze": reshaping(squeeze_shape),
    "Unsqueeze": reshaping(unsqueeze_shape),
    "Transpose": convert_transpose,
    "Concat": convert_concat,
    "Split": convert_split,
    "Slice": convert_slice,
    "Pad": convert_pad,
    "Softmax": convert_softmax,
    "ReduceMean": reduce("mean"),
    "ReduceMax": reduce("max"),
    "ReduceMin": reduce("min"),
    "ReduceSum": reduce("sum"),
    "ReduceProd": reduce("prod"),
    "Gather": convert_gather,
    "Identity": lambda b, node: b.alias(node.outputs[0], node.input(0)),
    "Dropout": convert_dropout,
    "Cast": convert_cast,
}
