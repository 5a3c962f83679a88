"""Convolutions and matrix products, NHWC float32.

Dense convolutions are im2col + one BLAS matmul ([N*OH*OW, KH*KW*Cin] x [KH*KW*Cin, O]); a 1x1 unpadded
convolution is the matmul alone. Depthwise convolutions are one `np.einsum` over a strided view of a
padded copy of each image. Epilogues (bias, fused relu / relu6) run in place on fresh results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided
from quantopt.backends.reference.kernel import (
    Array,
    ConstantLookup,
    Kernel,
    fused_activation,
    scratch,
    with_activation,
)
from quantopt.backends.reference.parallel import build_threads, run_split
from quantopt.dialects import lite

CHUNK_BYTES = 1 << 20  # result rows per block of a split matrix product
_INNER_LOOP = 4096  # elements numpy's innermost loop should run over for broadcast vector operands


def channel_adder(vector: Array, shape: Sequence[int]) -> Callable[[Array], Array]:
    """Add `vector` along the last axis of a contiguous array of `shape`, in place.

    Broadcasting a short vector makes numpy's inner loop as short as the vector; viewing the array as rows
    of several vectors, against the vector tiled to match, keeps the loop long.
    """
    channels = shape[-1]
    positions = int(np.prod(shape[:-1], dtype=np.int64))
    repeat = max(1, min(positions, _INNER_LOOP // max(channels, 1)))
    while positions % repeat:
        repeat -= 1
    tiled = np.tile(np.asarray(vector, np.float32), repeat)
    rows = positions // repeat

    def add(y: Array) -> Array:
        flat = y.reshape(rows, repeat * channels)
        np.add(flat, tiled, out=flat)
        return y

    return add


def depthwise_conv2d(x_shape, w: Array, b: Array | None, strides, dilations, pads, activation: str):
    """group == Cin, filter [Cin * multiplier, kh, kw, 1]: output channel o reads input channel o // multiplier.

    One `np.einsum` per image over a strided view [out row, kh, phase, tap, OW*C] of a padded copy of
    the image. einsum multiplies and accumulates in a single pass per tap, where separate
    numpy multiply and add calls need two (and a scratch array); it measured 1.5-2x faster. The view
    needs each tap's OW*C inputs contiguous, so with a horizontal stride the padded copy stores the
    stride phases of each row apart (columns b, b + sw, b + 2sw, ... together): tap j then reads phase
    j % sw from column j // sw on, and the taps form the regular grid (phase, column offset) that a
    strided view can express. Taps of that grid beyond the filter get weight zero.
    """
    n, h, wd, c = x_shape
    o, kh, kw, _ = w.shape
    multiplier = o // c
    _, oh, ow, _ = lite.infer_conv2d(x_shape, w.shape, strides, dilations, pads)
    (sh, sw), (dh, dw) = strides, dilations
    taps = w[:, :, :, 0].transpose(1, 2, 0).astype(np.float32)  # [kh, kw, o]
    if sw > 1 and dw > 1:  # spell the dilation out as zero taps: then tap j is column j
        spread = np.zeros((kh, (kw - 1) * dw + 1, o), np.float32)
        spread[:, ::dw] = taps
        taps, kw, dw = spread, spread.shape[1], 1
    if sw == 1:
        phases, per_phase, tap_step = 1, kw, dw
        grid = taps[:, None]  # [kh, 1, kw, o]
    else:
        phases, per_phase, tap_step = sw, -(-kw // sw), 1
        grid = np.zeros((kh, sw, per_phase, o), np.float32)
        for j in range(kw):
            grid[:, j % sw, j // sw] = taps[:, j]
    weights = np.ascontiguousarray(np.broadcast_to(grid[:, :, :, None, :], grid.shape[:3] + (ow, o)))
    weights = weights.reshape(kh, phases, per_phase, ow * o)

    columns = ow + (per_phase - 1) * tap_step  # columns read in each phase
    # Input column x lands in phase (x + left) % sw at column (x + left) // sw.
    placements = []
    for phase in range(phases):
        first = (phase - pads[2]) % phases if phases > 1 else 0
        start = (first + pads[2]) // phases
        count = max(0, min(len(range(first, wd, phases)), columns - start))
        placements.append((phase, slice(first, first + (count - 1) * phases + 1, phases), slice(start, start + count)))
    # Blocks of output rows: whole images, or bands of one when there are more threads than images.
    threads = build_threads()
    band = max(1, -(-oh // max(1, threads // n)))
    blocks = []
    for image in range(n):
        for r0 in range(0, oh, band):
            r1 = min(oh, r0 + band)
            rows = (r1 - r0 - 1) * sh + (kh - 1) * dh + 1  # padded rows the band reads
            first_in = r0 * sh - pads[0]  # input row of the band's first padded row
            i0, i1 = max(0, first_in), max(0, min(h, first_in + rows))
            blocks.append((image, slice(r0, r1), rows, slice(i0, max(i0, i1)), i0 - first_in))
    bias = None if b is None else np.tile(np.asarray(b, np.float32), ow)
    epilogue = fused_activation(activation)

    def run(x: Array) -> Array:
        if multiplier > 1:
            x = np.repeat(x, multiplier, axis=3)
        out = np.empty((n, oh, ow * o), np.float32)

        def compute(start: int, stop: int) -> None:
            # A block at a time keeps its padded copy in cache between its writing and its reading.
            for image, out_rows, rows, in_rows, top in blocks[start:stop]:
                padded = scratch((rows, phases, columns, o), slot=1)
                count = in_rows.stop - in_rows.start
                padded[:top] = 0.0
                padded[top + count:] = 0.0
                body = padded[top:top + count]
                for phase, source, target in placements:
                    body[:, phase, :target.start] = 0.0
                    body[:, phase, target.stop:] = 0.0
                    body[:, phase, target] = x[image, in_rows, source]
                s_row, s_phase, s_col, s_c = padded.strides
                view = as_strided(padded, (out_rows.stop - out_rows.start, kh, phases, per_phase, ow * o),
                                  (sh * s_row, dh * s_row, s_phase, tap_step * s_col, s_c))
                acc = out[image, out_rows]
                np.einsum("aipjk,ipjk->ak", view, weights, out=acc)
                if bias is not None:
                    np.add(acc, bias, out=acc)
                if epilogue is not None:
                    epilogue(acc)

        run_split(compute, len(blocks), threads)
        return out.reshape(n, oh, ow, o)

    return run


def im2col(x: Array, kernel_hw, out_hw, strides, dilations, pads, ones_column: bool = False) -> Array:
    """[N*OH*OW, KH*KW*C] patches in (kh, kw, c) order, matching an OHWI filter reshaped to [O, KH*KW*C],
    plus a column of ones when asked (the bias then rides along in the matmul).

    The result is this thread's scratch buffer. With no horizontal dilation the KW*C values of one filter
    row are contiguous in the (padded) input, so each filter row is one strided copy.
    """
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    n, h, w, c = x.shape
    (kh, kw), (oh, ow), (sh, sw), (dh, dw) = kernel_hw, out_hw, strides, dilations
    need_h, need_w = (oh - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    if any(pads) or need_h > h or need_w > w:
        padded = scratch((n, need_h, need_w, c), slot=1)
        top, left = pads[0], pads[2]
        rows, cols = max(0, min(h, need_h - top)), max(0, min(w, need_w - left))
        padded[:, :top] = 0.0
        padded[:, top + rows:] = 0.0
        padded[:, top:top + rows, :left] = 0.0
        padded[:, top:top + rows, left + cols:] = 0.0
        padded[:, top:top + rows, left:left + cols] = x[:, :rows, :cols]
        x = padded
    depth = kh * kw * c
    buffer = scratch((n, oh, ow, depth + ones_column))
    if ones_column:
        buffer[..., depth] = 1.0
    patches = buffer[..., :depth].reshape(n, oh, ow, kh, kw * c)
    s_n, s_h, s_w, s_c = x.strides
    for i in range(kh):
        row = x[:, i * dh:]
        if dw == 1:
            patches[:, :, :, i] = as_strided(row, (n, oh, ow, kw * c), (s_n, sh * s_h, sw * s_w, s_c))
        else:
            for j in range(kw):
                patches[:, :, :, i, j * c:(j + 1) * c] = as_strided(row[:, :, j * dw:], (n, oh, ow, c),
                                                                      (s_n, sh * s_h, sw * s_w, s_c))
    return buffer.reshape(n * oh * ow, depth + ones_column)


def gemm(rows: int, weight: Array, bias: Array | None, activation: str) -> Callable[[Array], Array]:
    """a [rows, K] -> activation(a @ weight + bias).

    Built for kernel threads (see `parallel`), the product is split between them: by blocks of rows of
    about CHUNK_BYTES of result, each given its bias and activation while still in cache, or by columns
    when it has few rows (late layers, fully connected).
    """
    cols = weight.shape[1]
    epilogue = fused_activation(activation)
    bias = None if bias is None else np.asarray(bias, np.float32)
    threads = build_threads()
    by_rows = True
    if threads == 1:
        parts = [(slice(None), slice(None))]
    elif rows >= 256 * threads or cols < 64 * threads:
        chunks = min(rows, max(-(-rows * cols * 4 // CHUNK_BYTES), threads))
        step = -(-rows // chunks)
        parts = [(slice(start, start + step), slice(None)) for start in range(0, rows, step)]
    else:
        by_rows = False
        step = -(-cols // threads)
        parts = [(slice(None), slice(start, start + step)) for start in range(0, cols, step)]
    weights = [np.ascontiguousarray(weight[:, c]) for _, c in parts]
    add_bias = [None if bias is None else channel_adder(bias[c], (len(range(rows)[r]), len(range(cols)[c])))
                for r, c in parts]

    def run(a: Array) -> Array:
        y = np.empty((rows, cols), np.float32)

        def product(start: int, stop: int) -> None:
            for k in range(start, stop):
                r, c = parts[k]
                # matmul into a strided `out` (a column block) leaves BLAS for a slow loop: copy instead.
                part = y[r] if by_rows else np.empty((rows, weights[k].shape[1]), np.float32)
                np.matmul(a[r], weights[k], out=part)
                if add_bias[k] is not None:
                    add_bias[k](part)
                if epilogue is not None:
                    epilogue(part)
                if not by_rows:
                    y[:, c] = part

        run_split(product, len(parts), threads)
        return y

    return run


def dense_conv2d(x_shape, w: Array, b: Array | None, strides, dilations, pads, activation: str):
    """group == 1: im2col + matmul; a 1x1 unpadded convolution skips im2col.

    With im2col the bias rides along in the matmul as one more column of ones, written with the patches.
    A 1x1 convolution adds it afterwards: copying its input beside a ones column measured slower than
    that extra pass over the output.
    """
    n, _, _, c = x_shape
    o, kh, kw, _ = w.shape
    _, oh, ow, _ = lite.infer_conv2d(x_shape, w.shape, strides, dilations, pads)
    rows = n * oh * ow
    pointwise = (kh, kw) == (1, 1) and not any(pads)
    fold_bias = b is not None and not pointwise
    weight = w.reshape(o, kh * kw * c).T
    if fold_bias:
        weight = np.vstack([weight, np.asarray(b).reshape(1, o)])
    product = gemm(rows, np.asarray(weight, np.float32), None if fold_bias else b, activation)

    def run(x: Array) -> Array:
        if not pointwise:
            patches = im2col(x, (kh, kw), (oh, ow), strides, dilations, pads, ones_column=fold_bias)
        else:
            if strides != (1, 1):
                x = x[:, ::strides[0], ::strides[1]][:, :oh, :ow]
            patches = x.reshape(rows, c)
        return product(patches).reshape(n, oh, ow, o)

    return run


def grouped_conv2d(x_shape, w: Array, b: Array | None, strides, dilations, pads, group: int, activation: str):
    n, h, wd, c = x_shape
    o = w.shape[0]
    cg, og = c // group, o // group
    per_group = [
        dense_conv2d((n, h, wd, cg), w[g * og:(g + 1) * og], None if b is None else b[g * og:(g + 1) * og],
                     strides, dilations, pads, activation)
        for g in range(group)
    ]

    def run(x: Array) -> Array:
        return np.concatenate(
            [conv(np.ascontiguousarray(x[..., g * cg:(g + 1) * cg])) for g, conv in enumerate(per_group)], axis=3)

    return run


def conv2d(x_shape, w: Array, b: Array | None, strides, dilations, pads, group: int, activation: str = "none"):
    """A closure computing lite.conv2d on inputs of `x_shape` with this filter, bias and geometry."""
    strides, dilations, pads = tuple(strides), tuple(dilations), tuple(pads)
    if group == 1:
        return dense_conv2d(x_shape, w, b, strides, dilations, pads, activation)
    if group == x_shape[3] and w.shape[3] == 1:
        return depthwise_conv2d(x_shape, w, b, strides, dilations, pads, activation)
    return grouped_conv2d(x_shape, w, b, strides, dilations, pads, group, activation)


def conv2d_transpose(x_shape, w: Array, b: Array | None, strides, dilations, pads, output_padding, group: int,
                     activation: str = "none"):
    """Matmul every input pixel by the filter into [N, H, W, KH, KW, O/group] columns, then scatter-add
    each tap's plane into the strided output canvas (col2im) and crop the padding."""
    n, h, wd, _ = x_shape
    o, kh, kw, cg = w.shape
    og = o // group
    _, oh, ow, _ = lite.infer_conv2d_transpose(x_shape, w.shape, strides, dilations, pads, output_padding)
    canvas_h = (h - 1) * strides[0] + dilations[0] * (kh - 1) + 1 + output_padding[0]
    canvas_w = (wd - 1) * strides[1] + dilations[1] * (kw - 1) + 1 + output_padding[1]
    # [group, cg, kh*kw*og]: column (i, j, k) of group g holds filter[g*og + k, i, j, :]
    weight = np.ascontiguousarray(
        w.reshape(group, og, kh, kw, cg).transpose(0, 4, 2, 3, 1).reshape(group, cg, kh * kw * og), np.float32)
    taps = [(i, j, (slice(None), slice(i * dilations[0], i * dilations[0] + (h - 1) * strides[0] + 1, strides[0]),
                    slice(j * dilations[1], j * dilations[1] + (wd - 1) * strides[1] + 1, strides[1])))
            for i in range(kh) for j in range(kw)]
    crop = (slice(None), slice(pads[0], pads[0] + oh), slice(pads[2], pads[2] + ow))
    add_bias = channel_adder(b, (n, oh, ow, o)) if b is not None else None
    epilogue = fused_activation(activation)

    def run(x: Array) -> Array:
        grouped = x.reshape(n * h * wd, group, cg).transpose(1, 0, 2)
        cols = np.matmul(grouped, weight).reshape(group, n, h, wd, kh, kw, og)
        canvas = np.zeros((n, canvas_h, canvas_w, group, og), np.float32)
        for i, j, dst in taps:
            region = canvas[dst]
            np.add(region, cols[:, :, :, :, i, j, :].transpose(1, 2, 3, 0, 4), out=region)
        y = np.ascontiguousarray(canvas[crop]).reshape(n, oh, ow, o)
        if add_bias is not None:
            add_bias(y)
        if epilogue is not None:
            epilogue(y)
        return y

    return run


def fully_connected(rows: int, w: Array, b: Array | None, activation: str = "none"):
    """x [rows, in] -> activation(x @ w.T + b)."""
    return gemm(rows, np.asarray(w, np.float32).T, b, activation)


def _with_runtime_weights(make: Callable[[Array, Array | None], Callable[[Array], Array]]):
    """When weights are computed at run time, prepare the kernel on every call."""

    def run(x: Array, w: Array, b: Array | None = None) -> Array:
        return make(w, b)(x)

    return run


def _weights_kernel(op, const: ConstantLookup, make, weight_operand, bias_operand) -> Kernel:
    x = op.operands[0]
    w = const(weight_operand)
    b = None if bias_operand is None else const(bias_operand)
    if w is not None and (bias_operand is None or b is not None):
        return Kernel(make(w, b), [x])
    inputs = [x, weight_operand] + ([] if bias_operand is None else [bias_operand])
    return Kernel(_with_runtime_weights(make), inputs)


def build_conv2d(op: lite.Conv2DOp, const: ConstantLookup) -> Kernel:
    x_shape = lite.shape_of(op.input)
    args = (op.int_list("strides"), op.int_list("dilations"), op.int_list("pads"),
            op.properties["group"].value.data, op.str_prop("activation"))
    return _weights_kernel(op, const, lambda w, b: conv2d(x_shape, w, b, *args), op.filter, op.bias)


def build_conv2d_transpose(op: lite.Conv2DTransposeOp, const: ConstantLookup) -> Kernel:
    x_shape = lite.shape_of(op.input)
    args = (op.int_list("strides"), op.int_list("dilations"), op.int_list("pads"), op.int_list("output_padding"),
            op.properties["group"].value.data, op.str_prop("activation"))
    return _weights_kernel(op, const, lambda w, b: conv2d_transpose(x_shape, w, b, *args), op.filter, op.bias)


def build_fully_connected(op: lite.FullyConnectedOp, const: ConstantLookup) -> Kernel:
    activation, rows = op.str_prop("activation"), lite.shape_of(op.input)[0]
    return _weights_kernel(op, const, lambda w, b: fully_connected(rows, w, b, activation), op.weight, op.bias)


def build_matmul(op: lite.MatMulOp, const: ConstantLookup) -> Kernel:
    transpose_a, transpose_b = op.bool_prop("transpose_a"), op.bool_prop("transpose_b")
    rhs = const(op.rhs)
    if rhs is not None:
        rhs = np.ascontiguousarray(np.swapaxes(rhs, -1, -2) if transpose_b else rhs)

        def product(a: Array) -> Array:
            return np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a, rhs)

        return Kernel(with_activation(product, op.str_prop("activation")), [op.lhs])

    def product2(a: Array, b: Array) -> Array:
        return np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a, np.swapaxes(b, -1, -2) if transpose_b else b)

    return Kernel(with_activation(product2, op.str_prop("activation")), [op.lhs, op.rhs])


BUILDERS = {
    lite.Conv2DOp: build_conv2d,
    lite.Conv2DTransposeOp: build_conv2d_transpose,
    lite.FullyConnectedOp: build_fully_connected,
    lite.MatMulOp: build_matmul,
}
