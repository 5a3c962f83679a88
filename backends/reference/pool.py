"""Max and average pooling over H, W of NHWC tensors, ONNX (onnxruntime) semantics.

Pooling runs over the kernel taps, each combining a strided view of the input into the part of the output
whose window sees that tap inside the image. Padding and the ceil-mode overhang are never read, so max
pooling never picks padding and sums only cover real pixels.
"""

from __future__ import annotations

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, fused_activation
from quantopt.dialects import lite


def tap_range(size_in: int, size_out: int, stride: int, offset: int) -> tuple[int, int, int]:
    """Output indices o in [first, stop) with 0 <= o * stride + offset < size_in, and the input index of `first`."""
    first = max(0, -(offset // stride))
    stop = min(size_out, (size_in - 1 - offset) // stride + 1)
    return first, max(first, stop), first * stride + offset


def tap_windows(x_hw, out_hw, kernel_hw, strides, dilations, pads):
    """For every kernel tap (i, j) that reads the input somewhere: (i, j, input slices, output slices, whether
    the output slices cover the whole output)."""
    (h, w), (oh, ow), (kh, kw) = x_hw, out_hw, kernel_hw
    for i in range(kh):
        r0, r1, ri = tap_range(h, oh, strides[0], i * dilations[0] - pads[0])
        if r0 == r1:
            continue
        for j in range(kw):
            c0, c1, ci = tap_range(w, ow, strides[1], j * dilations[1] - pads[2])
            if c0 == c1:
                continue
            src = (slice(None), slice(ri, ri + (r1 - r0 - 1) * strides[0] + 1, strides[0]),
                   slice(ci, ci + (c1 - c0 - 1) * strides[1] + 1, strides[1]))
            dst = (slice(None), slice(r0, r1), slice(c0, c1))
            yield i, j, src, dst, (r0, r1, c0, c1) == (0, oh, 0, ow)


def _window_counts(size: int, out: int, k: int, stride: int, pad_begin: int, pad_end: int,
                   include_pad: bool) -> Array:
    """Divisor of each output position along one axis.

    onnxruntime counts a window as clipped to [-pad_begin, size + pad_end) when padding counts, and to
    [0, size) when it does not; the ceil-mode overhang past the end padding never counts.
    """
    start = np.arange(out) * stride - pad_begin
    end = start + k
    if include_pad:
        return np.minimum(end, size + pad_end) - start
    return np.minimum(end, size) - np.maximum(start, 0)


def pool2d(kind: str, x_shape, kernel, strides, pads, ceil_mode: bool, activation: str = "none",
           count_include_pad: bool = False):
    """A closure computing lite.max_pool (`kind` "max") or lite.avg_pool ("avg") on inputs of `x_shape`."""
    n, h, w, c = x_shape
    _, oh, ow, _ = lite.infer_pool(x_shape, kernel, strides, pads, ceil_mode)
    epilogue = fused_activation(activation) or (lambda y: y)
    if (oh, ow) == (1, 1) and tuple(kernel) == (h, w) and not any(pads):
        if kind == "max":
            return lambda x: epilogue(x.max(axis=(1, 2), keepdims=True))
        # numpy sums over the non-contiguous H, W axes one pixel after another: in float32 the rounding
        # error of such a sum grows with the pixel count (2e-6 relative over 64x64 pixels, 50-100x the
        # rounding of its float32 result). Accumulating in float64 costs little next to a convolution.
        return lambda x: epilogue(x.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32))

    taps = list(tap_windows((h, w), (oh, ow), kernel, strides, (1, 1), pads))
    first = next((t for t in taps if t[4]), None)
    if first is not None:
        taps.remove(first)
    combine = np.maximum if kind == "max" else np.add
    if kind == "avg":
        counts_h = _window_counts(h, oh, kernel[0], strides[0], pads[0], pads[1], count_include_pad)
        counts_w = _window_counts(w, ow, kernel[1], strides[1], pads[2], pads[3], count_include_pad)
        inverse = (1.0 / (counts_h[:, None, None] * counts_w[None, :, None])).astype(np.float32)

    def run(x: Array) -> Array:
        acc = np.empty((n, oh, ow, c), np.float32)
        if first is not None:
            np.copyto(acc, x[first[2]])
        else:
            acc.fill(-np.inf if kind == "max" else 0.0)
        for _, _, src, dst, _ in taps:
            region = acc[dst]
            combine(region, x[src], out=region)
        if kind == "avg":
            np.multiply(acc, inverse, out=acc)
        return epilogue(acc)

    return run


def build_max_pool(op: lite.MaxPoolOp, const: ConstantLookup) -> Kernel:
    return Kernel(pool2d("max", lite.shape_of(op.input), op.int_list("kernel"), op.int_list("strides"),
                         op.int_list("pads"), op.bool_prop("ceil_mode"), op.str_prop("activation")), [op.input])


def build_avg_pool(op: lite.AvgPoolOp, const: ConstantLookup) -> Kernel:
    return Kernel(pool2d("avg", lite.shape_of(op.input), op.int_list("kernel"), op.int_list("strides"),
                         op.int_list("pads"), op.bool_prop("ceil_mode"), op.str_prop("activation"),
                         op.bool_prop("count_include_pad")), [op.input])


BUILDERS = {lite.MaxPoolOp: build_max_pool, lite.AvgPoolOp: build_avg_pool}
