"""fp32 reference kernels against naive loop references, one small module per op through the Executor.

Every case builds `func.func @main` with lite constructors, so the kernel builders (property decoding,
constant weights prepared at construction) are exercised with the kernels. The references loop over
output positions in float64 and read like the op docstrings; a few cases also ask onnxruntime.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from quantopt.backends.reference.executor import Executor
from quantopt.dialects import lite
from quantopt.dialects.quant import DequantizeCastOp, QuantizeCastOp, StorageCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    f32,
)
from xdsl.ir import Block, Region

RNG = np.random.default_rng(1234)


def rand(*shape) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


class Graph:
    """Builds `func.func @main(args) { ops; return }` one op at a time."""

    def __init__(self, *input_shapes, element_type=f32):
        self.block = Block(arg_types=[lite.tensor(s, element_type) for s in input_shapes])
        self.args = list(self.block.args)

    def const(self, array: np.ndarray, element_type=f32):
        array = np.ascontiguousarray(array)
        attr = DenseIntOrFPElementsAttr(TensorType(element_type, array.shape), BytesAttr(array.tobytes()))
        return self.op(arith.ConstantOp(attr))

    def op(self, op):
        self.block.add_op(op)
        return op.results[0] if len(op.results) == 1 else op.results

    def module(self, *outputs) -> ModuleOp:
        self.block.add_op(func.ReturnOp(*outputs))
        main = func.FuncOp("main", (self.block.arg_types, [v.type for v in outputs]), Region(self.block))
        module = ModuleOp([main])
        module.verify()
        return module


def run_single(make_op, *inputs: np.ndarray, constants=(), threads=None):
    """Run one op on `inputs` (function arguments) and `constants` (arith.constant operands); `threads` > 1
    makes the kernels split their work between threads, as for large models."""
    g = Graph(*(x.shape for x in inputs))
    operands = list(g.args) + [None if c is None else g.const(c) for c in constants]
    result = g.op(make_op(*operands))
    results = list(result) if isinstance(result, (list, tuple)) or not hasattr(result, "type") else [result]
    outputs = Executor(g.module(*results), threads=threads).run(list(inputs))
    return outputs if len(outputs) > 1 else outputs[0]


def close(got, want, tol=1e-4):
    np.testing.assert_allclose(got, np.asarray(want, np.float64), rtol=tol, atol=tol)


def apply_activation(y, activation):
    return {"none": y, "relu": np.maximum(y, 0), "relu6": np.clip(y, 0, 6)}[activation]


# ----------------------------------------------------------------------------------------------- conv


def conv2d_reference(x, w, b, strides, dilations, pads, group, activation="none"):
    n = x.shape[0]
    o, kh, kw, cg = w.shape
    og = o // group
    _, oh, ow, _ = lite.infer_conv2d(x.shape, w.shape, strides, dilations, pads)
    xp = np.pad(x.astype(np.float64), ((0, 0), (pads[0], pads[1] + kh * dilations[0]),
                                       (pads[2], pads[3] + kw * dilations[1]), (0, 0)))
    y = np.zeros((n, oh, ow, o))
    for oy in range(oh):
        for ox in range(ow):
            for g in range(group):
                rows = [oy * strides[0] + i * dilations[0] for i in range(kh)]
                cols = [ox * strides[1] + j * dilations[1] for j in range(kw)]
                patch = xp[:, rows][:, :, cols][..., g * cg:(g + 1) * cg]  # [n, kh, kw, cg]
                y[:, oy, ox, g * og:(g + 1) * og] = np.einsum("nijc,oijc->no", patch, w[g * og:(g + 1) * og])
    if b is not None:
        y += b
    return apply_activation(y, activation)


CONV_CASES = [
    # x shape, (o, kh, kw), strides, dilations, pads (t, b, l, r), group, bias, activation
    ((1, 7, 7, 3), (4, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1, True, "none"),
    ((2, 8, 9, 5), (6, 3, 2), (2, 1), (1, 1), (0, 1, 2, 0), 1, True, "relu"),
    ((1, 9, 9, 4), (3, 3, 3), (1, 2), (2, 2), (2, 1, 0, 2), 1, False, "relu6"),
    ((2, 6, 5, 8), (5, 1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1, True, "relu6"),
    ((1, 7, 6, 8), (5, 1, 1), (2, 2), (1, 1), (0, 0, 0, 0), 1, True, "none"),
    ((1, 5, 5, 3), (2, 1, 1), (1, 1), (1, 1), (1, 0, 0, 1), 1, True, "none"),
    ((1, 8, 8, 6), (4, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 2, True, "none"),
    ((1, 8, 7, 6), (9, 3, 2), (2, 1), (1, 2), (1, 0, 1, 1), 3, True, "relu"),
    ((1, 8, 8, 5), (5, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 5, True, "relu6"),       # depthwise
    ((3, 9, 8, 4), (4, 3, 3), (2, 2), (1, 1), (0, 1, 1, 0), 4, True, "none"),        # depthwise s2, 3 images
    ((1, 10, 9, 3), (3, 5, 3), (2, 1), (2, 1), (3, 1, 0, 2), 3, False, "none"),      # dilated, asymmetric
    ((2, 6, 6, 3), (6, 3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 3, True, "relu"),        # depth multiplier 2
    ((1, 9, 11, 3), (3, 3, 3), (1, 2), (1, 2), (1, 2, 2, 1), 3, True, "none"),       # dw stride and dilation
    ((2, 7, 10, 4), (8, 2, 4), (3, 3), (1, 1), (0, 2, 1, 3), 4, True, "relu"),       # stride 3, multiplier 2
    ((1, 6, 7, 2), (2, 3, 3), (2, 2), (2, 2), (3, 0, 0, 3), 2, False, "none"),       # dw, pads past taps
    ((1, 4, 4, 2), (2, 5, 5), (1, 1), (1, 1), (0, 0, 0, 0), 2, True, "none"),        # kernel larger than input
    ((1, 3, 3, 2), (2, 3, 3), (1, 1), (1, 1), (2, 2, 2, 2), 2, True, "none"),        # taps wholly in padding
    ((1, 3, 4, 2), (3, 1, 1), (10, 1), (1, 1), (5, 0, 0, 0), 1, True, "none"),       # rows read only padding
    ((1, 6, 7, 3), (4, 2, 3), (1, 2), (2, 3), (0, 0, 0, 0), 1, True, "none"),        # unpadded, dilated
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads, group, bias, activation", CONV_CASES)
def test_conv2d(x_shape, w_shape, strides, dilations, pads, group, bias, activation, threads):
    x = rand(*x_shape)
    o, kh, kw = w_shape
    w = rand(o, kh, kw, x_shape[3] // group)
    b = rand(o) if bias else None
    got = run_single(lambda x, w, b: lite.Conv2DOp(x, w, b, strides, dilations, pads, group, activation),
                     x, constants=(w, b), threads=threads)
    close(got, conv2d_reference(x, w, b, strides, dilations, pads, group, activation))


def test_conv2d_with_runtime_weights():
    x, w, b = rand(1, 5, 5, 4), rand(6, 3, 3, 2), rand(6)
    got = run_single(lambda x, w, b: lite.Conv2DOp(x, w, b, (1, 1), (1, 1), (1, 1, 1, 1), 2), x, w, b)
    close(got, conv2d_reference(x, w, b, (1, 1), (1, 1), (1, 1, 1, 1), 2))


def conv2d_transpose_reference(x, w, b, strides, dilations, pads, output_padding, group):
    n, h, wd, _ = x.shape
    o, kh, kw, cg = w.shape
    og = o // group
    _, oh, ow, _ = lite.infer_conv2d_transpose(x.shape, w.shape, strides, dilations, pads, output_padding)
    canvas = np.zeros((n, (h - 1) * strides[0] + dilations[0] * (kh - 1) + 1 + output_padding[0],
                       (wd - 1) * strides[1] + dilations[1] * (kw - 1) + 1 + output_padding[1], o))
    for iy in range(h):
        for ix in range(wd):
            for i in range(kh):
                for j in range(kw):
                    for g in range(group):
                        canvas[:, iy * strides[0] + i * dilations[0], ix * strides[1] + j * dilations[1],
                               g * og:(g + 1) * og] += (x[:, iy, ix, g * cg:(g + 1) * cg].astype(np.float64)
                                                        @ w[g * og:(g + 1) * og, i, j, :].T)
    y = canvas[:, pads[0]:pads[0] + oh, pads[2]:pads[2] + ow]
    return y if b is None else y + b


TRANSPOSE_CASES = [
    ((1, 4, 4, 3), (5, 3, 3), (2, 2), (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    ((2, 3, 5, 4), (6, 2, 3), (2, 1), (1, 1), (0, 0, 0, 0), (0, 0), 2, True),
    ((1, 5, 4, 6), (3, 3, 2), (3, 2), (2, 1), (2, 1, 0, 1), (1, 0), 3, False),
    ((1, 4, 4, 4), (4, 4, 4), (2, 2), (1, 1), (1, 1, 1, 1), (0, 0), 4, True),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads, output_padding, group, bias", TRANSPOSE_CASES)
def test_conv2d_transpose(x_shape, w_shape, strides, dilations, pads, output_padding, group, bias):
    x = rand(*x_shape)
    o, kh, kw = w_shape
    w = rand(o, kh, kw, x_shape[3] // group)
    b = rand(o) if bias else None
    got = run_single(lambda x, w, b: lite.Conv2DTransposeOp(x, w, b, strides, dilations, pads, output_padding,
                                                             group), x, constants=(w, b))
    close(got, conv2d_transpose_reference(x, w, b, strides, dilations, pads, output_padding, group))


def test_conv2d_transpose_matches_onnxruntime():
    """Our filter [out, kh, kw, in/group] is ONNX's [in, out/group, kh, kw] regrouped."""
    onnx, ort = pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")
    group, cg, og = 2, 3, 2
    x, w_onnx, b = rand(1, 6, 4, 5), rand(group * cg, og, 3, 2), rand(group * og)
    node = onnx.helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 3], pads=[1, 0, 0, 1],
                                 output_padding=[1, 2], dilations=[1, 2], group=group)
    want = _onnxruntime(onnx, ort, node, {"x": x}, {"w": w_onnx, "b": b})
    w = w_onnx.reshape(group, cg, og, 3, 2).transpose(0, 2, 3, 4, 1).reshape(group * og, 3, 2, cg)
    got = run_single(lambda x, w, b: lite.Conv2DTransposeOp(x, w, b, (2, 3), (1, 2), (1, 0, 0, 1), (1, 2), group),
                     x.transpose(0, 2, 3, 1).copy(), constants=(w, b))
    close(got, want.transpose(0, 2, 3, 1))


def test_fully_connected_and_matmul():
    x, w, b = rand(3, 7), rand(5, 7), rand(5)
    close(run_single(lambda x, w, b: lite.FullyConnectedOp(x, w, b, "relu"), x, constants=(w, b)),
          np.maximum(x.astype(np.float64) @ w.T + b, 0))
    for rows, outputs in [(3, 130), (600, 5)]:  # split by columns, by rows
        x, w, b = rand(rows, 7), rand(outputs, 7), rand(outputs)
        close(run_single(lambda x, w, b: lite.FullyConnectedOp(x, w, b, "relu6"), x, constants=(w, b), threads=2),
              np.clip(x.astype(np.float64) @ w.T + b, 0, 6))
    a, b = rand(2, 1, 4, 3), rand(5, 6, 4)  # used transposed: [2, 1, 3, 4] x [5, 4, 6]
    close(run_single(lambda a, b: lite.MatMulOp(a, b, transpose_a=True, transpose_b=True), a, b),
          np.matmul(a.swapaxes(-1, -2).astype(np.float64), b.swapaxes(-1, -2)))
    lhs, rhs = rand(2, 1, 3, 4), rand(4, 6)
    close(run_single(lambda a, b: lite.MatMulOp(a, b, activation="relu6"), lhs, constants=(rhs,)),
          np.clip(lhs.astype(np.float64) @ rhs, 0, 6))
    close(run_single(lambda a, b: lite.MatMulOp(a, b, transpose_b=True), lhs, constants=(rhs.T.copy(),)),
          lhs.astype(np.float64) @ rhs)


# ------------------------------------------------------------------------------------------ pointwise


@pytest.mark.parametrize("op_class, ufunc", [(lite.AddOp, np.add), (lite.SubOp, np.subtract),
                                             (lite.MulOp, np.multiply), (lite.DivOp, np.divide)])
def test_binary_broadcasting(op_class, ufunc):
    a, b = rand(2, 3, 4, 5), rand(3, 1, 5)
    b[np.abs(b) < 0.1] = 0.5
    close(run_single(lambda a, b: op_class(a, b, "relu6"), a, b), np.clip(ufunc(a.astype(np.float64), b), 0, 6))
    close(run_single(lambda b, a: op_class(b, a), b, a), ufunc(b.astype(np.float64), a))


def _gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


ACTIVATIONS = {
    "relu": lambda x, a, b: np.maximum(x, 0),
    "relu6": lambda x, a, b: np.clip(x, 0, 6),
    "sigmoid": lambda x, a, b: 1 / (1 + np.exp(-x)),
    "tanh": lambda x, a, b: np.tanh(x),
    "hswish": lambda x, a, b: x * np.clip(x + 3, 0, 6) / 6,
    "hsigmoid": lambda x, a, b: np.clip(x + 3, 0, 6) / 6,
    "leaky_relu": lambda x, a, b: np.where(x >= 0, x, a * x),
    "hard_sigmoid": lambda x, a, b: np.clip(a * x + b, 0, 1),
    "elu": lambda x, a, b: np.where(x > 0, x, a * (np.exp(x) - 1)),
    "gelu": lambda x, a, b: _gelu(x),
    "abs": lambda x, a, b: np.abs(x),
    "softplus": lambda x, a, b: np.log1p(np.exp(x)),
    "swish": lambda x, a, b: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("kind", sorted(ACTIVATIONS))
def test_activation(kind):
    x = rand(2, 3, 4, 5) * 4
    x[0, 0, 0, :3] = [-100.0, 0.0, 100.0]  # tails must not overflow (pytest -W error) nor lose precision
    alpha, beta = 0.2, 0.4
    want = ACTIVATIONS[kind](x.astype(np.float64), alpha, beta)
    close(run_single(lambda x: lite.ActivationOp(x, kind, alpha, beta), x), want, tol=2e-6)


def test_clip_and_prelu():
    x = rand(2, 4, 4, 3) * 3
    close(run_single(lambda x: lite.ClipOp(x, -1.0, 0.5), x), np.clip(x, -1.0, 0.5))
    slope = rand(3)
    close(run_single(lambda x, s: lite.PReluOp(x, s), x, constants=(slope,)), np.where(x >= 0, x, x * slope))


def test_in_place_kernels_leave_shared_values_alone():
    """relu may overwrite the conv output it consumes, but not an argument nor a value read twice."""
    x, w = rand(1, 4, 4, 2), rand(2, 1, 1, 2)
    g = Graph(x.shape)
    conv = g.op(lite.Conv2DOp(g.args[0], g.const(w), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    relu_of_arg = g.op(lite.ActivationOp(g.args[0], "relu"))
    relu_of_conv = g.op(lite.ActivationOp(conv, "relu"))
    total = g.op(lite.AddOp(relu_of_conv, relu_of_arg))
    twice = g.op(lite.MulOp(total, total))
    shared = g.op(lite.ActivationOp(twice, "tanh"))
    also = g.op(lite.AddOp(twice, shared))
    x_before = x.copy()
    module = g.module(also, relu_of_arg)
    text_before = str(module)
    got = Executor(module).run([x])
    assert str(module) == text_before  # relu is fused into the conv in a copy only
    conv_ref = conv2d_reference(x, w, None, (1, 1), (1, 1), (0, 0, 0, 0), 1)
    t = (np.maximum(conv_ref, 0) + np.maximum(x, 0)) ** 2
    close(got[0], t + np.tanh(t))
    close(got[1], np.maximum(x, 0))
    np.testing.assert_array_equal(x, x_before)


# ---------------------------------------------------------------------------------------------- pools


def pool_reference(kind, x, kernel, strides, pads, ceil_mode, count_include_pad=False):
    n, h, w, c = x.shape
    _, oh, ow, _ = lite.infer_pool(x.shape, kernel, strides, pads, ceil_mode)
    y = np.zeros((n, oh, ow, c))
    for oy in range(oh):
        for ox in range(ow):
            top, left = oy * strides[0] - pads[0], ox * strides[1] - pads[2]
            rows = [r for r in range(top, top + kernel[0]) if 0 <= r < h]
            cols = [q for q in range(left, left + kernel[1]) if 0 <= q < w]
            window = x[:, rows][:, :, cols].astype(np.float64)
            if kind == "max":
                y[:, oy, ox] = window.max(axis=(1, 2))
            else:
                if count_include_pad:  # padding counts, the ceil-mode overhang past it does not
                    count = ((min(top + kernel[0], h + pads[1]) - top) * (min(left + kernel[1], w + pads[3]) - left))
                else:
                    count = len(rows) * len(cols)
                y[:, oy, ox] = window.sum(axis=(1, 2)) / count
    return y


POOL_CASES = [
    ((1, 7, 7, 3), (3, 3), (2, 2), (1, 1, 1, 1), False),
    ((2, 8, 9, 2), (3, 2), (2, 2), (0, 1, 1, 0), True),
    ((1, 7, 6, 2), (2, 3), (3, 2), (1, 0, 0, 2), True),
    ((1, 5, 6, 2), (3, 3), (3, 3), (1, 1, 1, 1), True),
    ((2, 7, 7, 4), (7, 7), (1, 1), (0, 0, 0, 0), False),  # global
]


@pytest.mark.parametrize("x_shape, kernel, strides, pads, ceil_mode", POOL_CASES)
def test_pools(x_shape, kernel, strides, pads, ceil_mode):
    x = rand(*x_shape)
    close(run_single(lambda x: lite.MaxPoolOp(x, kernel, strides, pads, ceil_mode), x),
          pool_reference("max", x, kernel, strides, pads, ceil_mode))
    for include in (False, True):
        close(run_single(lambda x: lite.AvgPoolOp(x, kernel, strides, pads, ceil_mode, count_include_pad=include), x),
              pool_reference("avg", x, kernel, strides, pads, ceil_mode, include))


def test_pools_match_onnxruntime():
    onnx, ort = pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")
    x = rand(1, 2, 7, 8)
    for kernel, strides, pads, ceil_mode in [((3, 3), (2, 2), (1, 0, 1, 1), 1), ((2, 3), (3, 2), (1, 1, 0, 2), 1),
                                             ((3, 2), (2, 3), (0, 1, 1, 0), 0)]:
        onnx_pads = [pads[0], pads[2], pads[1], pads[3]]
        for kind, include in (("max", 0), ("avg", 0), ("avg", 1)):
            attrs = {"kernel_shape": kernel, "strides": strides, "pads": onnx_pads, "ceil_mode": ceil_mode}
            if kind == "avg":
                attrs["count_include_pad"] = include
            node = onnx.helper.make_node("MaxPool" if kind == "max" else "AveragePool", ["x"], ["y"], **attrs)
            want = _onnxruntime(onnx, ort, node, {"x": x})
            op = (lambda x: lite.MaxPoolOp(x, kernel, strides, pads, ceil_mode)) if kind == "max" else \
                (lambda x: lite.AvgPoolOp(x, kernel, strides, pads, ceil_mode, count_include_pad=include))
            close(run_single(op, x.transpose(0, 2, 3, 1).copy()), want.transpose(0, 2, 3, 1))


# --------------------------------------------------------------------------------------------- shapes


def test_reshape_transpose_concat_split():
    x, y = rand(2, 3, 4), rand(2, 5, 4)
    close(run_single(lambda x: lite.ReshapeOp(x, (6, 4)), x), x.reshape(6, 4))
    close(run_single(lambda x: lite.TransposeOp(x, (2, 0, 1)), x), x.transpose(2, 0, 1))
    close(run_single(lambda x, y: lite.ConcatOp([x, y, x], 1), x, y), np.concatenate([x, y, x], 1))
    parts = run_single(lambda y: lite.SplitOp(y, 1, (2, 1, 2)), y)
    for got, want in zip(parts, np.split(y, [2, 3], axis=1)):
        close(got, want)


@pytest.mark.parametrize("begin, end, strides", [
    ((0, 1, 0), (2, 3, 5), (1, 1, 2)),
    ((1, 2, 4), (-1, -1, -1), (-1, -1, -2)),   # negative strides through index 0
    ((1, 2, 3), (0, 0, 1), (-1, -2, -1)),
    ((0, 3, 0), (2, 1, 5), (1, 1, 1)),         # empty
])
def test_slice(begin, end, strides):
    x = rand(2, 3, 5)
    want = x[np.ix_(*[list(range(b, e, s)) for b, e, s in zip(begin, end, strides)])]
    close(run_single(lambda x: lite.SliceOp(x, begin, end, strides), x), want)


def pad_reference(x, pads, mode, value):
    out_shape = [d + pads[2 * i] + pads[2 * i + 1] for i, d in enumerate(x.shape)]
    y = np.empty(out_shape)
    for index in np.ndindex(*out_shape):
        src = []
        for i, p in enumerate(index):
            k, n = p - pads[2 * i], x.shape[i]
            if mode == "reflect":
                k = -k if k < 0 else (2 * (n - 1) - k if k >= n else k)
            elif mode == "edge":
                k = min(max(k, 0), n - 1)
            src.append(k)
        inside = all(0 <= k < n for k, n in zip(src, x.shape))
        y[index] = x[tuple(src)] if inside else value
    return y


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode):
    x = rand(1, 4, 5, 2)
    pads = (0, 0, 2, 1, 0, 3, 1, 0)
    close(run_single(lambda x: lite.PadOp(x, pads, mode, 1.5), x), pad_reference(x, pads, mode, 1.5))


# ------------------------------------------------------------------------------ normalising, reducing


def test_softmax_reduce_batch_norm():
    x = rand(2, 3, 4, 5) * 3
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    close(run_single(lambda x: lite.SoftmaxOp(x, 1), x), e / e.sum(axis=1, keepdims=True))
    for mode, f in [("mean", np.mean), ("max", np.max), ("min", np.min), ("sum", np.sum), ("prod", np.prod)]:
        for keep in (True, False):
            close(run_single(lambda x: lite.ReduceOp(x, mode, (1, 3), keep), x),
                  f(x.astype(np.float64), axis=(1, 3), keepdims=keep))
    scale, offset, mean, var = rand(5), rand(5), rand(5), np.abs(rand(5)) + 0.1
    close(run_single(lambda x, *p: lite.BatchNormOp(x, *p, 1e-3), x, constants=(scale, offset, mean, var)),
          (x - mean) / np.sqrt(var.astype(np.float64) + 1e-3) * scale + offset)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
def test_lrn(size):
    x = rand(2, 3, 3, 6)
    alpha, beta, bias = 0.3, 0.75, 1.5
    want = np.empty(x.shape)
    c = x.shape[-1]
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + math.ceil((size - 1) / 2))
        square_sum = (x[..., lo:hi + 1].astype(np.float64) ** 2).sum(-1)
        want[..., ch] = x[..., ch] / (bias + alpha / size * square_sum) ** beta
    close(run_single(lambda x: lite.LRNOp(x, size, alpha, beta, bias), x), want)


# --------------------------------------------------------------------------------------------- resize


def _source(x: int, in_len: int, out_len: int, coordinate_mode: str) -> np.float32:
    f, scale = np.float32, np.float32(out_len) / np.float32(in_len)
    if coordinate_mode == "half_pixel" or (coordinate_mode == "pytorch_half_pixel" and out_len > 1):
        return (f(x) + f(0.5)) / scale - f(0.5)
    if coordinate_mode == "align_corners":
        return f(x) * f(in_len - 1) / f(out_len - 1) if out_len > 1 else f(0)
    if coordinate_mode == "asymmetric":
        return f(x) / scale
    return f(0)


def resize_reference(x, size, mode, coordinate_mode, nearest_mode):
    n, h, w, c = x.shape
    y = np.empty((n, size[0], size[1], c))

    def nearest(v, length):
        frac = v - math.floor(v)
        if nearest_mode == "floor" or (nearest_mode == "round_prefer_floor" and frac == 0.5):
            k = math.floor(v)
        elif nearest_mode == "ceil" or (nearest_mode == "round_prefer_ceil" and frac == 0.5):
            k = math.ceil(v)
        else:
            k = math.floor(v + 0.5)
        return min(max(k, 0), length - 1)

    def linear(v, length):
        v = min(max(float(v), 0.0), length - 1.0)
        lo = min(int(v), length - 1)
        return lo, min(lo + 1, length - 1), v - lo

    for oy in range(size[0]):
        for ox in range(size[1]):
            sy, sx = _source(oy, h, size[0], coordinate_mode), _source(ox, w, size[1], coordinate_mode)
            if mode == "nearest":
                y[:, oy, ox] = x[:, nearest(sy, h), nearest(sx, w)]
            else:
                y0, y1, fy = linear(sy, h)
                x0, x1, fx = linear(sx, w)
                y[:, oy, ox] = ((1 - fy) * ((1 - fx) * x[:, y0, x0] + fx * x[:, y0, x1])
                                + fy * ((1 - fx) * x[:, y1, x0] + fx * x[:, y1, x1]))
    return y


RESIZE_COORDINATES = ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"]


@pytest.mark.parametrize("coordinate_mode", RESIZE_COORDINATES)
@pytest.mark.parametrize("size", [(8, 10), (3, 2), (1, 7)])
def test_resize(coordinate_mode, size):
    x = rand(2, 4, 5, 3)
    for mode, nearest_modes in (("linear", ["round_prefer_floor"]),
                                ("nearest", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])):
        for nearest_mode in nearest_modes:
            got = run_single(lambda x: lite.ResizeOp(x, size, mode, coordinate_mode, nearest_mode), x)
            close(got, resize_reference(x, size, mode, coordinate_mode, nearest_mode))


def test_resize_matches_onnxruntime():
    onnx, ort = pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")
    x = rand(1, 2, 4, 6)
    for size in [(8, 12), (6, 9), (3, 4)]:
        for coordinate_mode in RESIZE_COORDINATES:
            for mode, nearest_mode in [("linear", "floor"), ("nearest", "round_prefer_floor"),
                                       ("nearest", "round_prefer_ceil"), ("nearest", "floor"), ("nearest", "ceil")]:
                node = onnx.helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode,
                                             coordinate_transformation_mode=coordinate_mode, nearest_mode=nearest_mode)
                want = _onnxruntime(onnx, ort, node, {"x": x}, {"sizes": np.array([1, 2, *size], np.int64)})
                got = run_single(lambda x: lite.ResizeOp(x, size, mode, coordinate_mode, nearest_mode),
                                 x.transpose(0, 2, 3, 1).copy())
                close(got, want.transpose(0, 2, 3, 1))


# ---------------------------------------------------------------------------------------------- quant


def _i8(width=8, signed=True):
    return IntegerType(width, Signedness.SIGNLESS if signed else Signedness.UNSIGNED)


def test_weight_quantization_chain_is_folded_per_axis():
    """arith.constant(i8) -> quant.scast -> quant.dcast feeding a conv: folded at construction."""
    x = rand(1, 5, 5, 3)
    q = RNG.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    scales, zero_points = [0.01, 0.02, 0.03, 0.04], [0, 1, -2, 3]
    qtype = UniformQuantizedType.get(scales, zero_points, axis=0)
    g = Graph(x.shape)
    storage = g.const(q, _i8())
    quantized = g.op(StorageCastOp(storage, lite.tensor(q.shape, qtype)))
    weight = g.op(DequantizeCastOp(quantized, lite.tensor(q.shape)))
    y = g.op(lite.Conv2DOp(g.args[0], weight, None, (1, 1), (1, 1), (1, 1, 1, 1), 1))
    executor = Executor(g.module(y))
    assert len(executor._steps) == 1
    w = (q.astype(np.float64) - np.array(zero_points)[:, None, None, None]) * np.array(scales)[:, None, None, None]
    close(executor.run([x])[0], conv2d_reference(x, w, None, (1, 1), (1, 1), (1, 1, 1, 1), 1))


@pytest.mark.parametrize("per_axis", [False, True])
def test_qcast_rounds_half_to_even_and_clamps(per_axis):
    scale = [0.5, 0.25, 1.0] if per_axis else 0.5
    zero_point = [3, -1, 0] if per_axis else 3
    qtype = UniformQuantizedType.get(scale, zero_point, axis=1 if per_axis else -1, qmin=-100, qmax=100)
    x = np.array([[1.25, -0.75, 2.5], [0.25, 0.125, -0.5], [1000.0, -1000.0, 3.5]], np.float32)
    g = Graph(x.shape)
    quantized = g.op(QuantizeCastOp(g.args[0], lite.tensor(x.shape, qtype)))
    storage = g.op(StorageCastOp(quantized, lite.tensor(x.shape, _i8())))
    back = g.op(DequantizeCastOp(quantized, lite.tensor(x.shape)))
    q, deq = Executor(g.module(storage, back)).run([x])
    s, z = np.broadcast_to(np.asarray(scale), (3,)), np.broadcast_to(np.asarray(zero_point), (3,))
    want = np.empty((3, 3), np.int64)
    for (i, j), v in np.ndenumerate(x):
        col = j if per_axis else 0
        want[i, j] = min(100, max(-100, round(float(v) / s[col]) + z[col]))  # Python round: half to even
    assert q.dtype == np.int8
    np.testing.assert_array_equal(q, want)
    close(deq, (want - z) * s)


def test_scast_reinterprets_unsigned_storage():
    q = np.array([0, 128, 255], np.uint8).view(np.int8)
    qtype = UniformQuantizedType.get(0.5, 128, signed=False)
    g = Graph((1,))
    deq = g.op(DequantizeCastOp(g.op(StorageCastOp(g.const(q, _i8()), lite.tensor((3,), qtype))), lite.tensor((3,))))
    out = g.op(lite.MulOp(g.args[0], deq))
    close(Executor(g.module(out)).run([np.ones(1, np.float32)])[0], [-64.0, 0.0, 63.5])


# ------------------------------------------------------------------------------------------- executor


def test_executor_validates_inputs():
    executor = Executor(_relu_module((1, 3)))
    with pytest.raises(QuantOptError, match="expected 1 input"):
        executor.run([])
    with pytest.raises(QuantOptError, match=r"shape \[3\], expected \[1, 3\]"):
        executor.run([np.zeros(3, np.float32)])
    with pytest.raises(QuantOptError, match="dtype int32"):
        executor.run([np.zeros((1, 3), np.int32)])
    out = executor.run([np.array([[-1.0, 0.5, 2.0]])])[0]  # float64 is cast
    assert out.dtype == np.float32
    close(out, [[0.0, 0.5, 2.0]])


def test_executor_rejects_unknown_ops_and_quantized_lite_ops():
    qtype = UniformQuantizedType.get(0.1, 0)
    g = Graph((2,))
    q = g.op(QuantizeCastOp(g.args[0], lite.tensor((2,), qtype)))
    module = g.module(g.op(lite.AddOp(q, q)))
    with pytest.raises(QuantOptError, match="lite.add .*f32"):
        Executor(module)
    g = Graph((2,))
    module = g.module(g.op(lite.SoftmaxOp(g.args[0], 0)))
    with pytest.raises(QuantOptError, match="no kernel for lite.softmax"):
        Executor(module, kernels={})


def test_buffers_die_after_their_last_reader():
    g = Graph((1, 4))
    a = g.op(lite.ActivationOp(g.args[0], "tanh"))
    b = g.op(lite.ActivationOp(a, "sigmoid"))
    c = g.op(lite.AddOp(a, b))
    d = g.op(lite.ActivationOp(c, "abs"))
    executor = Executor(g.module(d, b))
    steps = executor._steps
    slot_a, slot_c = steps[0].results[0], steps[2].results[0]
    assert [slot_a in s.dead for s in steps] == [False, False, True, False]
    assert [slot_c in s.dead for s in steps] == [False, False, False, True]
    assert not any(steps[1].results[0] in s.dead for s in steps)  # an output lives on


def _relu_module(shape):
    g = Graph(shape)
    return g.module(g.op(lite.ActivationOp(g.args[0], "relu")))


def _onnxruntime(onnx, ort, node, inputs, initializers=None):
    helper = onnx.helper
    graph = helper.make_graph(
        [node], "case",
        [helper.make_tensor_value_info(k, onnx.TensorProto.FLOAT, list(v.shape)) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(v, k) for k, v in (initializers or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]
