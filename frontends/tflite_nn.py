"""TFLite network ops: convolutions, dense layers, pooling, resizing.

TFLite is NHWC with OHWI convolution filters, like `lite`, so only depthwise filters are re-laid out.
Padding follows TFLite's `ComputePaddingHeightWidth`: the output size comes from the padding kind
(SAME: ceil(in / stride), VALID: ceil((in - effective_kernel + 1) / stride)), the total padding is whatever
that output needs, and the odd pixel goes to the bottom / right.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from functools import partial

from xdsl.ir import Operation, SSAValue

from quantopt.dialects import lite
from quantopt.frontends.tflite_graph import GraphBuilder
from quantopt.frontends.tflite_model import ConversionError, Operator

SAME, VALID = 0, 1
FUSED_ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh", 5: "sign_bit"}


def activation(g: GraphBuilder, value: SSAValue, name: str) -> SSAValue:
    """A standalone activation op named like TFLite's fused activations."""
    if name == "none":
        return value
    if name == "relu_n1_to_1":
        return g.emit_value(lite.ClipOp(value, -1.0, 1.0))
    if name in ("relu", "relu6"):
        return g.emit_value(lite.ActivationOp(value, name))
    # LiteRT's kernels silently skip a fused TANH or SIGN_BIT outside recurrent ops (their activation range
    # is unbounded), so neither applying nor dropping it is a faithful import.
    raise ConversionError(f"fused activation {name.upper()} is not supported")


def fused_activation(options) -> str:
    code = options.fused_activation_function
    if code not in FUSED_ACTIVATIONS:
        raise ConversionError(f"unknown fused activation {code}")
    return FUSED_ACTIVATIONS[code]


def with_activation(g: GraphBuilder, name: str, build: Callable[[str], Operation]) -> SSAValue:
    """Build an op that fuses none/relu/relu6 itself; other fused activations become a following op."""
    if name in lite.FUSABLE_ACTIVATIONS:
        return g.emit_value(build(name))
    return activation(g, g.emit_value(build("none")), name)


def output_size(padding: int, size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    effective = (kernel - 1) * dilation + 1
    if padding == SAME:
        return (size + stride - 1) // stride
    if padding == VALID:
        return (size - effective + stride) // stride
    raise ConversionError(f"unknown padding {padding}")


def padding_pair(padding: int, size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, TFLite's way."""
    out = output_size(padding, size, kernel, stride, dilation)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def spatial_pads(padding: int, in_hw: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                 dilations: Sequence[int] = (1, 1)) -> list[int]:
    """lite pads (top, bottom, left, right)."""
    top, bottom = padding_pair(padding, in_hw[0], kernel[0], strides[0], dilations[0])
    left, right = padding_pair(padding, in_hw[1], kernel[1], strides[1], dilations[1])
    return [top, bottom, left, right]


def check_window(strides: Sequence[int], dilations: Sequence[int] = (1, 1)) -> None:
    if min(*strides, *dilations) < 1:
        raise ConversionError(f"strides {list(strides)} and dilations {list(dilations)} must be positive")


def rank4(g: GraphBuilder, index: int, what: str) -> tuple[int, ...]:
    shape = g.shape(index)
    if len(shape) != 4:
        raise ConversionError(f"{what} must be 4-D, got shape {list(shape)}")
    return shape


def conv_2d(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("Conv2DOptions")
    x, w = rank4(g, op.input(0), "input"), rank4(g, op.input(1), "filter")
    strides, dilations = [o.stride_h, o.stride_w], [o.dilation_h_factor, o.dilation_w_factor]
    check_window(strides, dilations)
    if w[3] < 1 or x[3] % w[3]:
        raise ConversionError(f"filter input channels {w[3]} do not divide input channels {x[3]}")
    pads = spatial_pads(o.padding, x[1:3], w[1:3], strides, dilations)
    inputs = g.value(op.input(0)), g.value(op.input(1)), g.optional_value(op.input(2))
    group = x[3] // w[3]
    return [with_activation(g, fused_activation(o), partial(lite.Conv2DOp, *inputs, strides, dilations, pads, group))]


DEPTHWISE_TO_OHWI = (3, 1, 2, 0)
"""[1, kh, kw, C * multiplier] -> [C * multiplier, kh, kw, 1]: output channel c * multiplier + m reads input c."""


def depthwise_conv_2d(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    # The depth_multiplier option is redundant (and wrong in some files): TFLite derives it from the shapes.
    o = op.options("DepthwiseConv2DOptions")
    x, w = rank4(g, op.input(0), "input"), rank4(g, op.input(1), "filter")
    if w[0] != 1 or x[3] < 1 or w[3] % x[3]:
        raise ConversionError(f"depthwise filter {list(w)} does not fit {x[3]} input channels")
    strides, dilations = [o.stride_h, o.stride_w], [o.dilation_h_factor, o.dilation_w_factor]
    check_window(strides, dilations)
    pads = spatial_pads(o.padding, x[1:3], w[1:3], strides, dilations)
    inputs = g.value(op.input(0)), g.permuted(op.input(1), DEPTHWISE_TO_OHWI), g.optional_value(op.input(2))
    return [with_activation(g, fused_activation(o), partial(lite.Conv2DOp, *inputs, strides, dilations, pads, x[3]))]


def transposed_pads(pad_before: Sequence[int], in_hw, out_hw, kernel, strides) -> tuple[list[int], list[int]]:
    """lite pads and output_padding that crop the full transposed convolution to `out_hw` from `pad_before`.

    The full result of a transposed convolution has (in - 1) * stride + kernel rows; TFLite keeps rows
    pad_before .. pad_before + out - 1 of it, reading zeros (plus bias) past its end."""
    pads, output_padding = [], []
    for before, size_in, size_out, k, s in zip(pad_before, in_hw, out_hw, kernel, strides):
        after = (size_in - 1) * s + k - before - size_out
        pads += [before, max(after, 0)]
        output_padding.append(max(-after, 0))
    return pads, output_padding


def transpose_conv(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("TransposeConvOptions")
    w, x = rank4(g, op.input(1), "filter"), rank4(g, op.input(2), "input")
    out_shape = g.ints(op.input(0)) if g.is_constant(op.input(0)) else list(g.tensor(op.outputs[0]).shape)
    strides = [o.stride_h, o.stride_w]
    check_window(strides)
    if len(out_shape) != 4 or out_shape[0] != x[0] or out_shape[3] != w[0]:
        raise ConversionError(f"output_shape {out_shape} does not fit input {list(x)} and filter {list(w)}")
    # TFLite pads as if convolving the output back to the input.
    pad_before = [padding_pair(o.padding, out_shape[i + 1], w[i + 1], strides[i])[0] for i in range(2)]
    pads, output_padding = transposed_pads(pad_before, x[1:3], out_shape[1:3], w[1:3], strides)
    return [conv_transpose(g, op, fused_activation(o), strides, pads, output_padding)]


def conv_transpose(g: GraphBuilder, op: Operator, activation_name: str, strides, pads, output_padding,
                   x_input: int = 2, w_input: int = 1, bias_input: int = 3) -> SSAValue:
    x, w = g.shape(op.input(x_input)), g.shape(op.input(w_input))
    if x[3] != w[3]:
        raise ConversionError(f"filter {list(w)} does not fit {x[3]} input channels")
    inputs = g.value(op.input(x_input)), g.value(op.input(w_input)), g.optional_value(op.input(bias_input))
    return with_activation(g, activation_name, partial(lite.Conv2DTransposeOp, *inputs, strides, [1, 1], pads,
                                                       output_padding, 1))


MEDIAPIPE_PADDING = {1: SAME, 2: VALID}


def mediapipe_transpose_conv_bias(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    """MediaPipe's `Convolution2DTransposeBias`: inputs (x, weights [Cout, kh, kw, Cin], bias).

    Its custom options are a TfLiteTransposeConvParams: int32 padding (1 SAME, 2 VALID), stride_w,
    stride_h. SAME removes max(0, k - (in - 1) % stride - 1) rows, the smaller half on top."""
    if len(op.custom_options) < 12:
        raise ConversionError(f"custom options hold {len(op.custom_options)} bytes, expected 12")
    padding, stride_w, stride_h = struct.unpack_from("<3i", op.custom_options)
    if padding not in MEDIAPIPE_PADDING:
        raise ConversionError(f"unknown padding {padding}")
    x, w = rank4(g, op.input(0), "input"), rank4(g, op.input(1), "filter")
    strides = [stride_h, stride_w]
    check_window(strides)
    pads = []
    for size, k, s in zip(x[1:3], w[1:3], strides):
        total = max(0, k - (size - 1) % s - 1) if MEDIAPIPE_PADDING[padding] == SAME else 0
        pads += [total // 2, total - total // 2]
    return [conv_transpose(g, op, "none", strides, pads, [0, 0], x_input=0, w_input=1, bias_input=2)]


def fully_connected(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("FullyConnectedOptions")
    if o.weights_format != 0:
        raise ConversionError(f"weights_format {o.weights_format} (shuffled weights) is not supported")
    x, w = g.shape(op.input(0)), g.shape(op.input(1))
    if len(w) != 2 or not x or w[1] < 1 or math.prod(x) % w[1]:
        raise ConversionError(f"input {list(x)} does not fit weights {list(w)}")
    rows = math.prod(x) // w[1]
    value = g.value(op.input(0))
    if x != (rows, w[1]):
        value = g.emit_value(lite.ReshapeOp(value, (rows, w[1])))
    inputs = value, g.value(op.input(1)), g.optional_value(op.input(2))
    y = with_activation(g, fused_activation(o), partial(lite.FullyConnectedOp, *inputs))
    if o.keep_num_dims and len(x) != 2:
        y = g.emit_value(lite.ReshapeOp(y, (*x[:-1], w[0])))
    return [y]


def batch_matmul(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("BatchMatMulOptions")
    return [g.emit_value(lite.MatMulOp(g.value(op.input(0)), g.value(op.input(1)), bool(o.adj_x), bool(o.adj_y)))]


def pool(kind: type[lite.MaxPoolOp] | type[lite.AvgPoolOp]):
    def convert(g: GraphBuilder, op: Operator) -> list[SSAValue]:
        o = op.options("Pool2DOptions")
        x = rank4(g, op.input(0), "input")
        kernel, strides = [o.filter_height, o.filter_width], [o.stride_h, o.stride_w]
        if min(kernel + strides) < 1:
            raise ConversionError(f"filter {kernel} and strides {strides} must be positive")
        pads = spatial_pads(o.padding, x[1:3], kernel, strides)
        value = g.value(op.input(0))
        # TFLite's average pool divides by the number of real (unpadded) inputs in the window.
        return [with_activation(g, fused_activation(o), partial(kind, value, kernel, strides, pads, False))]

    return convert


def resize_size(g: GraphBuilder, op: Operator) -> list[int]:
    size = g.ints(op.input(1)) if g.is_constant(op.input(1)) else list(g.tensor(op.outputs[0]).shape[1:3])
    if len(size) != 2 or min(size) < 1:
        raise ConversionError(f"size must be two positive integers, got {size}")
    return size


def resize_bilinear(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    o = op.options("ResizeBilinearOptions")
    rank4(g, op.input(0), "input")
    if o.align_corners and o.half_pixel_centers:
        raise ConversionError("align_corners together with half_pixel_centers is not supported")
    mode = "align_corners" if o.align_corners else "half_pixel" if o.half_pixel_centers else "asymmetric"
    return [g.emit_value(lite.ResizeOp(g.value(op.input(0)), resize_size(g, op), "linear", mode))]


def resize_nearest_neighbor(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    # TFLite picks floor(dst * in / out), floor((dst + 0.5) * in / out) with half_pixel_centers (which is
    # half_pixel rounded up: floor(((dst + 0.5) * in / out - 0.5) + 0.5)), or round(dst * (in-1)/(out-1)),
    # halves up, with align_corners.
    o = op.options("ResizeNearestNeighborOptions")
    rank4(g, op.input(0), "input")
    if o.align_corners and o.half_pixel_centers:
        raise ConversionError("align_corners together with half_pixel_centers is not supported")
    if o.align_corners:
        mode, rounding = "align_corners", "round_prefer_ceil"
    elif o.half_pixel_centers:
        mode, rounding = "half_pixel", "round_prefer_ceil"
    else:
        mode, rounding = "asymmetric", "floor"
    return [g.emit_value(lite.ResizeOp(g.value(op.input(0)), resize_size(g, op), "nearest", mode, rounding))]


def local_response_normalization(g: GraphBuilder, op: Operator) -> list[SSAValue]:
    # TFLite sums squares over [c - radius, c + radius] and scales by alpha; ONNX (lite.lrn) takes the
    # window size and divides alpha by it.
    o = op.options("LocalResponseNormalizationOptions")
    rank4(g, op.input(0), "input")
    size = 2 * o.radius + 1
    return [g.emit_value(lite.LRNOp(g.value(op.input(0)), size, o.alpha * size, o.beta, o.bias))]


NN_CONVERTERS = {
    "CONV_2D": conv_2d,
    "DEPTHWISE_CONV_2D": depthwise_conv_2d,
    "TRANSPOSE_CONV": transpose_conv,
    "Convolution2DTransposeBias": mediapipe_transpose_conv_bias,
    "FULLY_CONNECTED": fully_connected,
    "BATCH_MATMUL": batch_matmul,
    "MAX_POOL_2D": pool(lite.MaxPoolOp),
    "AVERAGE_POOL_2D": pool(lite.AvgPoolOp),
    "RESIZE_BILINEAR": resize_bilinear,
    "RESIZE_NEAREST_NEIGHBOR": resize_nearest_neighbor,
    "LOCAL_RESPONSE_NORMALIZATION": local_response_normalization,
}
