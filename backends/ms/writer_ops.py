"""One emitter per lite op: the MindSpore Lite primitive it becomes (`EMITTERS`).

An emitter returns the primitive's union member name, its attribute table (schema field names) and its
inputs: IR values, or `ConstInput` data for what MindSpore Lite passes as constant input tensors (Reshape
shape, Transpose perm, Reduce axes, StridedSlice begin/end/strides, Pad paddings), stored as int32.
Layout conventions are the reader's: NHWC, [h, w] windows, [up, down, left, right] padding. Integer ops
(full quantization) use the same emitters; `quant.qcast` / `quant.dcast` of activations become
QuantDTypeCast nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import f32
from xdsl.ir import Operation, SSAValue

from quantopt.backends.ms.codes import ACTIVATION_TYPES, REDUCE_MODES, TypeId
from quantopt.backends.ms.schema_generated.ActivationType import ActivationType
from quantopt.backends.ms.schema_generated.CoordinateTransformMode import CoordinateTransformMode
from quantopt.backends.ms.schema_generated.Format import Format
from quantopt.backends.ms.schema_generated.NearestMode import NearestMode
from quantopt.backends.ms.schema_generated.PaddingMode import PaddingMode
from quantopt.backends.ms.schema_generated.PadMode import PadMode
from quantopt.backends.ms.schema_generated.ResizeMethod import ResizeMethod
from quantopt.backends.ms.schema_generated.RoundMode import RoundMode
from quantopt.dialects import lite
from quantopt.dialects.lite import shape_of
from quantopt.dialects.quant import DequantizeCastOp, QuantizeCastOp

FUSED_ACTIVATIONS = {"none": ActivationType.NO_ACTIVATION, "relu": ActivationType.RELU, "relu6": ActivationType.RELU6}
CONV_MODE = 1  # MindSpore's Conv2D `mode`: 1 = normal convolution


@dataclass(frozen=True)
class ConstInput:
    """A constant input tensor the writer creates, named `<node>/<role>`."""

    role: str
    values: np.ndarray


@dataclass
class Emitted:
    primitive: str
    attrs: dict[str, Any]
    inputs: list[SSAValue | ConstInput] = field(default_factory=list)


class EmitError(Exception):
    """An op whose attributes MindSpore Lite cannot express; the writer adds file and node."""


def _int32(values) -> np.ndarray:
    return np.asarray(list(values), dtype=np.int32)


def _fused(op: lite.LiteOp) -> int:
    return FUSED_ACTIVATIONS[op.str_prop("activation")]


def conv2d(op: lite.Conv2DOp) -> Emitted:
    xs, ws = shape_of(op.input), shape_of(op.filter)
    attrs = {
        "format": Format.NHWC, "kernel_size": list(ws[1:3]), "stride": op.int_list("strides"),
        "dilation": op.int_list("dilations"), "pad_mode": PadMode.PAD, "pad_list": op.int_list("pads"),
        "mode": CONV_MODE, "group": op.properties["group"].value.data, "in_channel": xs[3], "out_channel": ws[0],
        "activation_type": _fused(op),
    }
    return Emitted("Conv2DFusion", attrs, [op.input, op.filter, *([op.bias] if op.bias is not None else [])])


def conv2d_transpose(op: lite.Conv2DTransposeOp) -> Emitted:
    xs, ws = shape_of(op.input), shape_of(op.filter)
    pads = op.int_list("pads")
    attrs = {
        "format": Format.NHWC, "kernel_size": list(ws[1:3]), "stride": op.int_list("strides"),
        "dilation": op.int_list("dilations"), "pad_mode": PadMode.PAD, "pad": pads, "pad_list": pads,
        "mode": CONV_MODE, "group": op.properties["group"].value.data, "in_channel": xs[3], "out_channel": ws[0],
        "activation_type": _fused(op), "output_paddings": op.int_list("output_padding"),
    }
    return Emitted("Conv2dTransposeFusion", attrs, [op.input, op.filter, *([op.bias] if op.bias is not None else [])])


def fully_connected(op: lite.FullyConnectedOp) -> Emitted:
    attrs = {"has_bias": op.bias is not None, "use_axis": False, "axis": 1, "activation_type": _fused(op)}
    return Emitted("FullConnection", attrs, [op.input, op.weight, *([op.bias] if op.bias is not None else [])])


def matmul(op: lite.MatMulOp) -> Emitted:
    attrs = {"transpose_a": op.bool_prop("transpose_a"), "transpose_b": op.bool_prop("transpose_b"),
             "activation_type": _fused(op)}
    return Emitted("MatMulFusion", attrs, [op.lhs, op.rhs])


def _binary(primitive: str) -> Callable[[lite.LiteOp], Emitted]:
    def emit(op) -> Emitted:
        return Emitted(primitive, {"activation_type": _fused(op)}, [op.lhs, op.rhs])

    return emit


def activation(op: lite.ActivationOp) -> Emitted:
    kind, alpha = op.str_prop("type"), op.float_prop("alpha")
    if kind == "hard_sigmoid":  # MindSpore Lite's HSIGMOID is relu6(x + 3) / 6 = hard_sigmoid(1/6, 1/2)
        if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(op.float_prop("beta"), 0.5, rel_tol=1e-6)):
            raise EmitError(f"hard_sigmoid with alpha {alpha} and beta {op.float_prop('beta')} has no MindSpore "
                            f"Lite activation (only alpha 1/6, beta 1/2)")
        return Emitted("Activation", {"activation_type": ActivationType.HSIGMOID}, [op.input])
    attrs = {"activation_type": ACTIVATION_TYPES[kind]}
    if kind in ("leaky_relu", "elu"):
        attrs["alpha"] = alpha
    return Emitted("Activation", attrs, [op.input])


def clip(op: lite.ClipOp) -> Emitted:
    lo, hi = op.float_prop("min"), op.float_prop("max")
    if lo == 0 and hi == 6:
        return Emitted("Activation", {"activation_type": ActivationType.RELU6}, [op.input])
    return Emitted("Clip", {"max": hi, "min": lo}, [op.input])


def prelu(op: lite.PReluOp) -> Emitted:
    return Emitted("PReLUFusion", {"channel_shared": math.prod(shape_of(op.slope)) == 1}, [op.input, op.slope])


def _pool(primitive: str) -> Callable[[lite.LiteOp], Emitted]:
    def emit(op) -> Emitted:
        if "count_include_pad" in op.properties and op.bool_prop("count_include_pad") and any(op.int_list("pads")):
            raise EmitError("average pooling that counts padding has no MindSpore Lite equivalent")
        attrs = {
            "kernel_size": op.int_list("kernel"), "strides": op.int_list("strides"), "pad": op.int_list("pads"),
            "pad_mode": PadMode.PAD, "round_mode": RoundMode.CEIL if op.bool_prop("ceil_mode") else RoundMode.FLOOR,
            "format": Format.NHWC, "global": False, "activation_type": _fused(op),
        }
        return Emitted(primitive, attrs, [op.input])

    return emit


def batch_norm(op: lite.BatchNormOp) -> Emitted:
    return Emitted("FusedBatchNorm", {"epsilon": op.float_prop("epsilon")},
                   [op.input, op.scale, op.offset, op.mean, op.variance])


def lrn(op: lite.LRNOp) -> Emitted:
    size = op.properties["size"].value.data
    if size % 2 == 0:
        raise EmitError(f"LRN over an even window ({size}) has no MindSpore Lite equivalent")
    attrs = {"depth_radius": (size - 1) // 2, "bias": op.float_prop("bias"), "alpha": op.float_prop("alpha") / size,
             "beta": op.float_prop("beta"), "norm_region": "ACROSS_CHANNELS"}
    return Emitted("LRN", attrs, [op.input])


def softmax(op: lite.SoftmaxOp) -> Emitted:
    return Emitted("Softmax", {"axis": [op.properties["axis"].value.data]}, [op.input])


def reduce(op: lite.ReduceOp) -> Emitted:
    attrs = {"keep_dims": op.bool_prop("keep_dims"), "mode": REDUCE_MODES[op.str_prop("mode")],
             "reduce_to_end": False, "coeff": 1.0}
    return Emitted("ReduceFusion", attrs, [op.input, ConstInput("axes", _int32(op.int_list("axes")))])


def resize(op: lite.ResizeOp) -> Emitted:
    _, h, w, _ = shape_of(op.output)
    coordinate = op.str_prop("coordinate_mode")
    coordinates = {"asymmetric": CoordinateTransformMode.ASYMMETRIC,
                   "align_corners": CoordinateTransformMode.ALIGN_CORNERS,
                   "half_pixel": CoordinateTransformMode.HALF_PIXEL}
    if coordinate == "pytorch_half_pixel" and h > 1 and w > 1:
        coordinate = "half_pixel"  # they differ only for an output of size 1
    if coordinate not in coordinates:
        raise EmitError(f"resize coordinate mode '{coordinate}' has no MindSpore Lite equivalent")
    nearest = {"round_prefer_floor": NearestMode.ROUND_HALF_DOWN, "round_prefer_ceil": NearestMode.ROUND_HALF_UP,
               "floor": NearestMode.FLOOR, "ceil": NearestMode.CEIL}[op.str_prop("nearest_mode")]
    attrs = {
        "format": Format.NHWC,
        "method": ResizeMethod.NEAREST if op.str_prop("mode") == "nearest" else ResizeMethod.LINEAR,
        "new_height": h, "new_width": w, "coordinate_transform_mode": coordinates[coordinate], "nearest_mode": nearest,
    }
    return Emitted("Resize", attrs, [op.input])


def reshape(op: lite.ReshapeOp) -> Emitted:
    return Emitted("Reshape", {}, [op.input, ConstInput("shape", _int32(shape_of(op.output)))])


def transpose(op: lite.TransposeOp) -> Emitted:
    return Emitted("Transpose", {}, [op.input, ConstInput("perm", _int32(op.int_list("perm")))])


def concat(op: lite.ConcatOp) -> Emitted:
    return Emitted("Concat", {"axis": op.properties["axis"].value.data}, list(op.inputs))


def split(op: lite.SplitOp) -> Emitted:
    sizes = op.int_list("sizes")
    attrs = {"output_num": len(sizes), "size_splits": sizes, "axis": op.properties["axis"].value.data}
    return Emitted("Split", attrs, [op.input])


def slice_(op: lite.SliceOp) -> Emitted:
    begin, end, strides = op.int_list("begin"), op.int_list("end"), op.int_list("strides")
    # A negative stride that runs through index 0 ends at -1, which StridedSlice reads as "last": mask it.
    end_mask = sum(1 << i for i, (e, s) in enumerate(zip(end, strides)) if s < 0 and e < 0)
    end = [0 if end_mask >> i & 1 else e for i, e in enumerate(end)]
    attrs = {"begin_mask": 0, "end_mask": end_mask, "ellipsis_mask": 0, "new_axis_mask": 0, "shrink_axis_mask": 0}
    return Emitted("StridedSlice", attrs, [op.input, ConstInput("begin", _int32(begin)),
                                           ConstInput("end", _int32(end)), ConstInput("strides", _int32(strides))])


def pad(op: lite.PadOp) -> Emitted:
    modes = {"constant": PaddingMode.CONSTANT, "reflect": PaddingMode.REFLECT}
    if op.str_prop("mode") not in modes:
        raise EmitError(f"pad mode '{op.str_prop('mode')}' has no MindSpore Lite equivalent")
    pads = op.int_list("pads")
    rows = [pads[i:i + 2] for i in range(0, len(pads), 2)]
    attrs = {"paddings": rows, "padding_mode": modes[op.str_prop("mode")], "constant_value": op.float_prop("value")}
    return Emitted("PadFusion", attrs, [op.input, ConstInput("paddings", _int32(pads).reshape(-1, 2))])


EMITTERS: dict[type[Operation], Callable[[Any], Emitted]] = {
    lite.Conv2DOp: conv2d,
    lite.Conv2DTransposeOp: conv2d_transpose,
    lite.FullyConnectedOp: fully_connected,
    lite.MatMulOp: matmul,
    lite.AddOp: _binary("AddFusion"),
    lite.SubOp: _binary("SubFusion"),
    lite.MulOp: _binary("MulFusion"),
    lite.DivOp: _binary("DivFusion"),
    lite.ActivationOp: activation,
    lite.ClipOp: clip,
    lite.PReluOp: prelu,
    lite.MaxPoolOp: _pool("MaxPoolFusion"),
    lite.AvgPoolOp: _pool("AvgPoolFusion"),
    lite.BatchNormOp: batch_norm,
    lite.LRNOp: lrn,
    lite.SoftmaxOp: softmax,
    lite.ReduceOp: reduce,
    lite.ResizeOp: resize,
    lite.ReshapeOp: reshape,
    lite.TransposeOp: transpose,
    lite.ConcatOp: concat,
    lite.SplitOp: split,
    lite.SliceOp: slice_,
    lite.PadOp: pad,
}
"""lite op class -> emitter; every op of the lite dialect has one."""


def _quant_dtype_cast(src: TypeId, dst: TypeId) -> Callable[[Any], Emitted]:
    """quant.qcast (Float32 -> Int8) and quant.dcast (Int8 -> Float32) of activations: the writer checks that
    the float side is f32 and the quantized side a per-tensor int8 type when it writes their tensors."""

    def emit(op) -> Emitted:
        float_side = op.input if src == TypeId.FLOAT32 else op.result
        if float_side.type.element_type != f32:
            raise EmitError(f"{op.name} converts {float_side.type}; QuantDTypeCast converts float32")
        return Emitted("QuantDTypeCast", {"src_t": int(src), "dst_t": int(dst)}, [op.input])

    return emit


QUANT_CAST_EMITTERS: dict[type[Operation], Callable[[Any], Emitted]] = {
    QuantizeCastOp: _quant_dtype_cast(TypeId.FLOAT32, TypeId.INT8),
    DequantizeCastOp: _quant_dtype_cast(TypeId.INT8, TypeId.FLOAT32),
}
"""The casts between float and int8 activations (full quantization)."""
