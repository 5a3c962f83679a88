"""ONNX shape semantics shared by the constant folder and the converters: each function reads a node's
parameters (attribute in older opsets, constant input in newer ones) and returns plain Python shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from quantopt.frontends.onnx_graph import ConversionError, GraphBuilder, OnnxNode, normalize_axis


def ints_param(b: GraphBuilder, node: OnnxNode, attr: str, index: int) -> list[int] | None:
    """Integers given as attribute `attr` (older opsets) or as constant input `index` (newer opsets)."""
    if attr in node.attrs:
        return node.ints(attr)
    name = node.input(index)
    if not name:
        return None
    return [int(v) for v in b.require_const(name, f"input '{attr}'").reshape(-1)]


def axes_param(b: GraphBuilder, node: OnnxNode, rank: int, index: int) -> list[int] | None:
    axes = ints_param(b, node, "axes", index)
    if axes is None:
        return None
    axes = [normalize_axis(a, rank, "axes") for a in axes]
    if len(set(axes)) != len(axes):
        raise ConversionError(f"repeated axes {axes}")
    return axes


def reshape_target(b: GraphBuilder, node: OnnxNode, shape: Sequence[int]) -> tuple[int, ...]:
    target = ints_param(b, node, "shape", 1)
    if target is None:
        raise ConversionError("missing target shape")
    allowzero = node.attr("allowzero", 0)
    if not allowzero and 0 in target[len(shape):]:
        raise ConversionError(f"target shape {target} copies a dimension the input {list(shape)} does not have")
    out = [shape[i] if d == 0 and not allowzero else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise ConversionError(f"target shape {target} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or math.prod(shape) % known:
            raise ConversionError(f"cannot reshape {list(shape)} to {target}")
        out[out.index(-1)] = math.prod(shape) // known
    if math.prod(out) != math.prod(shape) or min(out, default=0) < 0:
        raise ConversionError(f"cannot reshape {list(shape)} to {target}")
    return tuple(out)


def flatten_shape(node: OnnxNode, shape: Sequence[int]) -> tuple[int, int]:
    axis = node.attr("axis", 1)
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape):
        raise ConversionError(f"axis {node.attr('axis')} out of range for rank {len(shape)}")
    return math.prod(shape[:axis]), math.prod(shape[axis:])


def squeeze_shape(b: GraphBuilder, node: OnnxNode, shape: Sequence[int]) -> tuple[int, ...]:
    axes = axes_param(b, node, len(shape), 1)
    if axes is None:
        return tuple(d for d in shape if d != 1)
    if any(shape[a] != 1 for a in axes):
        raise ConversionError(f"cannot squeeze axes {axes} of shape {list(shape)}")
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def unsqueeze_shape(b: GraphBuilder, node: OnnxNode, shape: Sequence[int]) -> tuple[int, ...]:
    rank = len(shape) + len(ints_param(b, node, "axes", 1) or [])
    axes = axes_param(b, node, rank, 1)
    if not axes:
        raise ConversionError("missing axes")
    dims = iter(shape)
    return tuple(1 if i in axes else next(dims) for i in range(rank))


def transpose_perm(node: OnnxNode, rank: int) -> list[int]:
    perm = node.ints("perm", list(reversed(range(rank))))
    if sorted(perm) != list(range(rank)):
        raise ConversionError(f"perm {perm} is not a permutation of {rank} dimensions")
    return perm


def split_sizes(b: GraphBuilder, node: OnnxNode, dim: int) -> list[int]:
    sizes = ints_param(b, node, "split", 1)
    count = len(node.outputs)
    if sizes is None:
        parts = node.attr("num_outputs", count)
        if parts != count or count < 1:
            raise ConversionError(f"num_outputs={parts} for {count} outputs")
        chunk = -(-dim // parts)  # the last piece is smaller when dim does not divide evenly
        sizes = [chunk] * (parts - 1) + [dim - chunk * (parts - 1)]
    if len(sizes) != count or sum(sizes) != dim or min(sizes) < 0:
        raise ConversionError(f"split sizes {sizes} do not cut dimension {dim} into {count} outputs")
    return sizes


def slice_params(b: GraphBuilder, node: OnnxNode, shape: Sequence[int]):
    """Full-rank (begin, end, strides) clamped like ONNX Slice.

    For a positive stride 0 <= begin, end <= dim. For a negative stride 0 <= begin <= dim - 1 and
    -1 <= end <= dim - 1, where end = -1 means "through index 0". Either way the length is
    max(0, ceil((end - begin) / stride))."""
    starts = ints_param(b, node, "starts", 1)
    ends = ints_param(b, node, "ends", 2)
    if starts is None or ends is None or len(starts) != len(ends):
        raise ConversionError("starts and ends must be given with equal lengths")
    axes = axes_param(b, node, len(shape), 3) or list(range(len(starts)))
    steps = ints_param(b, node, "steps", 4) or [1] * len(starts)
    if not len(axes) == len(steps) == len(starts):
        raise ConversionError("starts, ends, axes and steps differ in length")
    if any(a >= len(shape) for a in axes):  # the default axes, one per start, may exceed the rank
        raise ConversionError(f"slice axes {axes} out of range for rank {len(shape)}")
    begin, end, strides = [0] * len(shape), list(shape), [1] * len(shape)
    for axis, start, stop, step in zip(axes, starts, ends, steps):
        if step == 0:
            raise ConversionError("slice step must not be 0")
        dim = shape[axis]
        start = start + dim if start < 0 else start
        stop = stop + dim if stop < 0 else stop
        if step > 0:
            begin[axis], end[axis] = min(max(start, 0), dim), min(max(stop, 0), dim)
        else:
            begin[axis], end[axis] = min(max(start, 0), dim - 1), min(max(stop, -1), dim - 1)
        strides[axis] = step
    return begin, end, strides


def python_slices(begin: Sequence[int], end: Sequence[int], strides: Sequence[int]) -> tuple[slice, ...]:
    """numpy indexing equivalent to normalised slice parameters (end -1 with a negative stride is None)."""
    return tuple(slice(b, None if e < 0 else e, s) for b, e, s in zip(begin, end, strides))


def pad_amounts(b: GraphBuilder, node: OnnxNode, rank: int) -> list[int]:
    """Per-dimension (before, after) pairs interleaved, as lite.pad takes them."""
    pads = ints_param(b, node, "pads", 1) or ints_param(b, node, "paddings", 1)
    if pads is None:
        raise ConversionError("missing pads")
    axes = axes_param(b, node, rank, 3) if node.input(3) else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise ConversionError(f"pads {pads} do not match {len(axes)} axes")
    full = [0] * (2 * rank)
    for i, axis in enumerate(axes):
        full[2 * axis], full[2 * axis + 1] = pads[i], pads[i + len(axes)]
    if min(full) < 0:
        raise ConversionError(f"negative pads {pads} are not supported")
    return full
