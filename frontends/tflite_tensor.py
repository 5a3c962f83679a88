"""TFLite data-movement and reduction ops. Their parameters (shapes, perms, paddings, axes, slice bounds)
must be constants; TFLite's clamping and masking rules are resolved at import."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.ir import SSAValue

from quantopt.dialects import lite
from quantopt.frontends.tflite_graph import GraphBuilder
from quantopt.frontends.tflite_model import ConversionError, Operator
from quantopt.frontends.tflite_nn import activation, fused_activation

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ConversionError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def reshaped(g: GraphBuilder, index: int, shape: Sequence[int]) -> SSAValue:
    value = g.value(index)
    if tuple(shape) == g.shape(index):
        return value
    return g.emit_value(lite.ReshapeOp(value, shape))


def resolve_shape(shape: Sequence[int], size: int) -> list[int]:
    """Fill in the one -1 of a target shape."""
    shape = list(shape)
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ConversionError(f"invalid target shape {shape}")
    known = math.prod(d for d in shape if d != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ConversionError(f"cannot reshape {size} elements to {shape}")
        shape[shape.index(-1)] = size // known
    if math.prod(shape) != size:
        raise ConversionError(f"cannot reshape {size} elements to {shape}")
    return shape


def reshape(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    # The shape comes from the shape input if it is a constant, else from the options, else from the
    # declared output shape.
    new_shape = op.options("ReshapeOptions").new_shape
    if op.input(1) >= 0 and g.is_constant(op.input(1)):
        target = g.ints(op.input(1))
    elif len(new_shape):
        target = [int(d) for d in new_shape]
    else:
        target = list(g.tensor(op.outputs[0]).shape)
    size = math.prod(g.shape(op.input(0)))
    return [reshaped(g, op.input(0), resolve_shape(target, size))]


def squeeze(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    shape = g.shape(op.input(0))
    dims = {normalize_axis(int(d), len(shape)) for d in op.options("SqueezeOptions").squeeze_dims}
    if any(shape[d] != 1 for d in dims):
        raise ConversionError(f"cannot squeeze dimensions {sorted(dims)} of shape {list(shape)}")
    kept = [d for i, d in enumerate(shape) if (i not in dims if dims else d != 1)]
    return [reshaped(g, op.input(0), kept)]


def expand_dims(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    shape = list(g.shape(op.input(0)))
    axes = g.ints(op.input(1))
    if len(axes) != 1:
        raise ConversionError(f"axis must be a single value, got {axes}")
    shape.insert(normalize_axis(axes[0], len(shape) + 1), 1)
    return [reshaped(g, op.input(0), shape)]


def transpose(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    rank = len(g.shape(op.input(0)))
    perm = [normalize_axis(p, rank) for p in g.ints(op.input(1))]
    if sorted(perm) != list(range(rank)):
        raise ConversionError(f"perm {perm} is not a permutation of {rank} dimensions")
    return [g.permuted(op.input(0), perm)]


def concatenation(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("ConcatenationOptions")
    axis = normalize_axis(o.axis, len(g.shape(op.input(0))))
    y = g.emit_value(lite.ConcatOp([g.value(i) for i in op.inputs], axis))
    return [activation(g, y, fused_activation(o))]


def paddings(g: GraphBuilder, op: Operator) -> list[int]:
    rank = len(g.shape(op.input(0)))
    pads = g.ints(op.input(1))
    if len(pads) != 2 * rank or min(pads, default=0) < 0:
        raise ConversionError(f"paddings {pads} do not fit rank {rank} or are negative")
    return pads


def pad(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    # PADV2's third input is the fill value; quantized, it is given in the input's storage.
    value = 0.0
    if op.input(2) >= 0:
        fill = g.constant(op.input(2)).dequantized().ravel()
        if fill.size != 1:
            raise ConversionError(f"constant_values must hold one value, got {fill.size}")
        value = float(fill[0])
    return [g.emit_value(lite.PadOp(g.value(op.input(0)), paddings(g, op), "constant", value))]


def mirror_pad(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    mode = op.options("MirrorPadOptions").mode
    if mode != 0:
        raise ConversionError("SYMMETRIC mirror padding is not supported (only REFLECT)")
    return [g.emit_value(lite.PadOp(g.value(op.input(0)), paddings(g, op), "reflect"))]


def reduce(mode: str):
    def convert(g: GraphBuilder, op: Operator) -> list[SSAValue]:
        keep_dims = bool(op.options("ReducerOptions").keep_dims)
        rank = len(g.shape(op.input(0)))
        axes = sorted({normalize_axis(a, rank) for a in g.ints(op.input(1))})
        return [g.emit_value(lite.ReduceOp(g.value(op.input(0)), mode, axes, keep_dims))]

    return convert


def slice_(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    shape = g.shape(op.input(0))
    begin, size = g.ints(op.input(1)), g.ints(op.input(2))
    if not len(begin) == len(size) == len(shape):
        raise ConversionError(f"begin {begin} and size {size} do not fit rank {len(shape)}")
    end = [dim if s == -1 else b + s for b, s, dim in zip(begin, size, shape)]
    if any(not 0 <= b <= e <= dim for b, e, dim in zip(begin, end, shape)):
        raise ConversionError(f"slice begin {begin} size {size} out of bounds for shape {list(shape)}")
    return [g.emit_value(lite.SliceOp(g.value(op.input(0)), begin, end, [1] * len(shape)))]


def _slice_start(begin: int, stride: int, dim: int, masked: bool) -> int:
    if masked:
        begin = INT32_MIN if stride > 0 else INT32_MAX
    if begin < 0:
        begin += dim
    return min(max(begin, 0), dim) if stride > 0 else min(max(begin, -1), dim - 1)


def _slice_stop(end: int, stride: int, dim: int, masked: bool) -> int:
    if masked:
        end = INT32_MAX if stride > 0 else INT32_MIN
    if end < 0:
        end += dim
    return min(max(end, 0), dim) if stride > 0 else min(max(end, -1), dim - 1)


def strided_slice(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    """TFLite's StartForAxis / StopForAxis, then a reshape for shrunk axes. Bounds end up as lite.slice
    wants them: for a negative stride end = -1 means "through index 0"; empty ranges become [0, 0)."""
    o = op.options("StridedSliceOptions")
    if o.ellipsis_mask or o.new_axis_mask or getattr(o, "offset", False):  # `offset` is newer than some schemas
        raise ConversionError("ellipsis_mask, new_axis_mask and offset are not supported")
    shape = g.shape(op.input(0))
    begins, ends, steps = g.ints(op.input(1)), g.ints(op.input(2)), g.ints(op.input(3))
    if not len(begins) == len(ends) == len(steps) <= len(shape) or 0 in steps:
        raise ConversionError(f"begin {begins}, end {ends} and strides {steps} do not fit rank {len(shape)}")
    begin, end, strides, kept = [], [], [], []
    for axis, dim in enumerate(shape):
        b, e, s, shrink = 0, dim, 1, False
        if axis < len(begins):
            s = steps[axis]
            shrink = bool(o.shrink_axis_mask >> axis & 1)
            b = _slice_start(begins[axis], s, dim, bool(o.begin_mask >> axis & 1))
            if shrink:
                if not 0 <= b < dim:
                    raise ConversionError(f"index {begins[axis]} out of range for dimension {axis} of size {dim}")
                e, s = b + 1, 1
            else:
                e = _slice_stop(ends[axis], s, dim, bool(o.end_mask >> axis & 1))
        if lite.infer_slice([dim], [b], [e], [s])[0] == 0:
            b, e, s = 0, 0, 1
        begin.append(b)
        end.append(e)
        strides.append(s)
        if not shrink:
            kept.append(axis)
    y = g.emit_value(lite.SliceOp(g.value(op.input(0)), begin, end, strides))
    sliced = lite.shape_of(y)
    if len(kept) != len(shape):
        y = g.emit_value(lite.ReshapeOp(y, [sliced[a] for a in kept]))
    return [y]


def split(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    count = op.options("SplitOptions").num_splits
    axis_input, x = op.input(0), op.input(1)
    return _split(g, x, axis_input, count, None, len(op.outputs))


def split_v(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    sizes = g.ints(op.input(1))
    return _split(g, op.input(0), op.input(2), len(sizes), sizes, len(op.outputs))


def _split(g: GraphBuilder, x: int, axis_input: int, count: int, sizes: list[int] | None, outputs: int):
    shape = g.shape(x)
    axes = g.ints(axis_input)
    if len(axes) != 1:
        raise ConversionError(f"axis must be a single value, got {axes}")
    axis = normalize_axis(axes[0], len(shape))
    dim = shape[axis]
    if sizes is None:
        if count < 1 or dim % count:
            raise ConversionError(f"cannot split dimension {axis} of size {dim} into {count} equal parts")
        sizes = [dim // count] * count
    elif sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = dim - (sum(sizes) + 1)
    if len(sizes) != outputs or min(sizes) < 0 or sum(sizes) != dim:
        raise ConversionError(f"split sizes {sizes} do not cover dimension {axis} of size {dim} in {outputs} parts")
    return list(g.emit(lite.SplitOp(g.value(x), axis, sizes)).results)


TENSOR_CONVERTERS = {
    "RESHAPE": reshape,
    "SQUEEZE": squeeze,
    "EXPAND_DIMS": expand_dims,
    "TRANSPOSE": transpose,
    "CONCATENATION": concatenation,
    "PAD": pad,
    "PADV2": pad,
    "MIRROR_PAD": mirror_pad,
    "MEAN": reduce("mean"),
    "SUM": reduce("sum"),
    "REDUCE_MAX": reduce("max"),
    "REDUCE_MIN": reduce("min"),
    "REDUCE_PROD": reduce("prod"),
    "SLICE": slice_,
    "STRIDED_SLICE": strided_slice,
    "SPLIT": split,
    "SPLIT_V": split_v,
}
