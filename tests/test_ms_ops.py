"""Every lite op survives write -> read: the written primitive and attributes are MindSpore Lite's, the
re-read module computes the same values, and writing it again gives the same bytes."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from quantopt.backends.ms import FmkType, decode_ms, encode_ms
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.dialects.constant import constant_op
from quantopt.backends.ms.writer_ops import EMITTERS
from quantopt.dialects import lite
from quantopt.dialects.lite import ACTIVATIONS

RNG = np.random.default_rng(42)


def _const(emit, *shape, positive=False):
    values = RNG.standard_normal(shape).astype(np.float32)
    return emit(constant_op(np.abs(values) + 0.5 if positive else values)).result


def _module(arg_shapes, body) -> ModuleOp:
    block = Block(arg_types=[TensorType(f32, s) for s in arg_shapes])

    def emit(op):
        block.add_op(op)
        return op

    results = body(emit, *block.args)
    block.add_op(func.ReturnOp(*results))
    module = ModuleOp([func.FuncOp("main", ([a.type for a in block.args], [r.type for r in results]), Region(block))])
    module.verify()
    return module


def _conv(emit, x):
    w, b = _const(emit, 4, 3, 3, 2), _const(emit, 4)
    y = emit(lite.Conv2DOp(x, w, b, [2, 1], [1, 1], [1, 0, 1, 2], 1, "relu6")).output
    dw = emit(lite.Conv2DOp(y, _const(emit, 4, 3, 3, 1), None, [1, 1], [2, 2], [2, 2, 2, 2], 4)).output
    return [dw]


def _conv_transpose(emit, x):
    w, b = _const(emit, 4, 3, 3, 2), _const(emit, 4)
    return [emit(lite.Conv2DTransposeOp(x, w, b, [2, 2], [1, 1], [1, 1, 1, 1], [1, 1], 1, "relu")).output]


def _dense(emit, x, y):
    fc = emit(lite.FullyConnectedOp(x, _const(emit, 5, 6), _const(emit, 5), "relu")).output
    mm = emit(lite.MatMulOp(y, y, False, True, "relu6")).output
    return [fc, mm]


def _binary(emit, x, y):
    a = emit(lite.AddOp(x, y, "relu")).output
    s = emit(lite.SubOp(a, _const(emit, 3))).output
    m = emit(lite.MulOp(s, y)).output
    return [emit(lite.DivOp(m, _const(emit, 1, 3, positive=True))).output]


def _activations(emit, x):
    outs = []
    for kind in ACTIVATIONS:
        alpha, beta = {"leaky_relu": (0.1, 0.0), "elu": (1.0, 0.0), "hard_sigmoid": (1 / 6, 0.5)}.get(kind, (0.0, 0.0))
        outs.append(emit(lite.ActivationOp(x, kind, alpha, beta)).output)
    outs.append(emit(lite.ClipOp(x, 0.0, 6.0)).output)
    outs.append(emit(lite.ClipOp(x, -1.0, 2.0)).output)
    outs.append(emit(lite.PReluOp(x, _const(emit, 3))).output)
    return outs


def _pools(emit, x):
    mx = emit(lite.MaxPoolOp(x, [3, 3], [2, 2], [1, 1, 1, 1], True, "relu")).output
    avg = emit(lite.AvgPoolOp(x, [2, 2], [1, 1], [0, 1, 0, 1])).output
    return [mx, avg]


def _shapes(emit, x):
    r = emit(lite.ReshapeOp(x, [2, 18])).output
    t = emit(lite.TransposeOp(x, [0, 3, 1, 2])).output
    c = emit(lite.ConcatOp([x, x], 3)).output
    a, b = emit(lite.SplitOp(c, 3, [2, 4])).outputs
    s = emit(lite.SliceOp(x, [0, 1, 0, 0], [2, 3, 2, 3], [1, 1, 2, 1])).output
    rev = emit(lite.SliceOp(x, [0, 2, 1, 0], [2, -1, 2, 3], [1, -1, 1, 1])).output
    p = emit(lite.PadOp(x, [0, 0, 1, 2, 2, 1, 0, 0], "constant", 0.5)).output
    q = emit(lite.PadOp(x, [0, 0, 1, 1, 1, 1, 0, 0], "reflect")).output
    return [r, t, a, b, s, rev, p, q]


def _reductions(emit, x):
    sm = emit(lite.SoftmaxOp(x, 3)).output
    mean = emit(lite.ReduceOp(x, "mean", [1, 2], True)).output
    total = emit(lite.ReduceOp(x, "sum", [3], False)).output
    mx = emit(lite.ReduceOp(x, "max", [0, 1, 2, 3], False)).output
    return [sm, mean, total, mx]


def _resizes(emit, x):
    return [
        emit(lite.ResizeOp(x, [6, 5], "nearest", "asymmetric", "floor")).output,
        emit(lite.ResizeOp(x, [6, 5], "linear", "half_pixel")).output,
        emit(lite.ResizeOp(x, [5, 7], "linear", "align_corners")).output,
        emit(lite.ResizeOp(x, [6, 6], "nearest", "pytorch_half_pixel", "round_prefer_ceil")).output,
    ]


def _normalization(emit, x):
    bn = emit(lite.BatchNormOp(x, _const(emit, 3), _const(emit, 3), _const(emit, 3), _const(emit, 3, positive=True),
                               1e-3)).output
    return [bn, emit(lite.LRNOp(x, 3, 0.375, 0.75, 1.0)).output]


CASES = {
    "conv": ([(1, 5, 5, 2)], _conv, {"Conv2DFusion"}),
    "conv_transpose": ([(1, 3, 3, 2)], _conv_transpose, {"Conv2dTransposeFusion"}),
    "dense": ([(2, 6), (2, 3, 4)], _dense, {"FullConnection", "MatMulFusion"}),
    "binary": ([(2, 3), (1, 3)], _binary, {"AddFusion", "SubFusion", "MulFusion", "DivFusion"}),
    "activations": ([(2, 4, 4, 3)], _activations, {"Activation", "Clip", "PReLUFusion"}),
    "pools": ([(1, 5, 5, 3)], _pools, {"MaxPoolFusion", "AvgPoolFusion"}),
    "shapes": ([(2, 3, 2, 3)], _shapes, {"Reshape", "Transpose", "Concat", "Split", "StridedSlice", "PadFusion"}),
    "reductions": ([(2, 3, 4, 5)], _reductions, {"Softmax", "ReduceFusion"}),
    "resizes": ([(1, 3, 4, 2)], _resizes, {"Resize"}),
    "normalization": ([(1, 3, 3, 3)], _normalization, {"FusedBatchNorm", "LRN"}),
}


def test_every_lite_op_has_an_emitter():
    assert set(EMITTERS) == {op for op in lite.Lite.operations}


@pytest.mark.parametrize("case", CASES)
def test_write_read(case):
    shapes, body, primitives = CASES[case]
    module = _module(shapes, body)
    data = encode_ms(module, fmk_type=FmkType.ONNX)
    graph = load_graph(data, case)
    assert {n.primitive for n in graph.nodes} == primitives
    back = decode_ms(data)
    assert encode_ms(back) == data
    executor = pytest.importorskip("quantopt.backends.reference.executor").Executor
    inputs = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    for a, b in zip(executor(module).run(inputs), executor(back).run(inputs)):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def test_written_attributes():
    graph = load_graph(encode_ms(_module([(1, 5, 5, 2)], _conv), fmk_type=FmkType.TFLITE), "conv")
    conv, depthwise = graph.nodes
    assert conv.attrs["kernel_size"] == [3, 3] and conv.attrs["stride"] == [2, 1]
    assert conv.attrs["pad_list"] == [1, 0, 1, 2] and conv.attrs["pad_mode"] == 0  # PAD, [up, down, left, right]
    assert (conv.attrs["format"], conv.attrs["activation_type"]) == (1, 3)  # NHWC, RELU6
    assert (conv.attrs["in_channel"], conv.attrs["out_channel"], conv.attrs["group"]) == (2, 4, 1)
    assert (depthwise.attrs["group"], depthwise.attrs["in_channel"], depthwise.attrs["dilation"]) == (4, 4, [2, 2])
    weight = graph.tensors[conv.inputs[1]]
    assert (weight.format, weight.node_type, weight.dims) == (7, 0, [4, 3, 3, 2])  # KHWC const
    assert graph.tensors[conv.outputs[0]].node_type == 2 and graph.tensors[graph.inputs[0]].node_type == 2
    assert conv.name == "Conv2DFusion-1" and graph.tensors[conv.outputs[0]].name == "Conv2DFusion-1"
    assert graph.fmk_type == FmkType.TFLITE and graph.version == "MindSpore Lite 1.3.0"

    graph = load_graph(encode_ms(_module([(2, 3, 2, 3)], _shapes), fmk_type=2), "shapes")
    reshape, transpose, concat, split, strided, reverse, pad, reflect = graph.nodes
    assert np.frombuffer(graph.tensors[reshape.inputs[1]].data, "<i4").tolist() == [2, 18]
    assert np.frombuffer(graph.tensors[transpose.inputs[1]].data, "<i4").tolist() == [0, 3, 1, 2]
    assert split.attrs["size_splits"] == [2, 4] and split.attrs["output_num"] == 2 and len(split.outputs) == 2
    assert reverse.attrs["end_mask"] == 0b0010  # the negative stride running through index 0
    assert pad.attrs["paddings"] == [[0, 0], [1, 2], [2, 1], [0, 0]] and pad.attrs["constant_value"] == 0.5
    assert graph.tensors[pad.inputs[1]].dims == [4, 2]
