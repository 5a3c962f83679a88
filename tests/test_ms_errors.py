"""Bad `.ms` input and unwritable IR give a QuantOptError naming what and where, never a crash."""

from __future__ import annotations

import os

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from quantopt.backends.ms import FmkType, decode_ms, encode_ms, read_ms, write_ms
from quantopt.backends.ms.codes import TypeId
from quantopt.backends.ms.flatbuf import dump_graph, load_graph
from quantopt.backends.ms.graph import MsGraph, MsNode, MsQuantParam, MsSubGraph, MsTensor
from quantopt.dialects import lite
from quantopt.dialects.quant import QuantizeCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError


def _tensor(dims, data=b"", data_type=TypeId.FLOAT32, node_type=2, **extra) -> MsTensor:
    return MsTensor(name="t", node_type=node_type, data_type=data_type, dims=list(dims), format=1, data=data, **extra)


def _graph(nodes, tensors, inputs=(0,), outputs=(1,), subgraphs=None) -> bytes:
    subgraphs = subgraphs if subgraphs is not None else [
        MsSubGraph("g", list(inputs), list(outputs), list(range(len(nodes))), list(range(len(tensors))))]
    return dump_graph(MsGraph("", "MindSpore Lite 1.3.0", 4, list(inputs), list(outputs), nodes, tensors, subgraphs))


def _relu(name="relu", inputs=(0,), outputs=(1,)) -> MsNode:
    return MsNode(name, "Activation", {"activation_type": 1}, list(inputs), list(outputs))


def _weight_graph(weight: MsTensor) -> bytes:
    conv = MsNode("conv", "Conv2DFusion", {"group": 1}, [0, 2], [1])
    return _graph([conv], [_tensor([1, 3, 3, 2]), _tensor([1, 3, 3, 2]), weight])


def test_unknown_primitive_names_type_and_node():
    data = _graph([MsNode("Default/gru-op7", "GRU", {}, [0], [1])], [_tensor([1, 4]), _tensor([1, 4])])
    with pytest.raises(QuantOptError, match=r"unsupported primitive 'GRU' \(node 'Default/gru-op7'\)"):
        decode_ms(data)


@pytest.mark.parametrize("data, message", [
    (b"\x10\x00\x00\x00TFL3" + bytes(24), "file identifier b'TFL3', expected b'MSL2'"),
    (b"\x10\x00\x00\x00MSL1" + bytes(24), "MindSpore Lite < 1.2"),
    (b"MSL2", "too short"),
])
def test_not_a_model(data, message):
    with pytest.raises(QuantOptError, match=message):
        decode_ms(data, "x.ms")


def test_missing_file(tmp_path):
    with pytest.raises(QuantOptError, match="cannot read file"):
        read_ms(tmp_path / "missing.ms")


@pytest.mark.parametrize("name, trials", [("parallel.ms", 300), ("lenet_tod_infer.ms", 40)])
def test_damaged_files_never_crash(zoo_dir, name, trials):
    original = (zoo_dir / "ms" / name).read_bytes()
    with pytest.raises(QuantOptError, match="corrupt"):
        decode_ms(original[: len(original) // 2])
    rng = np.random.default_rng(len(original))
    for _ in range(trials):
        damaged = bytearray(original)
        for position in rng.integers(8, len(original) // 8, size=3):  # the tables sit before the weights
            damaged[position] = rng.integers(0, 256)
        try:
            decode_ms(bytes(damaged))
        except QuantOptError:
            pass


@pytest.mark.parametrize("make, message", [
    (lambda: _graph([_relu(inputs=[99])], [_tensor([1, 4]), _tensor([1, 4])]), "tensor index 99 out of range"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], b"\x00" * 3, node_type=0)), "holds 3 bytes"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], b"\x00" * 18, TypeId.INT8, 0,
                                   quant_params=[MsQuantParam(inited=True)] * 3)),
     "3 per-channel QuantParams but dimension 0 of \\[1, 3, 3, 2\\]"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], b"\x00" * 36, TypeId.INT16, 0,
                                   quant_params=[MsQuantParam(inited=True, num_bits=17)])), "numBits 17"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], b"\x00" * 18, TypeId.INT8, 0, enable_huffman_code=True,
                                   quant_params=[MsQuantParam(inited=True)])), "Huffman"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], b"\x00" * 18, TypeId.INT8, 0, weight_quant_compress_type=3,
                                   quant_params=[MsQuantParam(inited=True)])), "compression type 3"),
    (lambda: _weight_graph(_tensor([1, 3, 3, 2], node_type=0)), "neither computed nor constant"),
    (lambda: _graph([_relu()], [_tensor([-1, 4]), _tensor([-1, 4])]), "static shape"),
    (lambda: _graph([_relu(), _relu("again")], [_tensor([1, 4]), _tensor([1, 4])]), "produced by both"),
    (lambda: _graph([_relu("a", [2], [1]), _relu("b", [1], [2])], [_tensor([1, 4])] * 3), "cycle"),
    (lambda: _graph([], [_tensor([1, 4]), _tensor([1, 4])], subgraphs=[MsSubGraph("a", [], [], [], [])] * 2),
     "2 subgraphs"),
    (lambda: _graph([MsNode("t", "Transpose", {}, [0, 0], [1])], [_tensor([1, 4]), _tensor([4, 1])]),
     "perm must be a constant tensor"),
    (lambda: _graph([MsNode("c", "Conv2DFusion", {"group": 3}, [0, 2], [1])],
                    [_tensor([1, 3, 3, 2]), _tensor([1, 3, 3, 2]), _tensor([2, 1, 1, 2], b"\x00" * 16, node_type=0)]),
     "group 3 must divide"),
])
def test_inconsistent_files(make, message):
    with pytest.raises(QuantOptError, match=message):
        decode_ms(make(), "bad.ms")


# ----- writer


def _module(body, shape=(1, 4, 4, 2)) -> ModuleOp:
    block = Block(arg_types=[TensorType(f32, shape)])
    results = body(block)
    block.add_op(func.ReturnOp(*results))
    return ModuleOp([func.FuncOp("main", ([a.type for a in block.args], [r.type for r in results]), Region(block))])


def _relu_module() -> ModuleOp:
    return _module(lambda b: [b.add_op(lite.ActivationOp(b.args[0], "relu")) or b.last_op.output])


@pytest.mark.parametrize("body, message", [
    (lambda b: [b.add_op(QuantizeCastOp(b.args[0], TensorType(UniformQuantizedType.get(0.1, 0), [1, 4, 4, 2])))
                or b.last_op.result], "quant.qcast"),
    (lambda b: [b.add_op(lite.ActivationOp(b.args[0], "hard_sigmoid", 0.2, 0.5)) or b.last_op.output],
     "hard_sigmoid with alpha 0.2"),
    (lambda b: [b.add_op(lite.PadOp(b.args[0], [0, 0, 1, 1, 1, 1, 0, 0], "edge")) or b.last_op.output],
     "pad mode 'edge'"),
    (lambda b: [b.add_op(lite.AvgPoolOp(b.args[0], [2, 2], [1, 1], [1, 1, 1, 1], count_include_pad=True))
                or b.last_op.output], "counts padding"),
])
def test_unwritable_ops(body, message):
    with pytest.raises(QuantOptError, match=message):
        encode_ms(_module(body), fmk_type=FmkType.ONNX)


def test_source_framework_is_required():
    with pytest.raises(QuantOptError, match="source framework is unknown"):
        encode_ms(_relu_module())
    with pytest.raises(QuantOptError, match="unknown fmk_type 9"):
        encode_ms(_relu_module(), fmk_type=9)


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "model.ms"
    write_ms(_relu_module(), target, fmk_type=FmkType.ONNX)
    good = target.read_bytes()
    bad = _module(lambda b: [b.add_op(lite.PadOp(b.args[0], [0, 0, 1, 1, 1, 1, 0, 0], "edge")) or b.last_op.output])
    with pytest.raises(QuantOptError):
        write_ms(bad, target, fmk_type=FmkType.ONNX)

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(QuantOptError, match="cannot write file: No space left on device"):
        write_ms(_relu_module(), target, fmk_type=FmkType.TFLITE)
    assert target.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.ms"]
    assert load_graph(good, "model.ms").fmk_type == FmkType.ONNX


def test_missing_directory(tmp_path):
    with pytest.raises(QuantOptError, match="cannot write file"):
        write_ms(_relu_module(), tmp_path / "no" / "such" / "dir.ms", fmk_type=FmkType.ONNX)
