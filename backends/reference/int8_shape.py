"""Integer data movement: reshape, transpose, concat, split, slice, pad, nearest-neighbour resize.

Moving stored integers moves real values unchanged; when the output's scale or zero point differs from
an input's, that input is requantized to the output's parameters by a byte table (fixed-point
multiplier, see `int8_common.requantize_table`): concat requantizes each input to the output's
parameters, the others their one input. Constant padding writes the padding value quantized with the
input's parameters (round half away from zero): the zero point for the usual 0.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference import resize, shape
from quantopt.backends.reference.int8_common import activation_qparams, requantizer
from quantopt.backends.reference.kernel import ConstantLookup, Kernel, out_shape, unsupported
from quantopt.backends.reference.requantize import round_half_away
from quantopt.dialects import lite


def _moving(op, move, returns_view: bool = False) -> Kernel:
    """move(x) on the stored integers, then x's values stored under the output's parameters."""
    convert = requantizer(activation_qparams(op, op.input), activation_qparams(op, op.results[0]))
    return Kernel(lambda x: convert(move(x)), [op.input], returns_view=returns_view)


def build_reshape(op: lite.ReshapeOp, const: ConstantLookup) -> Kernel:
    target = out_shape(op)
    return _moving(op, lambda x: x.reshape(target), returns_view=True)


def build_transpose(op: lite.TransposeOp, const: ConstantLookup) -> Kernel:
    perm = tuple(op.int_list("perm"))
    return _moving(op, lambda x: shape.transpose(x, perm))


def build_slice(op: lite.SliceOp, const: ConstantLookup) -> Kernel:
    index = shape.slice_index(op.int_list("begin"), op.int_list("end"), op.int_list("strides"))
    return _moving(op, lambda x: x[index], returns_view=True)


def build_split(op: lite.SplitOp, const: ConstantLookup) -> Kernel:
    axis = op.properties["axis"].value.data
    bounds = np.cumsum(op.int_list("sizes"))[:-1]
    x = activation_qparams(op, op.input)
    converts = [requantizer(x, activation_qparams(op, r)) for r in op.outputs]
    return Kernel(lambda q: tuple(c(part) for c, part in zip(converts, np.split(q, bounds, axis=axis))),
                  [op.input], returns_view=True)


def build_concat(op: lite.ConcatOp, const: ConstantLookup) -> Kernel:
    axis = op.properties["axis"].value.data
    y = activation_qparams(op, op.output)
    converts = [requantizer(activation_qparams(op, v), y) for v in op.inputs]
    return Kernel(lambda *xs: np.concatenate([c(x) for c, x in zip(converts, xs)], axis=axis), list(op.inputs))


def build_pad(op: lite.PadOp, const: ConstantLookup) -> Kernel:
    pads, mode = op.int_list("pads"), op.str_prop("mode")
    x = activation_qparams(op, op.input)
    widths = [(pads[2 * i], pads[2 * i + 1]) for i in range(len(pads) // 2)]
    if mode == "constant":
        fill = int(np.clip(x.zero_point + round_half_away(op.float_prop("value") / x.scale), x.qmin, x.qmax))
        return _moving(op, lambda q: np.pad(q, widths, mode="constant", constant_values=fill))
    return _moving(op, lambda q: np.pad(q, widths, mode=mode))


def build_resize(op: lite.ResizeOp, const: ConstantLookup) -> Kernel:
    if op.str_prop("mode") != "nearest":
        raise unsupported(op, "has no integer kernel for linear interpolation")
    _, oh, ow, _ = out_shape(op)
    gather = resize.resize(lite.shape_of(op.input), (oh, ow), "nearest", op.str_prop("coordinate_mode"),
                           op.str_prop("nearest_mode"))
    return _moving(op, gather)


BUILDERS = {
    lite.ReshapeOp: build_reshape,
    lite.TransposeOp: build_transpose,
    lite.SliceOp: build_slice,
    lite.SplitOp: build_split,
    lite.ConcatOp: build_concat,
    lite.PadOp: build_pad,
    lite.ResizeOp: build_resize,
}
