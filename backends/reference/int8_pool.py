"""Integer max and average pooling over H, W of NHWC tensors (padding never read, as in `pool`).

Max pooling takes the maximum of the stored integers (the real value is monotonic in them), then
requantizes to the output's parameters and applies the fused activation's clamp. Average pooling sums
x - zp_x over the real pixels of each window exactly in int64 and divides by the window's count (pixels,
or pixels plus padding with `count_include_pad`) inside the fixed-point requantization:

    y = clamp(zp_y + FixedPointMultiply(sum(x - zp_x), s_x / (s_y * count)), lo, hi)

with one multiplier per output position, since border windows count fewer pixels.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference import pool
from quantopt.backends.reference.int8_common import activation_qparams, lookup, requantize_table
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel
from quantopt.backends.reference.requantize import FixedPointMultiplier, activation_bounds
from quantopt.dialects import lite


def _geometry(op):
    x_shape = lite.shape_of(op.input)
    kernel, strides, pads = op.int_list("kernel"), op.int_list("strides"), op.int_list("pads")
    _, oh, ow, _ = lite.infer_pool(x_shape, kernel, strides, pads, op.bool_prop("ceil_mode"))
    is_global = (oh, ow) == (1, 1) and tuple(kernel) == tuple(x_shape[1:3]) and not any(pads)
    return x_shape, kernel, strides, pads, (oh, ow), is_global


def _bounds(op) -> tuple[int, int]:
    y = activation_qparams(op, op.output)
    return activation_bounds(op.str_prop("activation"), y.scale, y.zero_point, y.qmin, y.qmax)


def build_max_pool(op: lite.MaxPoolOp, const: ConstantLookup) -> Kernel:
    x, y = activation_qparams(op, op.input), activation_qparams(op, op.output)
    x_shape, kernel, strides, pads, (oh, ow), is_global = _geometry(op)
    table = requantize_table(x, y, *_bounds(op))
    finish = (lambda q: q) if table is None else (lambda q: lookup(table, q))
    if is_global:
        return Kernel(lambda q: finish(q.max(axis=(1, 2), keepdims=True)), [op.input])
    n, h, w, c = x_shape
    taps = list(pool.tap_windows((h, w), (oh, ow), kernel, strides, (1, 1), pads))
    lowest = np.iinfo(x.dtype).min

    def run(q: Array) -> Array:
        acc = np.full((n, oh, ow, c), lowest, x.dtype)
        for _, _, src, dst, _ in taps:
            region = acc[dst]
            np.maximum(region, q[src], out=region)
        return finish(acc)

    return Kernel(run, [op.input])


def build_avg_pool(op: lite.AvgPoolOp, const: ConstantLookup) -> Kernel:
    x, y = activation_qparams(op, op.input), activation_qparams(op, op.output)
    x_shape, kernel, strides, pads, (oh, ow), is_global = _geometry(op)
    lo, hi = _bounds(op)
    n, h, w, c = x_shape

    def finish(total: Array, multiplier: FixedPointMultiplier) -> Array:
        out = multiplier.apply(total)
        np.add(out, y.zero_point, out=out)
        return np.clip(out, lo, hi, out=out).astype(y.dtype)

    if is_global:
        multiplier = FixedPointMultiplier.from_real(x.scale / (y.scale * h * w))
        offset = x.zero_point * h * w
        return Kernel(lambda q: finish(q.sum(axis=(1, 2), keepdims=True, dtype=np.int64) - offset, multiplier),
                      [op.input])

    def window_counts(include_pad: bool) -> Array:
        rows = pool._window_counts(h, oh, kernel[0], strides[0], pads[0], pads[1], include_pad)
        cols = pool._window_counts(w, ow, kernel[1], strides[1], pads[2], pads[3], include_pad)
        return (rows[:, None] * cols[None, :])[:, :, None]  # [oh, ow, 1]

    pixels = window_counts(False)
    divisors = window_counts(op.bool_prop("count_include_pad"))
    multiplier = FixedPointMultiplier.from_real(x.scale / (y.scale * divisors))
    offset = (x.zero_point * pixels).astype(np.int64)
    taps = list(pool.tap_windows((h, w), (oh, ow), kernel, strides, (1, 1), pads))

    def run(q: Array) -> Array:
        total = np.zeros((n, oh, ow, c), np.int64)
        for _, _, src, dst, _ in taps:
            region = total[dst]
            np.add(region, q[src], out=region)
        np.subtract(total, offset, out=total)
        return finish(total, multiplier)

    return Kernel(run, [op.input])


BUILDERS = {lite.MaxPoolOp: build_max_pool, lite.AvgPoolOp: build_avg_pool}
