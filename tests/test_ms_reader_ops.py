"""Primitives and attribute forms that only files written by MindSpore Lite contain (our writer never
emits them): read into lite ops, checked numerically against numpy."""

from __future__ import annotations

import numpy as np
import pytest

from quantopt.backends.ms import decode_ms
from quantopt.backends.ms.codes import NUMPY_DTYPES, TypeId
from quantopt.backends.ms.flatbuf import dump_graph
from quantopt.backends.ms.graph import MsGraph, MsNode, MsSubGraph, MsTensor
from quantopt.errors import QuantOptError

RNG = np.random.default_rng(3)


class GraphBuilder:
    """A minimal `.ms` graph assembled by hand, as MindSpore Lite's converter would write it."""

    def __init__(self):
        self.tensors: list[MsTensor] = []
        self.nodes: list[MsNode] = []
        self.inputs: list[int] = []

    def tensor(self, dims, data: bytes = b"", data_type=TypeId.FLOAT32, node_type=2) -> int:
        self.tensors.append(MsTensor(name=f"t{len(self.tensors)}", node_type=node_type, data_type=data_type,
                                     dims=list(dims), format=1, data=data))
        return len(self.tensors) - 1

    def input(self, *dims) -> int:
        self.inputs.append(self.tensor(dims))
        return self.inputs[-1]

    def const(self, values) -> int:
        array = np.asarray(values)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "iu":
            array = array.astype(np.int32)
        code = next(c for c, d in NUMPY_DTYPES.items() if d == array.dtype)
        return self.tensor(array.shape, array.tobytes(), code, node_type=0)

    def node(self, primitive: str, inputs, out_dims, **attrs) -> list[int]:
        outs = [self.tensor(d) for d in out_dims]
        self.nodes.append(MsNode(name=f"{primitive}-{len(self.nodes)}", primitive=primitive, attrs=attrs,
                                 inputs=list(inputs), outputs=outs))
        return outs

    def bytes(self, outputs) -> bytes:
        n = len(self.tensors)
        sub = MsSubGraph("g", self.inputs, list(outputs), list(range(len(self.nodes))), list(range(n)))
        return dump_graph(MsGraph("", "MindSpore Lite 1.3.0", 4, self.inputs, list(outputs), self.nodes,
                                  self.tensors, [sub]))


def run(data: bytes, *inputs):
    executor = pytest.importorskip("quantopt.backends.reference.executor").Executor
    return executor(decode_ms(data)).run([np.asarray(x, np.float32) for x in inputs])


def test_stack_flatten_squeeze_unsqueeze_expand_dims():
    g = GraphBuilder()
    x = g.input(2, 3, 4)
    (s,) = g.node("Stack", [x, x, x], [[2, 3, 3, 4]], axis=-2)
    (f,) = g.node("Flatten", [s], [[2, 36]])
    (u,) = g.node("Unsqueeze", [f], [[2, 1, 36, 1]], axis=[1, -1])
    (q,) = g.node("Squeeze", [u], [[2, 36]], axis=[])
    (e,) = g.node("ExpandDims", [q, g.const(0)], [[1, 2, 36]])
    xv = RNG.standard_normal((2, 3, 4))
    (out,) = run(g.bytes([e]), xv)
    np.testing.assert_array_equal(out, np.stack([xv] * 3, axis=-2).reshape(1, 2, 36).astype(np.float32))


def test_same_padding_global_pool_and_fused_activations():
    g = GraphBuilder()
    x = g.input(1, 5, 6, 2)
    w = RNG.standard_normal((3, 3, 2, 2)).astype(np.float32)
    # SAME with stride 2: out 3x3; extra padding goes to the bottom/right, HSWISH fused (a separate op in lite)
    (c,) = g.node("Conv2DFusion", [x, g.const(w)], [[1, 3, 3, 3]], kernel_size=[3, 2], stride=[2, 2],
                  dilation=[1, 1], pad_mode=1, group=1, activation_type=12)
    (p,) = g.node("MaxPoolFusion", [c], [[1, 2, 2, 3]], kernel_size=[2, 2], strides=[2, 2], pad_mode=1)
    (gp,) = g.node("AvgPoolFusion", [p], [[1, 1, 1, 3]], **{"global": True})
    xv = RNG.standard_normal((1, 5, 6, 2))
    (out,) = run(g.bytes([gp]), xv)
    padded = np.pad(xv, [(0, 0), (1, 1), (0, 1), (0, 0)])  # h: total 2 -> 1/1; w: total 1 -> 0/1
    conv = np.zeros((1, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            conv[0, i, j] = np.einsum("hwc,ohwc->o", padded[0, 2 * i:2 * i + 3, 2 * j:2 * j + 2], w)
    hswish = conv * np.clip(conv + 3, 0, 6) / 6
    hp = np.pad(hswish, [(0, 0), (0, 1), (0, 1), (0, 0)], constant_values=-np.inf)  # SAME pool: pad bottom/right
    pooled = np.array([[[hp[0, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(0, 1)) for j in range(2)]
                        for i in range(2)]])
    np.testing.assert_allclose(out, pooled.mean(axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-6)


def test_fully_connected_forms_and_matmul_with_bias():
    g = GraphBuilder()
    x = g.input(2, 3, 4)
    w = RNG.standard_normal((5, 12)).astype(np.float32)
    w2 = RNG.standard_normal((5, 4)).astype(np.float32)
    b = RNG.standard_normal(5).astype(np.float32)
    (fc,) = g.node("FullConnection", [x, g.const(w), g.const(b)], [[2, 5]], has_bias=True, use_axis=True, axis=1)
    (rows,) = g.node("FullConnection", [x, g.const(w2)], [[6, 5]], use_axis=False, activation_type=2)  # sigmoid
    y = g.input(2, 5, 3)
    (mm,) = g.node("MatMulFusion", [y, y, g.const(np.ones(3))], [[2, 3, 3]], transpose_a=True, activation_type=1)
    xv, yv = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 3))
    out_fc, out_rows, out_mm = run(g.bytes([fc, rows, mm]), xv, yv)
    np.testing.assert_allclose(out_fc, xv.reshape(2, 12) @ w.T + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out_rows, 1 / (1 + np.exp(-(xv.reshape(6, 4) @ w2.T))), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out_mm, np.maximum(np.swapaxes(yv, 1, 2) @ yv + 1, 0), rtol=1e-5, atol=1e-5)


def test_slices_reshape_split_clip_bias_leaky_relu():
    g = GraphBuilder()
    x = g.input(2, 6, 4)
    (ss,) = g.node("StridedSlice", [x, g.const([0, -1, 1]), g.const([0, 0, 4]), g.const([1, -2, 2])], [[3, 2]],
                   begin_mask=0, end_mask=0b010, shrink_axis_mask=0b001)
    (sf,) = g.node("SliceFusion", [x, g.const([1, 2]), g.const([-1, 2])], [[2, 5, 2]], axes=[1, 2])
    (r,) = g.node("Reshape", [sf, g.const([0, -1])], [[2, 10]])
    a, b = g.node("Split", [r], [[2, 5], [2, 5]], axis=1)
    (c,) = g.node("Clip", [a, g.const(-0.5), g.const(0.5)], [[2, 5]])
    (ba,) = g.node("BiasAdd", [b, g.const(np.arange(5.0))], [[2, 5]])
    (lr,) = g.node("LeakyRelu", [ba], [[2, 5]], negative_slope=0.25)
    (ht,) = g.node("Activation", [ss], [[3, 2]], activation_type=16, min_val=-1.0, max_val=0.5)  # HARD_TANH
    xv = RNG.standard_normal((2, 6, 4))
    out_ht, out_c, out_lr = run(g.bytes([ht, c, lr]), xv)
    np.testing.assert_allclose(out_ht, np.clip(xv[0, ::-2, 1:4:2], -1, 0.5), rtol=1e-6)
    flat = xv[:, 1:, 2:4].reshape(2, 10)
    np.testing.assert_allclose(out_c, np.clip(flat[:, :5], -0.5, 0.5), rtol=1e-6)
    biased = flat[:, 5:] + np.arange(5.0)
    np.testing.assert_allclose(out_lr, np.where(biased > 0, biased, 0.25 * biased), rtol=1e-5, atol=1e-6)


def test_reduce_to_end_softmax_pad_concat_transpose():
    g = GraphBuilder()
    x = g.input(2, 3, 4)
    (red,) = g.node("ReduceFusion", [x, g.const([1])], [[2]], mode=4, reduce_to_end=True, coeff=1.0)
    (sm,) = g.node("Softmax", [x], [[2, 3, 4]], axis=[1])
    (pd,) = g.node("PadFusion", [sm, g.const([[0, 0], [1, 0], [0, 2]])], [[2, 4, 6]], padding_mode=1)
    (t,) = g.node("Transpose", [x, g.const([2, 0, 1])], [[4, 2, 3]])
    (cat,) = g.node("Concat", [t, t], [[4, 2, 6]], axis=-1)
    xv = RNG.standard_normal((2, 3, 4))
    out_red, out_pd, out_cat = run(g.bytes([red, pd, cat]), xv)
    np.testing.assert_allclose(out_red, xv.sum(axis=(1, 2)), rtol=1e-5)
    e = np.exp(xv - xv.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out_pd, np.pad(e / e.sum(axis=1, keepdims=True), [(0, 0), (1, 0), (0, 2)], "reflect"),
                               rtol=1e-5, atol=1e-7)
    t_ref = xv.transpose(2, 0, 1)
    np.testing.assert_array_equal(out_cat, np.concatenate([t_ref, t_ref], axis=-1).astype(np.float32))


def test_output_shapes_are_checked_against_the_file():
    g = GraphBuilder()
    x = g.input(1, 4)
    (out,) = g.node("FullConnection", [x, g.const(np.ones((3, 4)))], [[1, 5]])
    with pytest.raises(QuantOptError, match=r"output 0 has shape \[1, 3\], the file records \[1, 5\]"):
        decode_ms(g.bytes([out]))


def test_kchw_filters_are_permuted():
    g = GraphBuilder()
    x = g.input(1, 4, 4, 3)
    w = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)  # [out, kh, kw, in]
    khwc = g.const(w)
    kchw = g.const(w.transpose(0, 3, 1, 2))
    g.tensors[kchw].format = 5  # KCHW
    outs = [g.node("Conv2DFusion", [x, weight], [[1, 2, 2, 2]], group=1, pad_mode=2)[0] for weight in (khwc, kchw)]
    a, b = run(g.bytes(outs), RNG.standard_normal((1, 4, 4, 3)))
    np.testing.assert_array_equal(a, b)
