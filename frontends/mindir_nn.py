"""Network MindIR ops: convolution, pooling, batch norm, dense layers and bias.

Spatial ops take their 4-D input channels-last and leave their result channels-last; weights are
rearranged with numpy at import (OIHW -> OHWI). MindSpore writes windows of NCHW ops as 4-tuples
(N, C, H, W) or 2-tuples (H, W), and explicit padding as (top, bottom, left, right).
"""

from __future__ import annotations

from typing import Any

from quantopt.dialects import lite
from quantopt.frontends.mindir_graph import TO_NHWC, GraphBuilder, MindirNode, Tensor, TupleValue, arg
from quantopt.frontends.mindir_values import ConversionError

PAD_MODES = {0: "pad", 1: "same", 2: "valid"}  # MindSpore's PadMode enum
FORMATS = {0: "NCHW", 1: "NHWC"}  # MindSpore's Format enum, as primitive-function arguments carry it


def data_format(value: Any) -> str:
    fmt = FORMATS.get(value, value) if isinstance(value, int) else str(value).upper()
    if fmt not in ("NCHW", "NHWC"):
        raise ConversionError(f"unsupported data format {value!r}")
    return fmt


def require_nchw(node: MindirNode, attr: str = "format") -> None:
    fmt = data_format(node.attrs.get(attr, "NCHW"))
    if fmt != "NCHW":
        raise ConversionError(f"only the NCHW format is supported, got {fmt}")


def pad_mode(node: MindirNode) -> str:
    value = node.attrs.get("pad_mode", "valid")
    mode = PAD_MODES.get(value) if isinstance(value, int) else str(value).lower()
    if mode not in ("pad", "same", "valid"):
        raise ConversionError(f"unsupported pad_mode {value!r}")
    return mode


def spatial(value: Any, what: str) -> list[int]:
    """(H, W) of a window attribute given as an int, (H, W) or (N, C, H, W)."""
    values = [value] * 2 if isinstance(value, int) else [int(v) for v in value]
    if len(values) == 4:
        values = values[2:]
    if len(values) != 2 or min(values) < 1:
        raise ConversionError(f"unsupported {what} {value!r}")
    return values


def same_pads(in_hw, kernel, strides, dilations) -> list[int]:
    """SAME padding: the output is ceil(in / stride), the extra pixel goes to the bottom and right."""
    pads = []
    for size, k, s, d in zip(in_hw, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        pads += [total // 2, total - total // 2]
    return pads


def window_pads(node: MindirNode, in_hw, kernel, strides, dilations) -> list[int]:
    mode = pad_mode(node)
    if mode == "valid":
        return [0, 0, 0, 0]
    if mode == "same":
        return same_pads(in_hw, kernel, strides, dilations)
    pads = node.attrs.get("pad", node.attrs.get("pad_list", 0))
    pads = [pads] * 4 if isinstance(pads, int) else [int(p) for p in pads]
    if len(pads) != 4 or min(pads) < 0:
        raise ConversionError(f"unsupported pad {pads!r}")
    return pads


def input_4d(b: GraphBuilder, value: Any, what: str) -> tuple[int, ...]:
    shape = b.shape(value)
    if len(shape) != 4:
        raise ConversionError(f"{what} needs a 4-D NCHW input, got shape {list(shape)}")
    return shape


def convert_conv2d(b: GraphBuilder, node: MindirNode) -> Tensor:
    x, w = b.get(node.inputs[0]), b.get(node.inputs[1])
    x_shape = input_4d(b, x, "Conv2D")
    require_nchw(node)
    weight = b.array(w, "the weight")
    if weight.ndim != 4:
        raise ConversionError(f"the weight must be 4-D [out, in/group, kh, kw], got {list(weight.shape)}")
    kernel = list(weight.shape[2:])
    if "kernel_size" in node.attrs and spatial(node.attrs["kernel_size"], "kernel_size") != kernel:
        raise ConversionError(f"kernel_size {node.attrs['kernel_size']} differs from the weight shape")
    strides = spatial(node.attrs.get("stride", 1), "stride")
    dilations = spatial(node.attrs.get("dilation", 1), "dilation")
    pads = window_pads(node, x_shape[2:], kernel, strides, dilations)
    group = int(node.attrs.get("group", node.attrs.get("groups", 1)))
    filter_ohwi = b.constant(weight.transpose(TO_NHWC), b.hint(w))
    op = b.emit(lite.Conv2DOp(b.nhwc(x), filter_ohwi, None, strides, dilations, pads, group))
    return Tensor(op.output, channels_last=True)


def pool_converter(op_class: type[lite._PoolOp]):
    def convert(b: GraphBuilder, node: MindirNode) -> Tensor:
        x = b.get(node.inputs[0])
        x_shape = input_4d(b, x, node.op_type)
        require_nchw(node, "format" if "format" in node.attrs else "data_format")
        kernel = spatial(node.attrs.get("kernel_size", 1), "kernel_size")
        strides = spatial(node.attrs.get("strides", 1), "strides")
        pads = window_pads(node, x_shape[2:], kernel, strides, [1, 1])
        op = b.emit(op_class(b.nhwc(x), kernel, strides, pads))
        return Tensor(op.output, channels_last=True)

    return convert


def convert_batch_norm(b: GraphBuilder, node: MindirNode) -> TupleValue:
    """Inference BatchNorm; of its five outputs only the normalised tensor (item 0) is available."""
    x = b.get(node.inputs[0])
    if arg(b, node, 5, "is_training", False):
        raise ConversionError("only inference (is_training=False) is supported")
    epsilon = float(arg(b, node, 6, "epsilon", 1e-5))
    fmt = data_format(arg(b, node, 8, "data_format", node.attrs.get("format", "NCHW")))
    rank = len(b.shape(x))
    if rank == 4 and fmt != "NCHW":
        raise ConversionError(f"only the NCHW format is supported, got {fmt}")
    if rank not in (2, 4):
        raise ConversionError(f"needs a 2-D or 4-D input, got shape {list(b.shape(x))}")
    params = [b.get(name) for name in node.inputs[1:5]]
    channels = b.shape(x)[1]
    for what, p in zip(("scale", "offset", "mean", "variance"), params):
        if b.array(p, f"the {what}").shape != (channels,):
            raise ConversionError(f"the {what} must have shape [{channels}]")
    data = b.nhwc(x) if rank == 4 else b.plain(x)
    op = b.emit(lite.BatchNormOp(data, *[b.materialize(p) for p in params], epsilon))
    return TupleValue((Tensor(op.output, channels_last=rank == 4),))


def convert_matmul(b: GraphBuilder, node: MindirNode) -> Tensor:
    x, w = b.get(node.inputs[0]), b.get(node.inputs[1])
    transpose_a = bool(arg(b, node, 2, "transpose_a", node.attrs.get("transpose_x1", False)))
    transpose_b = bool(arg(b, node, 3, "transpose_b", node.attrs.get("transpose_x2", False)))
    for what, value in (("input", x), ("weight", w)):
        if not 2 <= len(b.shape(value)) <= 6:
            raise ConversionError(f"the {what} of shape {list(b.shape(value))} is not a matrix or a batch of them")
    if not isinstance(w, Tensor) and len(b.shape(w)) == 2 and len(b.shape(x)) == 2 and not transpose_a:
        weight = b.array(w, "the weight")
        weight_out_in = b.materialize(w) if transpose_b else b.constant(weight.T, b.hint(w))
        op = b.emit(lite.FullyConnectedOp(b.plain(x), weight_out_in))
    else:
        op = b.emit(lite.MatMulOp(b.plain(x), b.plain(w), transpose_a, transpose_b))
    return Tensor(op.output)


def convert_dense(b: GraphBuilder, node: MindirNode) -> Tensor:
    """Dense(x, w[out, in], b): x · wᵀ + b."""
    x, w = b.get(node.inputs[0]), b.get(node.inputs[1])
    bias = b.get(node.inputs[2]) if len(node.inputs) > 2 else None
    if len(b.shape(x)) != 2 or len(b.shape(w)) != 2:
        raise ConversionError(f"only 2-D input and weight are supported, got {list(b.shape(x))} and "
                              f"{list(b.shape(w))}")
    bias_value = None if bias is None or not node.attrs.get("has_bias", True) else b.materialize(bias)
    op = b.emit(lite.FullyConnectedOp(b.plain(x), b.plain(w), bias_value))
    return Tensor(op.output)


def convert_bias_add(b: GraphBuilder, node: MindirNode) -> Tensor:
    x_name = node.inputs[0]
    x, bias = b.get(x_name), b.get(node.inputs[1])
    fmt = data_format(arg(b, node, 2, "data_format", node.attrs.get("format", "NCHW")))
    shape = b.shape(x)
    if len(shape) < 2:
        raise ConversionError(f"input of shape {list(shape)} has no channel dimension")
    if b.array(bias, "the bias").shape != (shape[-1 if fmt == "NHWC" else 1],):
        raise ConversionError(f"bias of shape {list(b.shape(bias))} does not fit input {list(shape)} ({fmt})")
    fused = fuse_bias(b, x_name, bias) if fmt == "NCHW" else None
    if fused is not None:
        return fused
    if len(shape) == 4 and fmt == "NCHW":
        op = b.emit(lite.AddOp(b.nhwc(x), b.materialize(bias)))
        return Tensor(op.output, channels_last=True)
    if fmt == "NCHW" and len(shape) > 2:
        column = b.constant(b.array(bias, "the bias").reshape((-1,) + (1,) * (len(shape) - 2)), b.hint(bias))
        return Tensor(b.emit(lite.AddOp(b.plain(x), column)).output)
    return Tensor(b.emit(lite.AddOp(b.plain(x), b.materialize(bias))).output)


def fuse_bias(b: GraphBuilder, x_name: str, bias: Any) -> Tensor | None:
    """Give the convolution or dense layer that computes `x_name` (for nobody else) the bias instead."""
    x = b.get(x_name)
    if not isinstance(x, Tensor) or b.consumers[x_name] != 1 or x.value.uses:
        return None
    op = x.value.owner
    if not isinstance(op, (lite.Conv2DOp, lite.FullyConnectedOp)) or op.bias is not None:
        return None
    fused = type(op).create(operands=[*op.operands, b.materialize(bias)], result_types=[op.output.type],
                            properties=dict(op.properties))
    fused.output.name_hint = op.output.name_hint
    b.emit(fused)
    op.detach()
    op.erase()
    return Tensor(fused.output, x.channels_last)


NN_CONVERTERS = {
    "Conv2D": convert_conv2d,
    "MaxPool": pool_converter(lite.MaxPoolOp),
    "AvgPool": pool_converter(lite.AvgPoolOp),
    "BatchNorm": convert_batch_norm,
    "MatMul": convert_matmul,
    "Dense": convert_dense,
    "BiasAdd": convert_bias_add,
}
