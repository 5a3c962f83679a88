"""Network ONNX ops: convolutions, dense layers, pooling, normalisation and resizing.

Spatial ops take their 4-D input channels-last and leave their result channels-last; weights are
rearranged with numpy at import (OIHW -> OHWI)."""

from __future__ import annotations

import numpy as np
from xdsl.ir import SSAValue

from quantopt.dialects import lite
from quantopt.dialects.lite import shape_of
from quantopt.frontends.onnx_graph import TO_NHWC, ConversionError, GraphBuilder, OnnxNode, normalize_axis

SAME_PADDING = ("SAME_UPPER", "SAME_LOWER")


def input_4d(b: GraphBuilder, node: OnnxNode, what: str) -> tuple[int, ...]:
    shape = b.shape(node.input(0))
    if len(shape) != 4:
        raise ConversionError(f"only 2-D {what} on 4-D NCHW input is supported, got input shape {list(shape)}")
    return shape


def spatial_pads(node: OnnxNode, in_hw, kernel, strides, dilations) -> list[int]:
    """Padding as lite wants it: (top, bottom, left, right)."""
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad == "NOTSET":
        p = node.ints("pads", [0, 0, 0, 0])
        if len(p) != 4 or min(p) < 0:
            raise ConversionError(f"unsupported pads={p}")
        return [p[0], p[2], p[1], p[3]]
    if auto_pad == "VALID":
        return [0, 0, 0, 0]
    if auto_pad not in SAME_PADDING:
        raise ConversionError(f"unsupported auto_pad={auto_pad!r}")
    pads = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        small, big = total // 2, total - total // 2
        pads += [small, big] if auto_pad == "SAME_UPPER" else [big, small]
    return pads


def window(node: OnnxNode, kernel) -> tuple[list[int], list[int]]:
    strides = node.ints("strides", [1, 1])
    dilations = node.ints("dilations", [1, 1])
    if len(kernel) != 2 or len(strides) != 2 or len(dilations) != 2:
        raise ConversionError(f"only 2-D windows are supported, got kernel_shape {list(kernel)}")
    if min(*kernel, *strides, *dilations) < 1:
        raise ConversionError(f"kernel_shape {list(kernel)}, strides {strides} and dilations {dilations} must be "
                              "positive")
    return strides, dilations


def filter_kernel(b: GraphBuilder, node: OnnxNode, w_name: str) -> list[int]:
    kernel = list(b.shape(w_name)[2:])
    if node.ints("kernel_shape", kernel) != kernel:
        raise ConversionError(f"kernel_shape {node.ints('kernel_shape')} differs from the weight shape")
    return kernel


def optional_plain(b: GraphBuilder, name: str) -> SSAValue | None:
    return b.plain(name) if name else None


def convert_conv(b: GraphBuilder, node: OnnxNode) -> None:
    x_shape = input_4d(b, node, "convolution")
    w_name = node.input(1)
    kernel = filter_kernel(b, node, w_name)
    strides, dilations = window(node, kernel)
    pads = spatial_pads(node, x_shape[2:], kernel, strides, dilations)
    w = b.const(w_name)
    ohwi = b.constant(w.transpose(TO_NHWC), w_name) if w is not None else b.transpose(b.plain(w_name), TO_NHWC)
    op = lite.Conv2DOp(b.nhwc(node.input(0)), ohwi, optional_plain(b, node.input(2)), strides, dilations, pads,
                       node.attr("group", 1))
    b.define(node.outputs[0], b.emit(op).output, channels_last=True)


def conv_transpose_filter(b: GraphBuilder, name: str, group: int) -> SSAValue:
    """ONNX [Cin, Cout/g, kh, kw] -> lite [Cout, kh, kw, Cin/g]: new[g·Cout_g + co, :, :, ci] = W[g·Cin_g + ci, co]"""
    cin, cout_g, kh, kw = b.shape(name)
    grouped = (group, cin // group, cout_g, kh, kw)
    perm = (0, 2, 3, 4, 1)
    lite_shape = (group * cout_g, kh, kw, cin // group)
    w = b.const(name)
    if w is not None:
        return b.constant(w.reshape(grouped).transpose(perm).reshape(lite_shape), name)
    return b.reshape(b.transpose(b.reshape(b.plain(name), grouped), perm), lite_shape)


def conv_transpose_pads(node: OnnxNode, in_hw, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    """(pads (top, bottom, left, right), output_padding) when the output shape is given or implied by SAME_*:
    the odd pixel of padding goes at the end for SAME_UPPER, at the start otherwise (ONNX spec, onnxruntime);
    an output larger than the unpadded result grows at the end."""
    auto_pad = node.attr("auto_pad", "NOTSET")
    output_shape = node.ints("output_shape")
    output_padding = node.ints("output_padding", [0, 0])
    if output_shape is None and auto_pad not in SAME_PADDING:
        return spatial_pads(node, in_hw, kernel, strides, dilations), output_padding
    targets = output_shape[-2:] if output_shape is not None else [n * s for n, s in zip(in_hw, strides)]
    pads, grown = [], []
    for size, k, s, d, extra, target in zip(in_hw, kernel, strides, dilations, output_padding, targets):
        total = s * (size - 1) + extra + (k - 1) * d + 1 - target
        grown.append(extra - min(total, 0))
        total = max(total, 0)
        small, big = total // 2, total - total // 2
        pads += [small, big] if auto_pad == "SAME_UPPER" else [big, small]
    return pads, grown


def convert_conv_transpose(b: GraphBuilder, node: OnnxNode) -> None:
    x_shape = input_4d(b, node, "transposed convolution")
    w_name = node.input(1)
    group = node.attr("group", 1)
    kernel = filter_kernel(b, node, w_name)
    strides, dilations = window(node, kernel)
    if b.shape(w_name)[0] != x_shape[1] or x_shape[1] % group:
        raise ConversionError(f"weight shape {list(b.shape(w_name))} does not fit input {list(x_shape)}")
    pads, output_padding = conv_transpose_pads(node, x_shape[2:], kernel, strides, dilations)
    op = lite.Conv2DTransposeOp(b.nhwc(node.input(0)), conv_transpose_filter(b, w_name, group),
                                optional_plain(b, node.input(2)), strides, dilations, pads, output_padding, group)
    b.define(node.outputs[0], b.emit(op).output, channels_last=True)


def gemm_bias(c: np.ndarray | None, beta: float, n: int) -> np.ndarray | None:
    """beta·C as a fully_connected bias when C is a row vector (or scalar) over the N outputs."""
    if c is None or not (c.size == 1 or (c.size == n and c.shape[-1] == n)):
        return None
    return np.broadcast_to((beta * c.astype(np.float32)).reshape(-1), (n,))


def convert_gemm(b: GraphBuilder, node: OnnxNode) -> None:
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    trans_a, trans_b = bool(node.attr("transA", 0)), bool(node.attr("transB", 0))
    a_name, b_name, c_name = node.input(0), node.input(1), node.input(2) if beta != 0 else ""
    if len(b.shape(a_name)) != 2 or len(b.shape(b_name)) != 2:
        raise ConversionError("A and B must be 2-D")
    w = b.const(b_name)
    if w is None:
        out = b.emit(lite.MatMulOp(b.plain(a_name), b.plain(b_name), trans_a, trans_b)).output
        if alpha != 1:
            out = b.emit(lite.MulOp(out, b.constant(np.array(alpha, np.float32)))).output
        bias = None
    else:
        a = b.transpose(b.plain(a_name), (1, 0)) if trans_a else b.plain(a_name)
        weight = (w if trans_b else w.T).astype(np.float32, copy=False)
        weight = weight * np.float32(alpha) if alpha != 1 else weight
        bias = gemm_bias(b.const(c_name), beta, weight.shape[0])
        bias_value = None if bias is None else b.constant(bias, c_name)
        out = b.emit(lite.FullyConnectedOp(a, b.constant(weight, b_name), bias_value)).output
    if c_name and bias is None:
        c = b.const(c_name)
        if c is not None:
            term = b.constant(beta * c.astype(np.float32), c_name)
        else:
            term = b.plain(c_name)
            if beta != 1:
                term = b.emit(lite.MulOp(term, b.constant(np.array(beta, np.float32)))).output
        out = b.emit(lite.AddOp(out, term)).output
    b.define(node.outputs[0], out)


def convert_matmul(b: GraphBuilder, node: OnnxNode) -> None:
    a_name, b_name = node.input(0), node.input(1)
    a_shape, b_shape = b.shape(a_name), b.shape(b_name)
    if not a_shape or not b_shape:
        raise ConversionError(f"cannot multiply shapes {list(a_shape)} and {list(b_shape)}: one is a scalar")
    w = b.const(b_name)
    if w is not None and w.ndim == 2 and len(a_shape) == 2:
        op = lite.FullyConnectedOp(b.plain(a_name), b.constant(w.T, b_name))
        return b.define(node.outputs[0], b.emit(op).output)
    lhs, rhs = b.plain(a_name), b.plain(b_name)
    if len(a_shape) == 1:
        lhs = b.reshape(lhs, (1, a_shape[0]))
    if len(b_shape) == 1:
        rhs = b.reshape(rhs, (b_shape[0], 1))
    out = b.emit(lite.MatMulOp(lhs, rhs)).output
    shape = list(shape_of(out))
    if len(b_shape) == 1:
        del shape[-1]
    if len(a_shape) == 1:
        del shape[-1 if len(b_shape) == 1 else -2]
    b.define(node.outputs[0], b.reshape(out, shape))


def pool(op_class: type[lite._PoolOp], **extra):
    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        x_shape = input_4d(b, node, "pooling")
        kernel = node.ints("kernel_shape")
        if kernel is None:
            raise ConversionError("missing kernel_shape")
        strides, dilations = window(node, kernel)
        if dilations != [1, 1]:
            raise ConversionError(f"unsupported dilations={dilations}")
        if len(node.outputs) > 1 and node.outputs[1] in b.used:
            raise ConversionError("the Indices output is not supported")
        node.reject_attr("storage_order", 0, 0)
        pads = spatial_pads(node, x_shape[2:], kernel, strides, dilations)
        options = {name: bool(node.attr(attr, 0)) for name, attr in extra.items()}
        op = op_class(b.nhwc(node.input(0)), kernel, strides, pads, bool(node.attr("ceil_mode", 0)), **options)
        b.define(node.outputs[0], b.emit(op).output, channels_last=True)

    return convert


def global_pool(op_class: type[lite._PoolOp], mode: str):
    """Pooling with the whole H×W as kernel (as MindSpore Lite does); reduce for other ranks."""

    def convert(b: GraphBuilder, node: OnnxNode) -> None:
        x = node.input(0)
        shape = b.shape(x)
        if len(shape) == 4:
            op = op_class(b.nhwc(x), shape[2:], (1, 1), (0, 0, 0, 0))
            return b.define(node.outputs[0], b.emit(op).output, channels_last=True)
        if len(shape) < 3:
            raise ConversionError(f"input shape {list(shape)} has no spatial dimensions")
        op = lite.ReduceOp(b.plain(x), mode, range(2, len(shape)), True)
        b.define(node.outputs[0], b.emit(op).output)

    return convert


def convert_batch_norm(b: GraphBuilder, node: OnnxNode) -> None:
    node.reject_attr("training_mode", 0, 0)
    node.reject_attr("spatial", 1, 1)
    if any(out in b.used for out in node.outputs[1:]):
        raise ConversionError("training outputs (running mean/variance) are not supported")
    x = node.input(0)
    shape = b.shape(x)
    params = [b.plain(name) for name in node.inputs[1:5]]
    epsilon = node.attr("epsilon", 1e-5)
    if len(shape) == 4:
        op = lite.BatchNormOp(b.nhwc(x), *params, epsilon)
        return b.define(node.outputs[0], b.emit(op).output, channels_last=True)
    if len(shape) == 2:
        return b.define(node.outputs[0], b.emit(lite.BatchNormOp(b.plain(x), *params, epsilon)).output)
    if len(shape) < 2:
        raise ConversionError(f"input shape {list(shape)} has no channel dimension")
    to_last = (0, *range(2, len(shape)), 1)
    back = (0, len(shape) - 1, *range(1, len(shape) - 1))
    y = b.emit(lite.BatchNormOp(b.transpose(b.plain(x), to_last), *params, epsilon)).output
    b.define(node.outputs[0], b.transpose(y, back))


def convert_lrn(b: GraphBuilder, node: OnnxNode) -> None:
    input_4d(b, node, "LRN")
    op = lite.LRNOp(b.nhwc(node.input(0)), node.attr("size"), node.attr("alpha", 1e-4), node.attr("beta", 0.75),
                    node.attr("bias", 1.0))
    b.define(node.outputs[0], b.emit(op).output, channels_last=True)


RESIZE_COORDINATE_MODES = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel")
RESIZE_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def resize_output_size(b: GraphBuilder, node: OnnxNode, shape) -> list[int]:
    axes = [normalize_axis(a, len(shape), "axes") for a in node.ints("axes", range(len(shape)))]
    scales_name, sizes_name = node.input(2), node.input(3)
    sizes = b.require_const(sizes_name, "sizes").reshape(-1) if sizes_name else None
    scales = b.require_const(scales_name, "scales").reshape(-1) if scales_name else None
    out = list(shape)
    if sizes is not None and sizes.size:
        for axis, size in zip(axes, sizes):
            out[axis] = int(size)
        return out
    if scales is None or not scales.size:
        raise ConversionError("neither scales nor sizes given")
    for axis, scale in zip(axes, scales.astype(np.float32)):
        exact = np.float32(shape[axis]) * scale
        if not np.isfinite(exact):
            raise ConversionError(f"scale {float(scale)} does not give a size")
        out[axis] = int(np.floor(exact))
        # lite.resize carries sizes only; the executor then scales by out/in, which equals `scale` only here
        if abs(float(exact) - out[axis]) > 1e-4 * max(1, out[axis]):
            raise ConversionError(f"scale {float(scale)} does not map size {shape[axis]} to a whole size")
    return out


def convert_resize(b: GraphBuilder, node: OnnxNode) -> None:
    if node.opset < 11:
        raise ConversionError("Resize before opset 11 is not supported")
    shape = input_4d(b, node, "resize")
    mode = node.attr("mode", "nearest")
    coordinate_mode = node.attr("coordinate_transformation_mode", "half_pixel")
    nearest_mode = node.attr("nearest_mode", "round_prefer_floor")
    if mode not in ("nearest", "linear"):
        raise ConversionError(f"unsupported mode={mode!r}")
    if coordinate_mode not in RESIZE_COORDINATE_MODES:
        raise ConversionError(f"unsupported coordinate_transformation_mode={coordinate_mode!r}")
    if nearest_mode not in RESIZE_NEAREST_MODES:
        raise ConversionError(f"unsupported nearest_mode={nearest_mode!r}")
    node.reject_attr("antialias", 0, 0)
    node.reject_attr("exclude_outside", 0, 0)
    node.reject_attr("keep_aspect_ratio_policy", "stretch", "stretch")
    out = resize_output_size(b, node, shape)
    if out[:2] != list(shape[:2]):
        raise ConversionError(f"only H and W may be resized, got {list(shape)} -> {out}")
    op = lite.ResizeOp(b.nhwc(node.input(0)), out[2:], mode, coordinate_mode, nearest_mode)
    b.define(node.outputs[0], b.emit(op).output, channels_last=True)


NN_CONVERTERS = {
    "Conv": convert_conv,
    "ConvTranspose": convert_conv_transpose,
    "Gemm": convert_gemm,
    "MatMul": convert_matmul,
    "MaxPool": pool(lite.MaxPoolOp),
    "AveragePool": pool(lite.AvgPoolOp, count_include_pad="count_include_pad"),
    "GlobalAveragePool": global_pool(lite.AvgPoolOp, "mean"),
    "GlobalMaxPool": global_pool(lite.MaxPoolOp, "max"),
    "BatchNormalization": convert_batch_norm,
    "LRN": convert_lrn,
    "Resize": convert_resize,
}
