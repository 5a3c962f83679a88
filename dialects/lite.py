"""The `lite` dialect: the network graph, one op per MindSpore Lite primitive we support.

Activations are NHWC throughout (like `.ms`, TFLite and MindSpore Lite's converter); frontends convert at
the boundary. Convolution filters are OHWI (`.ms` KHWC): [out, kh, kw, in / group]. Weights are
`arith.constant` ops with bytes-backed dense attributes, or `quant.scast` of integer data once quantized.

Every op verifies its operand ranks and recomputes its result shape from its operands and properties, so
a malformed op is rejected with a message naming what is wrong. Shape functions (`infer_*`) are shared
with the frontends, which build ops through them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    f32,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

FUSABLE_ACTIVATIONS = ("none", "relu", "relu6")
ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "hswish", "hsigmoid", "leaky_relu", "hard_sigmoid", "elu",
               "gelu", "abs", "softplus", "swish")


def ints(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def f32_attr(value: float) -> FloatAttr:
    return FloatAttr(float(value), f32)


def bool_attr(value: bool) -> BoolAttr:
    return IntegerAttr(int(bool(value)), i1)


def shape_of(value: SSAValue | Attribute) -> tuple[int, ...]:
    t = value.type if isinstance(value, SSAValue) else value
    if not isinstance(t, TensorType):
        raise VerifyException(f"expected a ranked tensor, got {t}")
    return tuple(t.get_shape())


def tensor(shape: Sequence[int], element_type: Attribute = f32) -> TensorType:
    return TensorType(element_type, [int(d) for d in shape])


def _check_rank(op: IRDLOperation, what: str, value: SSAValue, rank: int | tuple[int, ...]) -> tuple[int, ...]:
    shape = shape_of(value)
    ranks = (rank,) if isinstance(rank, int) else rank
    if len(shape) not in ranks:
        raise VerifyException(f"{op.name}: {what} must have rank {' or '.join(map(str, ranks))}, got shape {list(shape)}")
    return shape


def _check_result(op: IRDLOperation, expected: Sequence[int], result: SSAValue | None = None) -> None:
    got = shape_of(result if result is not None else op.results[0])
    if tuple(got) != tuple(expected):
        raise VerifyException(f"{op.name}: result shape {list(got)} does not match expected {list(expected)}")


def _pool_out(size: int, k: int, s: int, pad_a: int, pad_b: int, d: int = 1, ceil: bool = False) -> int:
    span = size + pad_a + pad_b - d * (k - 1) - 1
    out = (span + s - 1) // s + 1 if ceil else span // s + 1
    if ceil and (out - 1) * s >= size + pad_a:  # last window must start inside the input or left padding
        out -= 1
    return out


def infer_conv2d(x: Sequence[int], w: Sequence[int], strides, dilations, pads) -> tuple[int, ...]:
    n, h, wd, _ = x
    o, kh, kw, _ = w
    return (n, _pool_out(h, kh, strides[0], pads[0], pads[1], dilations[0]),
            _pool_out(wd, kw, strides[1], pads[2], pads[3], dilations[1]), o)


def infer_conv2d_transpose(x, w, strides, dilations, pads, output_padding) -> tuple[int, ...]:
    n, h, wd, _ = x
    o, kh, kw, _ = w
    oh = (h - 1) * strides[0] + dilations[0] * (kh - 1) + 1 + output_padding[0] - pads[0] - pads[1]
    ow = (wd - 1) * strides[1] + dilations[1] * (kw - 1) + 1 + output_padding[1] - pads[2] - pads[3]
    return (n, oh, ow, o)


def infer_pool(x, kernel, strides, pads, ceil_mode: bool) -> tuple[int, ...]:
    n, h, w, c = x
    return (n, _pool_out(h, kernel[0], strides[0], pads[0], pads[1], ceil=ceil_mode),
            _pool_out(w, kernel[1], strides[1], pads[2], pads[3], ceil=ceil_mode), c)


def infer_broadcast(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...]:
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise VerifyException(f"shapes {list(a)} and {list(b)} do not broadcast")
        out.append(max(x, y) if min(x, y) != 0 else 0)
    return tuple(out)


def infer_matmul(a, b, transpose_a: bool, transpose_b: bool) -> tuple[int, ...]:
    a, b = list(a), list(b)
    if transpose_a:
        a[-2], a[-1] = a[-1], a[-2]
    if transpose_b:
        b[-2], b[-1] = b[-1], b[-2]
    if a[-1] != b[-2]:
        raise VerifyException(f"matmul inner dimensions differ: {a} x {b}")
    batch = infer_broadcast(a[:-2], b[:-2])
    return (*batch, a[-2], b[-1])


def infer_transpose(x, perm) -> tuple[int, ...]:
    return tuple(x[p] for p in perm)


def infer_slice(x, begin, end, strides) -> tuple[int, ...]:
    return tuple(max(0, math.ceil((e - b) / s)) for b, e, s in zip(begin, end, strides))


def infer_reduce(x, axes, keep_dims: bool) -> tuple[int, ...]:
    if keep_dims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


class LiteOp(IRDLOperation):
    irdl_options = (ParsePropInAttrDict(),)
    traits = traits_def(Pure())

    def int_list(self, prop: str) -> list[int]:
        return list(self.properties[prop].get_values())

    def float_prop(self, prop: str) -> float:
        return self.properties[prop].value.data

    def str_prop(self, prop: str) -> str:
        return self.properties[prop].data

    def bool_prop(self, prop: str) -> bool:
        return bool(self.properties[prop].value.data)

    def _check_len(self, prop: str, n: int) -> list[int]:
        values = self.int_list(prop)
        if len(values) != n:
            raise VerifyException(f"{self.name}: {prop} must have {n} values, got {values}")
        return values

    def _check_activation(self, allowed: Sequence[str] = FUSABLE_ACTIVATIONS) -> None:
        act = self.str_prop("activation")
        if act not in allowed:
            raise VerifyException(f"{self.name}: unknown activation '{act}' (expected one of {', '.join(allowed)})")


_NONE = StringAttr("none")


@irdl_op_definition
class Conv2DOp(LiteOp):
    """2-D convolution (Conv2DFusion), NHWC input, OHWI filter, optional bias, fused activation."""

    name = "lite.conv2d"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)  # top, bottom, left, right
    group = prop_def(IntegerAttr)
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, filter, bias, strides, dilations, pads, group: int, activation: str = "none"):
        shape = infer_conv2d(shape_of(input), shape_of(filter), strides, dilations, pads)
        super().__init__(
            operands=[input, filter, [] if bias is None else [bias]],
            result_types=[tensor(shape)],
            properties={"strides": ints(strides), "dilations": ints(dilations), "pads": ints(pads),
                        "group": IntegerAttr(group, i64), "activation": StringAttr(activation)},
        )

    def verify_(self) -> None:
        x = _check_rank(self, "input", self.input, 4)
        w = _check_rank(self, "filter", self.filter, 4)
        strides = self._check_len("strides", 2)
        dilations = self._check_len("dilations", 2)
        pads = self._check_len("pads", 4)
        group = self.properties["group"].value.data
        if min(strides + dilations) < 1 or min(pads) < 0:
            raise VerifyException(f"{self.name}: strides and dilations must be >= 1 and pads >= 0")
        if group < 1 or x[3] % group or w[0] % group:
            raise VerifyException(
                f"{self.name}: group {group} must divide input channels {x[3]} and output channels {w[0]}")
        if w[3] * group != x[3]:
            raise VerifyException(
                f"{self.name}: filter has {w[3]} input channels per group, input has {x[3]} channels "
                f"in {group} groups")
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"{self.name}: bias must have shape [{w[0]}], got {list(shape_of(self.bias))}")
        self._check_activation()
        _check_result(self, infer_conv2d(x, w, strides, dilations, pads))


@irdl_op_definition
class Conv2DTransposeOp(LiteOp):
    """Transposed 2-D convolution (Conv2dTransposeFusion); filter [out, kh, kw, in / group]."""

    name = "lite.conv2d_transpose"
    input = operand_def(TensorType)
    filter = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    output_padding = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr)
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$input `,` $filter (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, filter, bias, strides, dilations, pads, output_padding, group: int,
                 activation: str = "none"):
        shape = infer_conv2d_transpose(shape_of(input), shape_of(filter), strides, dilations, pads, output_padding)
        super().__init__(
            operands=[input, filter, [] if bias is None else [bias]],
            result_types=[tensor(shape)],
            properties={"strides": ints(strides), "dilations": ints(dilations), "pads": ints(pads),
                        "output_padding": ints(output_padding), "group": IntegerAttr(group, i64),
                        "activation": StringAttr(activation)},
        )

    def verify_(self) -> None:
        x = _check_rank(self, "input", self.input, 4)
        w = _check_rank(self, "filter", self.filter, 4)
        strides, dilations = self._check_len("strides", 2), self._check_len("dilations", 2)
        pads, out_pad = self._check_len("pads", 4), self._check_len("output_padding", 2)
        group = self.properties["group"].value.data
        if group < 1 or x[3] % group or w[0] % group or w[3] * group != x[3]:
            raise VerifyException(
                f"{self.name}: filter {list(w)} and group {group} do not fit input channels {x[3]}")
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"{self.name}: bias must have shape [{w[0]}]")
        self._check_activation()
        _check_result(self, infer_conv2d_transpose(x, w, strides, dilations, pads, out_pad))


@irdl_op_definition
class FullyConnectedOp(LiteOp):
    """y = x · Wᵀ + b with W [out, in] (FullConnection); x is [batch, in]."""

    name = "lite.fully_connected"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, weight, bias=None, activation: str = "none"):
        super().__init__(
            operands=[input, weight, [] if bias is None else [bias]],
            result_types=[tensor((shape_of(input)[0], shape_of(weight)[0]))],
            properties={"activation": StringAttr(activation)},
        )

    def verify_(self) -> None:
        x = _check_rank(self, "input", self.input, 2)
        w = _check_rank(self, "weight", self.weight, 2)
        if x[1] != w[1]:
            raise VerifyException(f"{self.name}: input has {x[1]} features, weight expects {w[1]}")
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(f"{self.name}: bias must have shape [{w[0]}]")
        self._check_activation()
        _check_result(self, (x[0], w[0]))


@irdl_op_definition
class MatMulOp(LiteOp):
    """Batched matrix product with numpy broadcasting of the batch dimensions (MatMulFusion)."""

    name = "lite.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    transpose_a = prop_def(IntegerAttr, default_value=bool_attr(False))
    transpose_b = prop_def(IntegerAttr, default_value=bool_attr(False))
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs, rhs, transpose_a=False, transpose_b=False, activation="none"):
        shape = infer_matmul(shape_of(lhs), shape_of(rhs), transpose_a, transpose_b)
        super().__init__(operands=[lhs, rhs], result_types=[tensor(shape)],
                         properties={"transpose_a": bool_attr(transpose_a), "transpose_b": bool_attr(transpose_b),
                                     "activation": StringAttr(activation)})

    def verify_(self) -> None:
        a = _check_rank(self, "lhs", self.lhs, (2, 3, 4, 5, 6))
        b = _check_rank(self, "rhs", self.rhs, (2, 3, 4, 5, 6))
        self._check_activation()
        _check_result(self, infer_matmul(a, b, self.bool_prop("transpose_a"), self.bool_prop("transpose_b")))


class _BinaryOp(LiteOp):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs, rhs, activation: str = "none"):
        shape = infer_broadcast(shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[tensor(shape)],
                         properties={"activation": StringAttr(activation)})

    def verify_(self) -> None:
        self._check_activation()
        _check_result(self, infer_broadcast(shape_of(self.lhs), shape_of(self.rhs)))


@irdl_op_definition
class AddOp(_BinaryOp):
    """Elementwise sum with numpy broadcasting (AddFusion)."""

    name = "lite.add"


@irdl_op_definition
class SubOp(_BinaryOp):
    """Elementwise difference (SubFusion)."""

    name = "lite.sub"


@irdl_op_definition
class MulOp(_BinaryOp):
    """Elementwise product (MulFusion)."""

    name = "lite.mul"


@irdl_op_definition
class DivOp(_BinaryOp):
    """Elementwise quotient (DivFusion)."""

    name = "lite.div"


class _UnaryOp(LiteOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def verify_(self) -> None:
        _check_result(self, shape_of(self.input))


@irdl_op_definition
class ActivationOp(_UnaryOp):
    """Pointwise activation (Activation). `alpha`: leaky_relu slope, elu alpha, hard_sigmoid slope;
    `beta`: hard_sigmoid offset."""

    name = "lite.activation"
    type = prop_def(StringAttr)
    alpha = prop_def(FloatAttr, default_value=f32_attr(0.0))
    beta = prop_def(FloatAttr, default_value=f32_attr(0.0))

    def __init__(self, input, type: str, alpha: float = 0.0, beta: float = 0.0):
        super().__init__(operands=[input], result_types=[input.type],
                         properties={"type": StringAttr(type), "alpha": f32_attr(alpha), "beta": f32_attr(beta)})

    def verify_(self) -> None:
        super().verify_()
        if self.str_prop("type") not in ACTIVATIONS:
            raise VerifyException(f"{self.name}: unknown activation type '{self.str_prop('type')}'")


@irdl_op_definition
class ClipOp(_UnaryOp):
    """Clamp to [min, max] (Clip)."""

    name = "lite.clip"
    min = prop_def(FloatAttr)
    max = prop_def(FloatAttr)

    def __init__(self, input, lo: float, hi: float):
        super().__init__(operands=[input], result_types=[input.type],
                         properties={"min": f32_attr(lo), "max": f32_attr(hi)})

    def verify_(self) -> None:
        super().verify_()
        if not self.float_prop("min") <= self.float_prop("max"):
            raise VerifyException(f"{self.name}: min must not exceed max")


@irdl_op_definition
class PReluOp(LiteOp):
    """max(x, 0) + slope · min(x, 0) with slope broadcast against x (PReLUFusion)."""

    name = "lite.prelu"
    input = operand_def(TensorType)
    slope = operand_def(TensorType)
    output = result_def(TensorType)
    assembly_format = "$input `,` $slope attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, slope):
        super().__init__(operands=[input, slope], result_types=[input.type])

    def verify_(self) -> None:
        x = shape_of(self.input)
        if infer_broadcast(x, shape_of(self.slope)) != x:
            raise VerifyException(f"{self.name}: slope {list(shape_of(self.slope))} does not broadcast to {list(x)}")
        _check_result(self, x)


class _PoolOp(LiteOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr, default_value=bool_attr(False))
    activation = prop_def(StringAttr, default_value=_NONE)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, kernel, strides, pads, ceil_mode=False, activation="none", **extra):
        shape = infer_pool(shape_of(input), kernel, strides, pads, ceil_mode)
        props = {"kernel": ints(kernel), "strides": ints(strides), "pads": ints(pads),
                 "ceil_mode": bool_attr(ceil_mode), "activation": StringAttr(activation), **extra}
        super().__init__(operands=[input], result_types=[tensor(shape)], properties=props)

    def verify_(self) -> None:
        x = _check_rank(self, "input", self.input, 4)
        kernel, strides, pads = self._check_len("kernel", 2), self._check_len("strides", 2), self._check_len("pads", 4)
        if min(kernel + strides) < 1 or min(pads) < 0:
            raise VerifyException(f"{self.name}: kernel and strides must be >= 1 and pads >= 0")
        if pads[0] >= kernel[0] or pads[1] >= kernel[0] or pads[2] >= kernel[1] or pads[3] >= kernel[1]:
            raise VerifyException(f"{self.name}: padding must be smaller than the kernel")
        self._check_activation()
        _check_result(self, infer_pool(x, kernel, strides, pads, self.bool_prop("ceil_mode")))


@irdl_op_definition
class MaxPoolOp(_PoolOp):
    """Max pooling over H, W (MaxPoolFusion); padding never wins."""

    name = "lite.max_pool"


@irdl_op_definition
class AvgPoolOp(_PoolOp):
    """Average pooling over H, W (AvgPoolFusion); `count_include_pad` as in ONNX."""

    name = "lite.avg_pool"
    count_include_pad = prop_def(IntegerAttr, default_value=bool_attr(False))

    def __init__(self, input, kernel, strides, pads, ceil_mode=False, activation="none", count_include_pad=False):
        super().__init__(input, kernel, strides, pads, ceil_mode, activation,
                         count_include_pad=bool_attr(count_include_pad))


@irdl_op_definition
class ReshapeOp(_UnaryOp):
    """Reinterpret the element order under a new shape (Reshape); the shape is the result type."""

    name = "lite.reshape"

    def __init__(self, input, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor(shape)])

    def verify_(self) -> None:
        if math.prod(shape_of(self.input)) != math.prod(shape_of(self.output)):
            raise VerifyException(
                f"{self.name}: cannot reshape {list(shape_of(self.input))} to {list(shape_of(self.output))}")


@irdl_op_definition
class TransposeOp(_UnaryOp):
    """Permute dimensions: result dim i is input dim perm[i] (Transpose)."""

    name = "lite.transpose"
    perm = prop_def(DenseArrayBase)

    def __init__(self, input, perm: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor(infer_transpose(shape_of(input), perm))],
                         properties={"perm": ints(perm)})

    def verify_(self) -> None:
        x = shape_of(self.input)
        perm = self.int_list("perm")
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(f"{self.name}: perm {perm} is not a permutation of {len(x)} dimensions")
        _check_result(self, infer_transpose(x, perm))


@irdl_op_definition
class ConcatOp(LiteOp):
    """Join along `axis` (Concat)."""

    name = "lite.concat"
    inputs = var_operand_def(TensorType)
    output = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    assembly_format = "$inputs attr-dict `:` functional-type(operands, results)"

    @staticmethod
    def infer(shapes: Sequence[Sequence[int]], axis: int) -> tuple[int, ...]:
        first = list(shapes[0])
        if not 0 <= axis < len(first):
            raise VerifyException(f"lite.concat: axis {axis} out of range for rank {len(first)}")
        for s in shapes[1:]:
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != axis):
                raise VerifyException(f"lite.concat: shapes {[list(x) for x in shapes]} differ off axis {axis}")
        first[axis] = sum(s[axis] for s in shapes)
        return tuple(first)

    def __init__(self, inputs, axis: int):
        shape = ConcatOp.infer([shape_of(v) for v in inputs], axis)
        super().__init__(operands=[list(inputs)], result_types=[tensor(shape)],
                         properties={"axis": IntegerAttr(axis, i64)})

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException(f"{self.name}: needs at least one input")
        _check_result(self, ConcatOp.infer([shape_of(v) for v in self.inputs], self.properties["axis"].value.data))


@irdl_op_definition
class SplitOp(LiteOp):
    """Cut along `axis` into pieces of the given sizes (Split)."""

    name = "lite.split"
    input = operand_def(TensorType)
    outputs = var_result_def(TensorType)
    axis = prop_def(IntegerAttr)
    sizes = prop_def(DenseArrayBase)
    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, axis: int, sizes: Sequence[int]):
        x = shape_of(input)
        shapes = [x[:axis] + (s,) + x[axis + 1:] for s in sizes]
        super().__init__(operands=[input], result_types=[[tensor(s) for s in shapes]],
                         properties={"axis": IntegerAttr(axis, i64), "sizes": ints(sizes)})

    def verify_(self) -> None:
        x = shape_of(self.input)
        axis, sizes = self.properties["axis"].value.data, self.int_list("sizes")
        if not 0 <= axis < len(x) or sum(sizes) != x[axis] or len(sizes) != len(self.outputs):
            raise VerifyException(f"{self.name}: sizes {sizes} do not split dimension {axis} of {list(x)}")
        for s, r in zip(sizes, self.outputs):
            _check_result(self, x[:axis] + (s,) + x[axis + 1:], r)


@irdl_op_definition
class SliceOp(_UnaryOp):
    """Strided slice, one (begin, end, stride) per dimension, already clamped: end exclusive (StridedSlice)."""

    name = "lite.slice"
    begin = prop_def(DenseArrayBase)
    end = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)

    def __init__(self, input, begin, end, strides):
        super().__init__(operands=[input], result_types=[tensor(infer_slice(shape_of(input), begin, end, strides))],
                         properties={"begin": ints(begin), "end": ints(end), "strides": ints(strides)})

    def verify_(self) -> None:
        x = shape_of(self.input)
        b, e, s = (self._check_len(p, len(x)) for p in ("begin", "end", "strides"))
        if 0 in s:
            raise VerifyException(f"{self.name}: strides must be non-zero")
        _check_result(self, infer_slice(x, b, e, s))


@irdl_op_definition
class PadOp(_UnaryOp):
    """Pad each dimension i by pads[2i] before and pads[2i+1] after (PadFusion)."""

    name = "lite.pad"
    pads = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr, default_value=StringAttr("constant"))
    value = prop_def(FloatAttr, default_value=f32_attr(0.0))

    def __init__(self, input, pads, mode="constant", value=0.0):
        x = shape_of(input)
        shape = [d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x)]
        super().__init__(operands=[input], result_types=[tensor(shape)],
                         properties={"pads": ints(pads), "mode": StringAttr(mode), "value": f32_attr(value)})

    def verify_(self) -> None:
        x = shape_of(self.input)
        pads = self._check_len("pads", 2 * len(x))
        if self.str_prop("mode") not in ("constant", "reflect", "edge"):
            raise VerifyException(f"{self.name}: unknown mode '{self.str_prop('mode')}'")
        if min(pads) < 0:
            raise VerifyException(f"{self.name}: pads must be >= 0")
        _check_result(self, [d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x)])


@irdl_op_definition
class SoftmaxOp(_UnaryOp):
    """Softmax along `axis` (Softmax)."""

    name = "lite.softmax"
    axis = prop_def(IntegerAttr)

    def __init__(self, input, axis: int):
        super().__init__(operands=[input], result_types=[input.type], properties={"axis": IntegerAttr(axis, i64)})

    def verify_(self) -> None:
        super().verify_()
        if not 0 <= self.properties["axis"].value.data < len(shape_of(self.input)):
            raise VerifyException(f"{self.name}: axis out of range")


@irdl_op_definition
class ReduceOp(_UnaryOp):
    """Reduce over `axes` with `mode` mean|max|min|sum|prod (ReduceFusion)."""

    name = "lite.reduce"
    mode = prop_def(StringAttr)
    axes = prop_def(DenseArrayBase)
    keep_dims = prop_def(IntegerAttr)

    def __init__(self, input, mode: str, axes, keep_dims: bool):
        shape = infer_reduce(shape_of(input), list(axes), keep_dims)
        super().__init__(operands=[input], result_types=[tensor(shape)],
                         properties={"mode": StringAttr(mode), "axes": ints(axes), "keep_dims": bool_attr(keep_dims)})

    def verify_(self) -> None:
        x = shape_of(self.input)
        axes = self.int_list("axes")
        if any(not 0 <= a < len(x) for a in axes) or len(set(axes)) != len(axes):
            raise VerifyException(f"{self.name}: axes {axes} invalid for rank {len(x)}")
        if self.str_prop("mode") not in ("mean", "max", "min", "sum", "prod"):
            raise VerifyException(f"{self.name}: unknown mode '{self.str_prop('mode')}'")
        _check_result(self, infer_reduce(x, axes, self.bool_prop("keep_dims")))


@irdl_op_definition
class ResizeOp(_UnaryOp):
    """Resize H and W of an NHWC tensor to the result shape (Resize).

    mode: nearest | linear; coordinate_mode: half_pixel | align_corners | asymmetric | pytorch_half_pixel;
    nearest_mode: round_prefer_floor | round_prefer_ceil | floor | ceil."""

    name = "lite.resize"
    mode = prop_def(StringAttr)
    coordinate_mode = prop_def(StringAttr, default_value=StringAttr("half_pixel"))
    nearest_mode = prop_def(StringAttr, default_value=StringAttr("round_prefer_floor"))

    def __init__(self, input, size, mode, coordinate_mode="half_pixel", nearest_mode="round_prefer_floor"):
        n, _, _, c = shape_of(input)
        super().__init__(operands=[input], result_types=[tensor((n, size[0], size[1], c))],
                         properties={"mode": StringAttr(mode), "coordinate_mode": StringAttr(coordinate_mode),
                                     "nearest_mode": StringAttr(nearest_mode)})

    def verify_(self) -> None:
        x = _check_rank(self, "input", self.input, 4)
        y = shape_of(self.output)
        if len(y) != 4 or (y[0], y[3]) != (x[0], x[3]):
            raise VerifyException(f"{self.name}: only H and W may change, got {list(x)} -> {list(y)}")
        if self.str_prop("mode") not in ("nearest", "linear"):
            raise VerifyException(f"{self.name}: unknown mode '{self.str_prop('mode')}'")


@irdl_op_definition
class BatchNormOp(LiteOp):
    """Inference batch norm over the last (channel) axis (FusedBatchNorm)."""

    name = "lite.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    offset = operand_def(TensorType)
    mean = operand_def(TensorType)
    variance = operand_def(TensorType)
    output = result_def(TensorType)
    epsilon = prop_def(FloatAttr)
    assembly_format = "$input `,` $scale `,` $offset `,` $mean `,` $variance attr-dict `:` functional-type(operands, results)"

    def __init__(self, input, scale, offset, mean, variance, epsilon: float):
        super().__init__(operands=[input, scale, offset, mean, variance], result_types=[input.type],
                         properties={"epsilon": f32_attr(epsilon)})

    def verify_(self) -> None:
        c = shape_of(self.input)[-1]
        for name in ("scale", "offset", "mean", "variance"):
            if shape_of(getattr(self, name)) != (c,):
                raise VerifyException(f"{self.name}: {name} must have shape [{c}]")
        _check_result(self, shape_of(self.input))


@irdl_op_definition
class LRNOp(_UnaryOp):
    """Local response normalisation across channels (LRN), ONNX semantics."""

    name = "lite.lrn"
    size = prop_def(IntegerAttr)
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)
    bias = prop_def(FloatAttr)

    def __init__(self, input, size: int, alpha: float, beta: float, bias: float):
        super().__init__(operands=[input], result_types=[input.type],
                         properties={"size": IntegerAttr(size, i64), "alpha": f32_attr(alpha),
                                     "beta": f32_attr(beta), "bias": f32_attr(bias)})

    def verify_(self) -> None:
        _check_rank(self, "input", self.input, 4)
        super().verify_()


Lite = Dialect(
    "lite",
    [Conv2DOp, Conv2DTransposeOp, FullyConnectedOp, MatMulOp, AddOp, SubOp, MulOp, DivOp, ActivationOp, ClipOp,
     PReluOp, MaxPoolOp, AvgPoolOp, ReshapeOp, TransposeOp, ConcatOp, SplitOp, SliceOp, PadOp, SoftmaxOp,
     ReduceOp, ResizeOp, BatchNormOp, LRNOp],
)
