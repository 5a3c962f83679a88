"""One converter per MindSpore Lite primitive: CNode -> lite ops (`CONVERTERS`).

A converter reads the node's attribute table (`ctx.attrs`, schema field names), takes its inputs as IR
values (`ctx.input`) or, where MindSpore Lite passes an attribute as a constant input tensor (Transpose
perm, Reshape shape, Reduce axes, ...), as numpy data (`ctx.const`), emits lite ops and returns the IR
values of the node's outputs. Attribute conventions (from MindSpore Lite's populate code): kernel, stride
and dilation lists are [h, w]; conv `pad_list` and pooling `pad` are [up, down, left, right]; a fused
`activation_type` other than relu/relu6 becomes a separate `lite.activation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import SSAValue

from quantopt.backends.ms.codes import ACTIVATION_TYPES, REDUCE_MODES, TypeId
from quantopt.backends.ms.full_quant import QuantParamError, activation_type, is_quantized_activation
from quantopt.backends.ms.reader import NodeContext
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
from quantopt.dialects.quant import DequantizeCastOp, QuantizeCastOp, UniformQuantizedType, element_type_of

Converter = Callable[[NodeContext], Sequence[SSAValue]]

ACTIVATION_NAMES = {code: name for name, code in ACTIVATION_TYPES.items()}
FUSABLE = {ActivationType.NO_ACTIVATION: "none", ActivationType.RELU: "relu", ActivationType.RELU6: "relu6"}


# ----- helpers


def _rank(ctx: NodeContext, value: SSAValue, rank: int, what: str) -> tuple[int, ...]:
    shape = shape_of(value)
    if len(shape) != rank:
        raise ctx.error(f"{what} must be {rank}-D, got shape {list(shape)}")
    return shape


def _axis(ctx: NodeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} out of range for rank {rank}")
    return axis % rank


def _ints(values) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


def _pair(ctx: NodeContext, name: str, default: int) -> list[int]:
    values = ctx.attrs.get(name) or [default, default]
    if len(values) != 2:
        raise ctx.error(f"{name} must have 2 values [h, w], got {values}")
    return list(values)


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _window_pads(ctx: NodeContext, pad_list, spatial, kernel, stride, dilation) -> list[int]:
    mode = ctx.attrs.get("pad_mode", PadMode.PAD)
    if mode == PadMode.SAME:
        (t, b), (lft, r) = (_same_pads(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation))
        return [t, b, lft, r]
    if mode == PadMode.VALID:
        return [0, 0, 0, 0]
    if mode == PadMode.PAD:
        pads = list(pad_list or [0, 0, 0, 0])
        if len(pads) != 4:
            raise ctx.error(f"padding must have 4 values [up, down, left, right], got {pads}")
        return pads
    raise ctx.error(f"unknown pad_mode {mode}")


def _split_activation(ctx: NodeContext) -> tuple[str, int | None]:
    """A fused activation as (what the lite op carries, what needs its own op afterwards)."""
    code = ctx.attrs.get("activation_type", ActivationType.NO_ACTIVATION)
    return (FUSABLE[code], None) if code in FUSABLE else ("none", code)


def _activation(ctx: NodeContext, x: SSAValue, code: int | None, alpha=0.0, lo=0.0, hi=0.0) -> SSAValue:
    if code is None or code == ActivationType.NO_ACTIVATION:
        return x
    if code == ActivationType.HARD_TANH:
        return ctx.emit(lite.ClipOp(x, lo, hi)).output
    if code not in ACTIVATION_NAMES:
        raise ctx.error(f"unsupported activation type {code}")
    return ctx.emit(lite.ActivationOp(x, ACTIVATION_NAMES[code], alpha=alpha)).output


def _reshape(ctx: NodeContext, x: SSAValue, shape: Sequence[int]) -> SSAValue:
    if math.prod(shape) != math.prod(shape_of(x)):
        raise ctx.error(f"cannot reshape {list(shape_of(x))} to {list(shape)}")
    return ctx.emit(lite.ReshapeOp(x, list(shape))).output


def _const_or_attr(ctx: NodeContext, index: int, attr: str, what: str):
    if ctx.has_input(index):
        return ctx.const(index, what)
    return ctx.attrs.get(attr)


# ----- convolution, matrix products


def _filter(ctx: NodeContext) -> SSAValue:
    """The filter as lite wants it, [out, kh, kw, in / group] (KHWC); KCHW files are permuted."""
    return ctx.input(1, perm=(0, 2, 3, 1) if ctx.has_input(1) and ctx.input_format(1) == Format.KCHW else None)


def conv2d(ctx: NodeContext) -> list[SSAValue]:
    x, w = ctx.input(0), _filter(ctx)
    bias = ctx.input(2) if ctx.has_input(2) else None
    xs, ws = _rank(ctx, x, 4, "input"), _rank(ctx, w, 4, "weight")
    stride, dilation = _pair(ctx, "stride", 1), _pair(ctx, "dilation", 1)
    kernel = list(ws[1:3])
    if ctx.attrs.get("kernel_size") and list(ctx.attrs["kernel_size"]) != kernel:
        raise ctx.error(f"kernel_size {ctx.attrs['kernel_size']} does not match weight shape {list(ws)}")
    pads = _window_pads(ctx, ctx.attrs.get("pad_list"), xs[1:3], kernel, stride, dilation)
    inline, post = _split_activation(ctx)
    op = ctx.emit(lite.Conv2DOp(x, w, bias, stride, dilation, pads, ctx.attrs.get("group") or 1, inline))
    return [_activation(ctx, op.output, post)]


def conv2d_transpose(ctx: NodeContext) -> list[SSAValue]:
    x, w = ctx.input(0), _filter(ctx)
    bias = ctx.input(2) if ctx.has_input(2) else None
    xs, ws = _rank(ctx, x, 4, "input"), _rank(ctx, w, 4, "weight")
    stride, dilation = _pair(ctx, "stride", 1), _pair(ctx, "dilation", 1)
    out_pad = list(ctx.attrs.get("output_paddings") or [0, 0])
    mode = ctx.attrs.get("pad_mode", PadMode.PAD)
    if mode == PadMode.SAME:
        pads = []
        for size, k, s, d in zip(xs[1:3], ws[1:3], stride, dilation):
            total = max((size - 1) * s + (k - 1) * d + 1 - size * s, 0)
            pads += [total // 2, total - total // 2]
    else:
        pads = _window_pads(ctx, ctx.attrs.get("pad_list"), xs[1:3], ws[1:3], stride, dilation)
    inline, post = _split_activation(ctx)
    op = ctx.emit(lite.Conv2DTransposeOp(x, w, bias, stride, dilation, pads, out_pad,
                                         ctx.attrs.get("group") or 1, inline))
    return [_activation(ctx, op.output, post)]


def _fully_connected(ctx: NodeContext, x: SSAValue, w: SSAValue, bias: SSAValue | None,
                     axis: int | None) -> SSAValue:
    """y = x·Wᵀ + b with x flattened to 2-D: [prod(x[:axis]), prod(x[axis:])], or rows of W's width."""
    xs, ws = shape_of(x), _rank(ctx, w, 2, "weight")
    if axis is None:
        total = math.prod(xs)
        if total % ws[1]:
            raise ctx.error(f"input {list(xs)} does not split into rows of {ws[1]} features")
        rows, out_shape = total // ws[1], [total // ws[1], ws[0]]
    else:
        axis = _axis(ctx, axis, len(xs))
        rows, out_shape = math.prod(xs[:axis]), [*xs[:axis], ws[0]]
    flat = x if list(xs) == [rows, ws[1]] else _reshape(ctx, x, [rows, ws[1]])
    inline, post = _split_activation(ctx)
    y = ctx.emit(lite.FullyConnectedOp(flat, w, bias, inline)).output
    if out_shape != [rows, ws[0]]:
        y = _reshape(ctx, y, out_shape)
    return _activation(ctx, y, post)


def full_connection(ctx: NodeContext) -> list[SSAValue]:
    x, w = ctx.input(0), ctx.input(1)
    bias = ctx.input(2) if ctx.has_input(2) else None
    axis = ctx.attrs.get("axis", 1) if ctx.attrs.get("use_axis") else None
    return [_fully_connected(ctx, x, w, bias, axis)]


def matmul(ctx: NodeContext) -> list[SSAValue]:
    """MatMulFusion (a, b[, bias]); a constant 2-D rhs times a 2-D lhs is a fully connected layer, except in an
    int8 matmul without bias, which stays the lite.matmul lower-to-int8 made (and the writer wrote)."""
    ta, tb = bool(ctx.attrs.get("transpose_a")), bool(ctx.attrs.get("transpose_b"))
    lhs = ctx.input(0)
    rhs_index = ctx.node.inputs[1] if ctx.has_input(1) else None
    keep_matmul = ctx.integer and not ctx.has_input(2)
    if (not keep_matmul and rhs_index is not None and ctx.importer.is_constant(rhs_index) and not ta
            and len(shape_of(lhs)) == 2 and len(ctx.importer.tensor(rhs_index).dims) == 2):
        weight = ctx.input(1, perm=None if tb else (1, 0))  # FullConnection wants W as [out, in]
        bias = ctx.input(2) if ctx.has_input(2) else None
        return [_fully_connected(ctx, lhs, weight, bias, axis=1)]
    rhs = ctx.input(1)
    bias = ctx.input(2) if ctx.has_input(2) else None
    inline, post = _split_activation(ctx)
    y = ctx.emit(lite.MatMulOp(lhs, rhs, ta, tb, "none" if bias is not None else inline)).output
    if bias is not None:
        y = ctx.emit(lite.AddOp(y, bias, inline)).output
    return [_activation(ctx, y, post)]


# ----- elementwise


def _binary(op_class) -> Converter:
    def convert(ctx: NodeContext) -> list[SSAValue]:
        inline, post = _split_activation(ctx)
        y = ctx.emit(op_class(ctx.input(0), ctx.input(1), inline)).output
        return [_activation(ctx, y, post)]

    return convert


def bias_add(ctx: NodeContext) -> list[SSAValue]:
    return [ctx.emit(lite.AddOp(ctx.input(0), ctx.input(1))).output]


def activation(ctx: NodeContext) -> list[SSAValue]:
    a = ctx.attrs
    code = a.get("activation_type", ActivationType.NO_ACTIVATION)
    if code == ActivationType.NO_ACTIVATION:
        return [_reshape(ctx, ctx.input(0), shape_of(ctx.input(0)))]
    return [_activation(ctx, ctx.input(0), code, a.get("alpha", 0.0), a.get("min_val", 0.0), a.get("max_val", 0.0))]


def leaky_relu(ctx: NodeContext) -> list[SSAValue]:
    return [ctx.emit(lite.ActivationOp(ctx.input(0), "leaky_relu", alpha=ctx.attrs.get("negative_slope", 0.0))).output]


def clip(ctx: NodeContext) -> list[SSAValue]:
    lo = _const_or_attr(ctx, 1, "min", "min")
    hi = _const_or_attr(ctx, 2, "max", "max")
    return [ctx.emit(lite.ClipOp(ctx.input(0), float(np.asarray(lo).reshape(-1)[0]),
                                 float(np.asarray(hi).reshape(-1)[0]))).output]


def prelu(ctx: NodeContext) -> list[SSAValue]:
    return [ctx.emit(lite.PReluOp(ctx.input(0), ctx.input(1))).output]


# ----- pooling, normalisation


def _pool(op_class, **extra) -> Converter:
    def convert(ctx: NodeContext) -> list[SSAValue]:
        x = ctx.input(0)
        _, h, w, _ = _rank(ctx, x, 4, "input")
        if ctx.attrs.get("global"):
            kernel, stride, pads, ceil = [h, w], [1, 1], [0, 0, 0, 0], False
        else:
            kernel = list(ctx.attrs.get("kernel_size") or [])
            if len(kernel) != 2:
                raise ctx.error(f"kernel_size must have 2 values [h, w], got {kernel}")
            stride = _pair(ctx, "strides", 1)
            pads = _window_pads(ctx, ctx.attrs.get("pad"), [h, w], kernel, stride, [1, 1])
            ceil = ctx.attrs.get("round_mode") == RoundMode.CEIL
        inline, post = _split_activation(ctx)
        y = ctx.emit(op_class(x, kernel, stride, pads, ceil, inline, **extra)).output
        return [_activation(ctx, y, post)]

    return convert


def batch_norm(ctx: NodeContext) -> list[SSAValue]:
    ins = [ctx.input(i) for i in range(5)]
    return [ctx.emit(lite.BatchNormOp(*ins, ctx.attrs.get("epsilon", 1e-4))).output]


def lrn(ctx: NodeContext) -> list[SSAValue]:
    """MindSpore Lite's LRN is TensorFlow's (radius, alpha per element); lite.lrn is ONNX's (size, alpha/size)."""
    a = ctx.attrs
    if a.get("norm_region") not in (None, "", "ACROSS_CHANNELS"):
        raise ctx.error(f"norm_region '{a['norm_region']}' is not supported")
    size = 2 * a.get("depth_radius", 0) + 1
    return [ctx.emit(lite.LRNOp(ctx.input(0), size, a.get("alpha", 0.0) * size, a.get("beta", 0.0),
                                a.get("bias", 0.0))).output]


def softmax(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    axes = ctx.attrs.get("axis") or [-1]
    if len(axes) != 1:
        raise ctx.error(f"softmax over several axes {axes} is not supported")
    return [ctx.emit(lite.SoftmaxOp(x, _axis(ctx, axes[0], len(shape_of(x))))).output]


def reduce(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    rank = len(shape_of(x))
    a = ctx.attrs
    modes = {code: name for name, code in REDUCE_MODES.items()}
    if a.get("mode", 0) not in modes:
        raise ctx.error(f"reduce mode {a.get('mode')} is not supported")
    axes = sorted({_axis(ctx, v, rank) for v in _ints(ctx.const(1, "axes"))}) if ctx.has_input(1) else []
    if a.get("reduce_to_end"):
        if not axes or a.get("coeff", 1.0) not in (0.0, 1.0):
            raise ctx.error("reduce_to_end with a coefficient is not supported")
        axes = list(range(axes[0], rank))
    axes = axes or list(range(rank))
    return [ctx.emit(lite.ReduceOp(x, modes[a.get("mode", 0)], axes, bool(a.get("keep_dims")))).output]


def resize(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    _rank(ctx, x, 4, "input")
    a = ctx.attrs
    methods = {ResizeMethod.LINEAR: "linear", ResizeMethod.NEAREST: "nearest"}
    coordinates = {CoordinateTransformMode.ASYMMETRIC: "asymmetric",
                   CoordinateTransformMode.ALIGN_CORNERS: "align_corners",
                   CoordinateTransformMode.HALF_PIXEL: "half_pixel"}
    rounding = {NearestMode.ROUND_HALF_DOWN: "round_prefer_floor", NearestMode.ROUND_HALF_UP: "round_prefer_ceil",
                NearestMode.FLOOR: "floor", NearestMode.CEIL: "ceil"}
    method, coordinate = a.get("method", ResizeMethod.LINEAR), a.get("coordinate_transform_mode", 0)
    if method not in methods or coordinate not in coordinates:
        raise ctx.error(f"resize method {method} with coordinate mode {coordinate} is not supported")
    dims = ctx.output_dims(0)
    if a.get("new_height", 0) > 0 and a.get("new_width", 0) > 0:
        size = [a["new_height"], a["new_width"]]
    elif dims is not None:
        size = dims[1:3]
    else:
        raise ctx.error("the output size is neither an attribute nor recorded in the file")
    nearest = a.get("nearest_mode", NearestMode.NORMAL)
    if nearest == NearestMode.NORMAL:  # TensorFlow's rule: round with align_corners, floor otherwise
        nearest_mode = "round_prefer_ceil" if coordinate == CoordinateTransformMode.ALIGN_CORNERS else "floor"
    elif nearest in rounding:
        nearest_mode = rounding[nearest]
    else:
        raise ctx.error(f"nearest mode {nearest} is not supported")
    return [ctx.emit(lite.ResizeOp(x, size, methods[method], coordinates[coordinate], nearest_mode)).output]


# ----- shape manipulation


def _resolve_shape(ctx: NodeContext, source: Sequence[int], shape: list[int]) -> list[int]:
    """Reshape's target: 0 copies the input dimension, one -1 takes what is left."""
    shape = [source[i] if d == 0 and i < len(source) else d for i, d in enumerate(shape)]
    if shape.count(-1) > 1 or any(d < -1 for d in shape):
        raise ctx.error(f"invalid target shape {shape}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or math.prod(source) % known:
            raise ctx.error(f"cannot reshape {list(source)} to {shape}")
        shape[shape.index(-1)] = math.prod(source) // known
    return shape


def reshape(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    if ctx.has_input(1) and ctx.importer.is_constant(ctx.node.inputs[1]):
        shape = _resolve_shape(ctx, shape_of(x), _ints(ctx.const(1, "shape")))
    elif (dims := ctx.output_dims(0)) is not None:
        shape = dims
    else:
        raise ctx.error("the target shape is neither constant nor recorded in the file")
    return [_reshape(ctx, x, shape)]


def transpose(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    rank = len(shape_of(x))
    perm = [_axis(ctx, p, rank) for p in _ints(ctx.const(1, "perm"))]
    return [ctx.emit(lite.TransposeOp(x, perm)).output]


def flatten(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    xs = shape_of(x)
    axis = ctx.attrs.get("axis", 1)
    axis = axis if axis == len(xs) else _axis(ctx, axis, len(xs))
    return [_reshape(ctx, x, [math.prod(xs[:axis]), math.prod(xs[axis:])])]


def squeeze(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    xs = shape_of(x)
    axes = {_axis(ctx, a, len(xs)) for a in ctx.attrs.get("axis") or []} or {i for i, d in enumerate(xs) if d == 1}
    if any(xs[a] != 1 for a in axes):
        raise ctx.error(f"cannot squeeze axes {sorted(axes)} of shape {list(xs)}")
    return [_reshape(ctx, x, [d for i, d in enumerate(xs) if i not in axes])]


def _insert_axes(ctx: NodeContext, axes: Sequence[int]) -> list[SSAValue]:
    x = ctx.input(0)
    shape = list(shape_of(x))
    rank = len(shape) + len(axes)
    for a in sorted(_axis(ctx, a, rank) for a in axes):
        shape.insert(a, 1)
    return [_reshape(ctx, x, shape)]


def unsqueeze(ctx: NodeContext) -> list[SSAValue]:
    return _insert_axes(ctx, list(ctx.attrs.get("axis") or []))


def expand_dims(ctx: NodeContext) -> list[SSAValue]:
    return _insert_axes(ctx, _ints(ctx.const(1, "axis")))


def concat(ctx: NodeContext) -> list[SSAValue]:
    values = [ctx.input(i) for i in range(ctx.num_inputs)]
    axis = _axis(ctx, ctx.attrs.get("axis", 0), len(shape_of(values[0])))
    return [ctx.emit(lite.ConcatOp(values, axis)).output]


def stack(ctx: NodeContext) -> list[SSAValue]:
    """Stack = insert a unit axis into every input, then concatenate along it."""
    values = [ctx.input(i) for i in range(ctx.num_inputs)]
    shape = list(shape_of(values[0]))
    axis = _axis(ctx, ctx.attrs.get("axis", 0), len(shape) + 1)
    expanded = [_reshape(ctx, v, [*shape_of(v)[:axis], 1, *shape_of(v)[axis:]]) for v in values]
    if len(expanded) == 1:
        return expanded
    return [ctx.emit(lite.ConcatOp(expanded, axis)).output]


def split(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    xs = shape_of(x)
    axis = _axis(ctx, ctx.attrs.get("axis", 0), len(xs))
    count = len(ctx.node.outputs)
    sizes = list(ctx.attrs.get("size_splits") or [])
    if not sizes:
        if xs[axis] % count:
            raise ctx.error(f"dimension {xs[axis]} does not split into {count} equal parts")
        sizes = [xs[axis] // count] * count
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = xs[axis] - (sum(sizes) + 1)
    return list(ctx.emit(lite.SplitOp(x, axis, sizes)).outputs)


def _wrap(index: int, dim: int, lo: int, hi: int) -> int:
    """A Python-style (negative from the end) index, clamped to [lo, hi]."""
    return min(max(index + dim if index < 0 else index, lo), hi)


def strided_slice(ctx: NodeContext) -> list[SSAValue]:
    """StridedSlice(x, begin, end[, strides]) with TensorFlow's semantics for begin/end/shrink masks and
    negative indices and strides (lite.slice marks "through index 0" of a negative stride with end -1)."""
    x = ctx.input(0)
    xs = shape_of(x)
    a = ctx.attrs
    if a.get("ellipsis_mask") or a.get("new_axis_mask"):
        raise ctx.error("ellipsis_mask and new_axis_mask are not supported")
    begin, end = _ints(ctx.const(1, "begin")), _ints(ctx.const(2, "end"))
    strides = _ints(ctx.const(3, "strides")) if ctx.has_input(3) else [1] * len(begin)
    if not len(begin) == len(end) == len(strides) <= len(xs):
        raise ctx.error(f"begin {begin}, end {end} and strides {strides} do not fit shape {list(xs)}")
    bs, es, ss, kept = [], [], [], []
    for i, dim in enumerate(xs):
        b, e, s = (begin[i], end[i], strides[i]) if i < len(begin) else (0, dim, 1)
        if s == 0:
            raise ctx.error(f"stride 0 on axis {i}")
        if a.get("shrink_axis_mask", 0) >> i & 1:
            b = _wrap(b, dim, 0, dim - 1)
            e, s = b + 1, 1
        elif s > 0:
            b = 0 if a.get("begin_mask", 0) >> i & 1 else _wrap(b, dim, 0, dim)
            e = dim if a.get("end_mask", 0) >> i & 1 else _wrap(e, dim, 0, dim)
        else:
            b = dim - 1 if a.get("begin_mask", 0) >> i & 1 else _wrap(b, dim, -1, dim - 1)
            e = -1 if a.get("end_mask", 0) >> i & 1 else _wrap(e, dim, -1, dim - 1)
        if not a.get("shrink_axis_mask", 0) >> i & 1:
            kept.append(i)
        bs.append(b), es.append(e), ss.append(s)
    y = ctx.emit(lite.SliceOp(x, bs, es, ss)).output
    if len(kept) != len(xs):
        y = _reshape(ctx, y, [shape_of(y)[i] for i in kept])
    return [y]


def slice_fusion(ctx: NodeContext) -> list[SSAValue]:
    """SliceFusion(x, begin, size) on `axes` (all leading axes when absent); size -1 runs to the end."""
    x = ctx.input(0)
    xs = shape_of(x)
    begin, size = _ints(ctx.const(1, "begin")), _ints(ctx.const(2, "size"))
    axes = [_axis(ctx, v, len(xs)) for v in ctx.attrs.get("axes") or range(len(begin))]
    if not len(axes) == len(begin) == len(size):
        raise ctx.error(f"begin {begin} and size {size} do not match axes {axes}")
    bs, es = [0] * len(xs), list(xs)
    for axis, b, n in zip(axes, begin, size):
        bs[axis] = min(max(b, 0), xs[axis])
        es[axis] = xs[axis] if n == -1 else min(bs[axis] + n, xs[axis])
    return [ctx.emit(lite.SliceOp(x, bs, es, [1] * len(xs))).output]


def pad(ctx: NodeContext) -> list[SSAValue]:
    x = ctx.input(0)
    rank = len(shape_of(x))
    paddings = ctx.const(1, "paddings") if ctx.has_input(1) else np.asarray(ctx.attrs.get("paddings") or [])
    pads = _ints(paddings)
    if len(pads) != 2 * rank:
        raise ctx.error(f"paddings {pads} do not fit rank {rank}")
    modes = {PaddingMode.CONSTANT: "constant", PaddingMode.REFLECT: "reflect"}
    mode = ctx.attrs.get("padding_mode", PaddingMode.CONSTANT)
    if mode not in modes:
        raise ctx.error(f"padding mode {mode} is not supported")
    value = ctx.const(2, "constant value").reshape(-1)[0] if ctx.has_input(2) else ctx.attrs.get("constant_value", 0.0)
    return [ctx.emit(lite.PadOp(x, pads, modes[mode], float(value))).output]


# ----- full quantization


def quant_dtype_cast(ctx: NodeContext) -> list[SSAValue]:
    """QuantDTypeCast between float32 and int8 activations: `quant.qcast` to the type of the output's QuantParam,
    or `quant.dcast` of a quantized value."""
    x = ctx.input(0)
    cast = (ctx.attrs.get("src_t"), ctx.attrs.get("dst_t"))
    if cast == (TypeId.FLOAT32, TypeId.INT8):
        output = ctx.importer.tensor(ctx.node.outputs[0]) if ctx.node.outputs else None
        if output is None or not is_quantized_activation(output):
            raise ctx.error("the int8 output of a QuantDTypeCast needs an initialised QuantParam")
        try:
            qtype = activation_type(output)
        except QuantParamError as err:
            raise ctx.error(f"output '{output.name}': {err}") from None
        return [ctx.emit(QuantizeCastOp(x, TensorType(qtype, shape_of(x)))).result]
    if cast == (TypeId.INT8, TypeId.FLOAT32):
        if not isinstance(element_type_of(x.type), UniformQuantizedType):
            raise ctx.error("the input of an int8 -> float32 QuantDTypeCast is not a quantized int8 tensor")
        return [ctx.emit(DequantizeCastOp(x, TensorType(f32, shape_of(x)))).result]
    raise ctx.error(f"QuantDTypeCast from dataType {cast[0]} to {cast[1]} is not supported (float32 <-> int8 only)")


CONVERTERS: dict[str, Converter] = {
    "Conv2DFusion": conv2d,
    "Conv2dTransposeFusion": conv2d_transpose,
    "FullConnection": full_connection,
    "MatMulFusion": matmul,
    "AddFusion": _binary(lite.AddOp),
    "SubFusion": _binary(lite.SubOp),
    "MulFusion": _binary(lite.MulOp),
    "DivFusion": _binary(lite.DivOp),
    "BiasAdd": bias_add,
    "Activation": activation,
    "LeakyRelu": leaky_relu,
    "Clip": clip,
    "PReLUFusion": prelu,
    "MaxPoolFusion": _pool(lite.MaxPoolOp),
    "AvgPoolFusion": _pool(lite.AvgPoolOp, count_include_pad=False),
    "FusedBatchNorm": batch_norm,
    "LRN": lrn,
    "Softmax": softmax,
    "ReduceFusion": reduce,
    "Resize": resize,
    "Reshape": reshape,
    "Transpose": transpose,
    "Flatten": flatten,
    "Squeeze": squeeze,
    "Unsqueeze": unsqueeze,
    "ExpandDims": expand_dims,
    "Concat": concat,
    "Stack": stack,
    "Split": split,
    "StridedSlice": strided_slice,
    "SliceFusion": slice_fusion,
    "PadFusion": pad,
    "QuantDTypeCast": quant_dtype_cast,
}
"""Primitive name (union member of `PrimitiveType`) -> converter."""
