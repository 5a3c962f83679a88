"""Data movement: reshape, transpose, concat, split, slice, pad."""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, out_shape
from quantopt.dialects import lite


def build_reshape(op: lite.ReshapeOp, const: ConstantLookup) -> Kernel:
    shape = out_shape(op)
    return Kernel(lambda x: x.reshape(shape), [op.input], returns_view=True)


def transpose(x: Array, perm) -> Array:
    """A contiguous transposed copy (its consumers, convolutions above all, read it many times).

    numpy copies with its inner loop over the result's last axis; when that axis is short (the 3
    channels of NCHW -> NHWC) copying one slice of it at a time runs several times faster.
    """
    view = x.transpose(perm)
    last = view.shape[-1] if view.ndim > 1 else 0
    if 1 < last <= 16 and view.strides[-1] != view.itemsize:
        out = np.empty(view.shape, view.dtype)
        for k in range(last):
            out[..., k] = view[..., k]
        return out
    return view.copy()


def build_transpose(op: lite.TransposeOp, const: ConstantLookup) -> Kernel:
    perm = tuple(op.int_list("perm"))
    return Kernel(lambda x: transpose(x, perm), [op.input])


def build_concat(op: lite.ConcatOp, const: ConstantLookup) -> Kernel:
    axis = op.properties["axis"].value.data
    return Kernel(lambda *xs: np.concatenate(xs, axis=axis), list(op.inputs))


def build_split(op: lite.SplitOp, const: ConstantLookup) -> Kernel:
    axis = op.properties["axis"].value.data
    bounds = np.cumsum(op.int_list("sizes"))[:-1]
    return Kernel(lambda x: tuple(np.split(x, bounds, axis=axis)), [op.input], returns_view=True)


def slice_index(begin, end, strides) -> tuple[slice, ...]:
    """Python slices for lite.slice bounds. With a negative stride an end of -1 means "through index 0",
    which Python spells as an omitted end."""
    return tuple(slice(b, None if (s < 0 and e < 0) else e, s) for b, e, s in zip(begin, end, strides))


def build_slice(op: lite.SliceOp, const: ConstantLookup) -> Kernel:
    index = slice_index(op.int_list("begin"), op.int_list("end"), op.int_list("strides"))
    return Kernel(lambda x: x[index], [op.input], returns_view=True)


def pad(x: Array, pads, mode: str = "constant", value: float = 0.0) -> Array:
    widths = [(pads[2 * i], pads[2 * i + 1]) for i in range(x.ndim)]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.float32(value))
    return np.pad(x, widths, mode=mode)


def build_pad(op: lite.PadOp, const: ConstantLookup) -> Kernel:
    pads, mode, value = op.int_list("pads"), op.str_prop("mode"), op.float_prop("value")
    return Kernel(lambda x: pad(x, pads, mode, value), [op.input])


BUILDERS = {
    lite.ReshapeOp: build_reshape,
    lite.TransposeOp: build_transpose,
    lite.ConcatOp: build_concat,
    lite.SplitOp: build_split,
    lite.SliceOp: build_slice,
    lite.PadOp: build_pad,
}
