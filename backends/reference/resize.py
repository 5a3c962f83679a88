"""lite.resize: ONNX Resize on the H and W axes of NHWC tensors, as onnxruntime computes it.

Source coordinates are computed in float32 in onnxruntime's operation order, with scale = output / input
size, so nearest-neighbour ties fall the same way. Bilinear interpolation is separable: rows are blended
from two gathered rows each, then columns from two gathered columns.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, out_shape
from quantopt.dialects import lite

_F32 = np.float32


def source_coordinates(in_len: int, out_len: int, coordinate_mode: str) -> Array:
    x = np.arange(out_len, dtype=_F32)
    scale = _F32(out_len) / _F32(in_len)
    if coordinate_mode == "half_pixel":
        return (x + _F32(0.5)) / scale - _F32(0.5)
    if coordinate_mode == "pytorch_half_pixel":
        return (x + _F32(0.5)) / scale - _F32(0.5) if out_len > 1 else np.zeros(out_len, _F32)
    if coordinate_mode == "align_corners":
        return x * _F32(in_len - 1) / _F32(out_len - 1) if out_len > 1 else np.zeros(out_len, _F32)
    if coordinate_mode == "asymmetric":
        return x / scale
    raise ValueError(f"unknown coordinate_mode '{coordinate_mode}'")


def nearest_indices(in_len: int, out_len: int, coordinate_mode: str, nearest_mode: str) -> Array:
    x = source_coordinates(in_len, out_len, coordinate_mode)
    if nearest_mode in ("round_prefer_floor", "round_prefer_ceil"):
        tie = x - np.floor(x) == _F32(0.5)
        rounded = np.floor(x + _F32(0.5))
        index = np.where(tie, np.floor(x) if nearest_mode == "round_prefer_floor" else np.ceil(x), rounded)
    elif nearest_mode == "floor":
        index = np.floor(x)
    elif nearest_mode == "ceil":
        index = np.ceil(x)
    else:
        raise ValueError(f"unknown nearest_mode '{nearest_mode}'")
    return np.clip(index, 0, in_len - 1).astype(np.intp)


def linear_taps(in_len: int, out_len: int, coordinate_mode: str) -> tuple[Array, Array, Array, Array]:
    """(lower index, upper index, lower weight, upper weight) of every output position."""
    x = np.clip(source_coordinates(in_len, out_len, coordinate_mode), 0, in_len - 1)
    lower = np.minimum(x.astype(np.intp), in_len - 1)
    upper = np.minimum(lower + 1, in_len - 1)
    upper_weight = (x - lower).astype(_F32)
    return lower, upper, _F32(1.0) - upper_weight, upper_weight


def resize(x_shape, size, mode: str, coordinate_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor"):
    """A closure resizing NHWC inputs of `x_shape` to `size` = (out_h, out_w)."""
    _, h, w, _ = x_shape
    oh, ow = size
    if mode == "nearest":
        rows = nearest_indices(h, oh, coordinate_mode, nearest_mode)[:, None]
        cols = nearest_indices(w, ow, coordinate_mode, nearest_mode)[None, :]
        return lambda x: x[:, rows, cols]
    if mode != "linear":
        raise ValueError(f"unknown resize mode '{mode}'")
    r0, r1, rw0, rw1 = linear_taps(h, oh, coordinate_mode)
    c0, c1, cw0, cw1 = linear_taps(w, ow, coordinate_mode)
    rw0, rw1 = rw0[:, None, None], rw1[:, None, None]
    cw0, cw1 = cw0[:, None], cw1[:, None]

    def run(x: Array) -> Array:
        rows = x[:, r0] * rw0
        rows += x[:, r1] * rw1
        y = rows[:, :, c0] * cw0
        y += rows[:, :, c1] * cw1
        return y

    return run


def build_resize(op: lite.ResizeOp, const: ConstantLookup) -> Kernel:
    _, oh, ow, _ = out_shape(op)
    return Kernel(resize(lite.shape_of(op.input), (oh, ow), op.str_prop("mode"), op.str_prop("coordinate_mode"),
                         op.str_prop("nearest_mode")), [op.input])


BUILDERS = {lite.ResizeOp: build_resize}
