"""Full-quantized (int8) `.ms` files: the integer IR `lower-to-int8` produces is written as MindSpore Lite's full
quantizer writes it (int8 activations with one QuantParam, per-channel int8 weights, int32 biases, QuantDTypeCast
at the float boundaries, nodes marked QUANT_ALL) and reads back into the same IR: same ops, types and
constants, bit-identical outputs, byte-identical when written again.

The test inputs go through the converter's stages: insert-calibration, calibrate (a config file over .bin
samples), lower-calibration, weight-quant, lower-to-int8.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import ModuleOp, TensorType, f16
from xdsl.ir import Block, Region, SSAValue

from quantopt.backends.ms import FmkType, decode_ms, encode_ms, read_ms, write_ms
from quantopt.backends.ms.codes import TypeId
from quantopt.backends.ms.flatbuf import dump_graph, load_graph
from quantopt.backends.ms.full_quant import bits_range, range_bits
from quantopt.backends.ms.graph import MsGraph, MsNode, MsQuantParam, MsSubGraph, MsTensor
from quantopt.backends.ms.weights import constant_array
from quantopt.backends.reference.executor import Executor
from quantopt.context import make_context
from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.quant import (
    DequantizeCastOp,
    QuantizeCastOp,
    StorageCastOp,
    UniformQuantizedType,
    element_type_of,
)
from quantopt.errors import QuantOptError
from quantopt.passes.calibrate import calibrate_module
from quantopt.passes.fuse_activation import FuseActivationPass
from quantopt.passes.insert_calibration import insert_observers
from quantopt.passes.lower_calibration import lower_calibration
from quantopt.passes.lower_to_int8 import lower_to_int8
from quantopt.passes.weight_quant import WeightQuantPass, quantize_weights

RNG = np.random.default_rng(11)
QUANT_ALL, QUANT_NONE = 5, 0


def rand(*shape, scale=1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


# ------------------------------------------------------------------------------------------ test models


class Graph:
    """A float `func.func @main` built with lite constructors."""

    def __init__(self, *input_shapes):
        self.block = Block(arg_types=[lite.tensor(s) for s in input_shapes])
        self.args = list(self.block.args)

    def const(self, array: np.ndarray) -> SSAValue:
        return self.op(constant_op(np.asarray(array, np.float32)))

    def op(self, op) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def module(self, *outputs) -> ModuleOp:
        self.block.add_op(func.ReturnOp(*outputs))
        main = func.FuncOp("main", (self.block.arg_types, [v.type for v in outputs]), Region(self.block))
        module = ModuleOp([main])
        FuseActivationPass().apply(make_context(), module)
        return module


def small_network() -> ModuleOp:
    """conv + relu6, depthwise conv, residual add, global average pooling, reshape, fully connected, softmax."""
    g = Graph((1, 8, 8, 3))
    c1 = g.op(lite.Conv2DOp(g.args[0], g.const(rand(8, 3, 3, 3, scale=0.4)), g.const(rand(8, scale=0.1)), (1, 1),
                            (1, 1), (1, 1, 1, 1), 1))
    r1 = g.op(lite.ActivationOp(c1, "relu6"))
    dw = g.op(lite.Conv2DOp(r1, g.const(rand(8, 3, 3, 1, scale=0.4)), g.const(rand(8, scale=0.1)), (1, 1), (1, 1),
                            (1, 1, 1, 1), 8))
    s = g.op(lite.AddOp(r1, dw))
    p = g.op(lite.AvgPoolOp(s, (8, 8), (1, 1), (0, 0, 0, 0)))
    y = g.op(lite.FullyConnectedOp(g.op(lite.ReshapeOp(p, (1, 8))), g.const(rand(5, 8, scale=0.4)),
                                   g.const(rand(5, scale=0.1))))
    return g.module(g.op(lite.SoftmaxOp(y, 1)))


def network_with_float_ops() -> ModuleOp:
    """A conv, a PReLU and a Div (no int8 kernels: they stay float between casts), then max pooling."""
    g = Graph((1, 4, 4, 2))
    c = g.op(lite.Conv2DOp(g.args[0], g.const(rand(4, 1, 1, 2)), g.const(rand(4, scale=0.1)), (1, 1), (1, 1),
                           (0, 0, 0, 0), 1))
    p = g.op(lite.PReluOp(c, g.const([0.25, 0.5, 0.1, 0.2])))
    d = g.op(lite.DivOp(p, g.const(np.full((1, 1, 1, 4), 2.0))))
    return g.module(g.op(lite.MaxPoolOp(d, (2, 2), (2, 2), (0, 0, 0, 0))))


def network_of(kind: str) -> ModuleOp:
    """A conv followed by other ops with int8 kernels: several results, layout changes, a constant matmul."""
    g = Graph((1, 4, 4, 6))
    c = g.op(lite.Conv2DOp(g.args[0], g.const(rand(6, 1, 1, 6)), None, (1, 1), (1, 1), (0, 0, 0, 0), 1))
    if kind == "split-concat":
        split = lite.SplitOp(c, 3, [2, 4])
        g.block.add_op(split)
        return g.module(g.op(lite.ConcatOp([split.outputs[1], split.outputs[0]], 3)))
    if kind == "transpose-pad-pool":
        y = g.op(lite.PadOp(g.op(lite.TransposeOp(c, (0, 3, 1, 2))), [0, 0, 0, 0, 1, 1, 1, 1], "constant", 0.0))
        return g.module(g.op(lite.MaxPoolOp(y, (2, 2), (2, 2), (0, 0, 0, 0))))
    if kind == "matmul":
        return g.module(g.op(lite.MatMulOp(g.op(lite.ReshapeOp(c, (16, 6))), g.const(rand(6, 5)))))
    assert kind == "resize"
    return g.module(g.op(lite.ResizeOp(c, [8, 8], "nearest", "asymmetric", "floor")))


def write_calibration(tmp_path, samples) -> str:
    """A r1.3 config file over one directory of .bin samples."""
    (tmp_path / "calib").mkdir(exist_ok=True)
    for index, x in enumerate(samples):
        np.ascontiguousarray(x, np.float32).tofile(tmp_path / "calib" / f"{index:04d}.bin")
    config = tmp_path / "quant.cfg"
    config.write_text(f"image_path={tmp_path / 'calib'}\nbatch_count={len(samples)}\nmethod_x=KL\n")
    return str(config)


def full_quantize(module: ModuleOp, config: str, *, bits: int = 8, weight_bits: int = 8,
                  wide: bool = False) -> ModuleOp:
    """The converter's full quantization, in place: calibrate, QDQ pairs (KL), weight-quant, lower-to-int8;
    `wide` widens the activation ranges first (`widen_activation_ranges`)."""
    insert_observers(module)
    calibrate_module(module, config)
    lower_calibration(module, "KL", bits)
    if wide:
        widen_activation_ranges(module)
    quantize_weights(module, WeightQuantPass(bits=weight_bits, balance_rounding=True))
    lower_to_int8(module)
    module.verify()
    return module


def widen_activation_ranges(module: ModuleOp) -> ModuleOp:
    """Activations over the full signed range: `i8<-8:7>` instead of lower-calibration's `i8<-7:7>` at 4 bits
    (the form the QDQ tests of lower-to-int8 use), before lowering."""
    for qcast in [op for op in module.walk() if isinstance(op, QuantizeCastOp)]:
        narrow = element_type_of(qcast.result.type)
        wide = UniformQuantizedType.get(narrow.scale, narrow.zero_point, qmin=narrow.qmin - 1, qmax=narrow.qmax)
        replacement = QuantizeCastOp(qcast.input, TensorType(wide, qcast.result.type.get_shape()))
        qcast.parent_block().insert_op_before(replacement, qcast)
        qcast.result.replace_all_uses_with(replacement.result)
        qcast.parent_block().erase_op(qcast)
    return module


def lowered_small_network(tmp_path, bits: int = 8, weight_bits: int = 8, wide: bool = False) -> ModuleOp:
    config = write_calibration(tmp_path, [rand(1, 8, 8, 3) for _ in range(4)])
    return full_quantize(small_network(), config, bits=bits, weight_bits=weight_bits, wide=wide)


# ------------------------------------------------------------------------------------------ comparisons


def _main(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.ops if isinstance(op, func.FuncOp))


def _is_constant_part(op) -> bool:
    """Constants and their casts: compared where they are used (the reader places them before their user)."""
    if isinstance(op, arith.ConstantOp | StorageCastOp):
        return True
    return isinstance(op, DequantizeCastOp) and isinstance(op.input.owner, StorageCastOp)


def _operand(value: SSAValue) -> tuple:
    """A value as its type, and for a constant the chain of casts down to its data."""
    chain = []
    while isinstance(value.owner, arith.ConstantOp | StorageCastOp | DequantizeCastOp):
        op = value.owner
        chain.append((op.name, str(op.results[0].type)))
        if isinstance(op, arith.ConstantOp):
            chain.append(constant_array(op).tobytes())
            break
        value = op.input
    else:
        chain.append(str(value.type))
    return tuple(chain)


def signature(module: ModuleOp) -> list[tuple]:
    """Every computing op in order: name, properties, operands (constants with their data), result types."""
    rows = []
    for op in _main(module).body.block.ops:
        if _is_constant_part(op) or isinstance(op, func.ReturnOp):
            continue
        properties = {k: str(v) for k, v in op.properties.items()}
        rows.append((op.name, properties, [_operand(v) for v in op.operands], [str(r.type) for r in op.results]))
    return rows


def assert_round_trip(module: ModuleOp, path, inputs) -> MsGraph:
    """write -> read gives the same IR and bit-identical outputs; read -> write gives the same bytes."""
    write_ms(module, path, fmk_type=FmkType.ONNX)
    read = read_ms(path)
    assert signature(read) == signature(module)
    assert _main(read).function_type == _main(module).function_type
    original, reread = Executor(module), Executor(read)
    for x in inputs:
        for want, got in zip(original.run(x), reread.run(x), strict=True):
            assert want.dtype == got.dtype and want.tobytes() == got.tobytes()
    data = path.read_bytes()
    assert encode_ms(read) == data
    return load_graph(data, str(path))


# ------------------------------------------------------------------------------------------ the file


def _param(graph: MsGraph, name: str) -> MsQuantParam:
    (param,) = next(t for t in graph.tensors if t.name == name).quant_params
    return param


def test_small_network_file_layout(tmp_path):
    module = lowered_small_network(tmp_path)
    graph = assert_round_trip(module, tmp_path / "small.ms", [[rand(1, 8, 8, 3)] for _ in range(3)])

    primitives = [n.primitive for n in graph.nodes]
    assert primitives == ["QuantDTypeCast", "Conv2DFusion", "Conv2DFusion", "AddFusion", "AvgPoolFusion", "Reshape",
                          "FullConnection", "Softmax", "QuantDTypeCast"]
    assert [n.quant_type for n in graph.nodes] == [QUANT_ALL] * len(graph.nodes)
    assert graph.nodes[0].attrs == {"src_t": TypeId.FLOAT32, "dst_t": TypeId.INT8}
    assert graph.nodes[-1].attrs == {"src_t": TypeId.INT8, "dst_t": TypeId.FLOAT32}
    # Graph inputs and outputs stay float, without QuantParams.
    for index in (*graph.inputs, *graph.outputs):
        assert (graph.tensors[index].data_type, graph.tensors[index].quant_params) == (TypeId.FLOAT32, [])

    conv = next(op for op in _main(module).body.block.ops if isinstance(op, lite.Conv2DOp))
    x_type, w_type, b_type, y_type = (element_type_of(v.type) for v in (*conv.operands, conv.output))
    node = graph.nodes[1]
    x, w, b, y = (graph.tensors[i] for i in (*node.inputs, *node.outputs))
    # Activations: Int8, one QuantParam; i8<-127:127> is numBits 8 with narrowRange; min/max the real range.
    for tensor, qtype in ((x, x_type), (y, y_type)):
        (param,) = tensor.quant_params
        assert tensor.data_type == TypeId.INT8 and not tensor.data
        assert (param.scale, param.zero_point, param.num_bits, param.narrow_range, param.inited) == (
            qtype.scale, qtype.zero_point, 8, True, True)
        real_range = (qtype.scale * (-127 - qtype.zero_point), qtype.scale * (127 - qtype.zero_point))
        assert (param.min, param.max) == real_range
    # Weights: Int8 per output channel, over the full range [-128, 127].
    assert (w.data_type, w.dims, len(w.quant_params)) == (TypeId.INT8, [8, 3, 3, 3], 8)
    assert [(p.scale, p.zero_point) for p in w.quant_params] == list(zip(w_type.scale_values,
                                                                          w_type.zero_point_values))
    assert all((p.num_bits, p.narrow_range, p.inited) == (8, False, True) for p in w.quant_params)
    np.testing.assert_array_equal(np.frombuffer(w.data, np.int8), constant_array(conv.filter.owner.input.owner).ravel())
    # Bias: Int32 per channel, scale s_x * s_w[c], zero point 0.
    assert (b.data_type, b.dims) == (TypeId.INT32, [8])
    assert [p.scale for p in b.quant_params] == b_type.scale_values
    np.testing.assert_allclose([p.scale for p in b.quant_params], x_type.scale * np.array(w_type.scale_values),
                               rtol=1e-15)
    assert all((p.zero_point, p.num_bits, p.narrow_range, p.inited) == (0, 32, False, True) for p in b.quant_params)
    np.testing.assert_array_equal(np.frombuffer(b.data, "<i4"), constant_array(conv.bias.owner.input.owner))


@pytest.mark.parametrize("bits, weight_bits, wide, expected", [
    (4, 8, False, (4, True)),  # lower-calibration's narrow range: i8<-7:7>
    (4, 8, True, (4, False)),  # i8<-8:7>
    (8, 4, False, (8, True)),  # 4-bit weights on integer ops: bit-packed like weight-quant
])
def test_other_bit_widths(tmp_path, bits, weight_bits, wide, expected):
    module = lowered_small_network(tmp_path, bits, weight_bits, wide)
    graph = assert_round_trip(module, tmp_path / "m.ms", [[rand(1, 8, 8, 3)] for _ in range(3)])
    activations = [graph.tensors[t] for n in graph.nodes[:-1] for t in n.outputs]
    assert {(t.data_type, t.quant_params[0].num_bits, t.quant_params[0].narrow_range) for t in activations} == {
        (TypeId.INT8, *expected)}
    weight = graph.tensors[graph.nodes[1].inputs[1]]
    assert {(p.num_bits, p.narrow_range) for p in weight.quant_params} == {(weight_bits, False)}
    assert len(weight.data) == 8 * 3 * 3 * 3 * weight_bits // 8


def test_ops_without_int8_kernels_sit_between_quant_dtype_casts(tmp_path):
    module = network_with_float_ops()
    full_quantize(module, write_calibration(tmp_path, [rand(1, 4, 4, 2) for _ in range(3)]))
    graph = assert_round_trip(module, tmp_path / "mixed.ms", [[rand(1, 4, 4, 2)] for _ in range(3)])
    casts = {"QuantDTypeCast": lambda n: (n.attrs["src_t"], n.attrs["dst_t"])}
    described = [(n.primitive, n.quant_type, casts.get(n.primitive, lambda n: None)(n)) for n in graph.nodes]
    to_int8, to_float = (TypeId.FLOAT32, TypeId.INT8), (TypeId.INT8, TypeId.FLOAT32)
    assert described == [
        ("QuantDTypeCast", QUANT_ALL, to_int8), ("Conv2DFusion", QUANT_ALL, None),
        ("QuantDTypeCast", QUANT_ALL, to_float), ("PReLUFusion", QUANT_NONE, None),
        ("QuantDTypeCast", QUANT_ALL, to_int8), ("QuantDTypeCast", QUANT_ALL, to_float),
        ("DivFusion", QUANT_NONE, None), ("QuantDTypeCast", QUANT_ALL, to_int8),
        ("MaxPoolFusion", QUANT_ALL, None), ("QuantDTypeCast", QUANT_ALL, to_float)]


@pytest.mark.parametrize("kind", ["split-concat", "transpose-pad-pool", "matmul", "resize"])
def test_other_integer_ops(tmp_path, kind):
    module = full_quantize(network_of(kind), write_calibration(tmp_path, [rand(1, 4, 4, 6) for _ in range(3)]))
    graph = assert_round_trip(module, tmp_path / "m.ms", [[rand(1, 4, 4, 6)] for _ in range(2)])
    assert {n.quant_type for n in graph.nodes} == {QUANT_ALL}
    if kind == "matmul":  # an int8 matmul with a constant rhs stays a matmul (not a fully connected layer)
        assert [n.primitive for n in graph.nodes][-2] == "MatMulFusion"


# ------------------------------------------------------------------------------------------ mapping, errors


def test_storage_ranges_map_to_num_bits_and_narrow_range():
    cases = {(-128, 127): (8, False), (-127, 127): (8, True), (-8, 7): (4, False), (-7, 7): (4, True),
             (-(2 ** 31), 2 ** 31 - 1): (32, False), (-1, 1): (2, True), (-2, 1): (2, False)}
    for (qmin, qmax), (bits, narrow) in cases.items():
        assert range_bits(qmin, qmax) == (bits, narrow)
        assert bits_range(bits, narrow) == (qmin, qmax)
    for qmin, qmax in ((-100, 100), (-128, 100), (0, 255), (-126, 127)):
        with pytest.raises(ValueError, match="storage range"):
            range_bits(qmin, qmax)


def _cast_module(qtype: UniformQuantizedType) -> ModuleOp:
    g = Graph((1, 4))
    q = g.op(QuantizeCastOp(g.args[0], TensorType(qtype, [1, 4])))
    return g.module(g.op(DequantizeCastOp(q, TensorType(g.args[0].type.element_type, [1, 4]))))


@pytest.mark.parametrize("qtype, message", [
    (UniformQuantizedType.get(0.1, 0, qmin=-100, qmax=100), r"storage range \[-100, 100\]"),
    (UniformQuantizedType.get(0.1, 3, signed=False), "unsigned storage"),
    (UniformQuantizedType.get(0.1, 0, width=16), "stored in i16"),
    (UniformQuantizedType.get(0.1, 0, expressed=f16), "expresses f16"),
])
def test_activation_types_without_a_quant_param_spelling_are_refused(qtype, message):
    with pytest.raises(QuantOptError, match=message):
        encode_ms(_cast_module(qtype), fmk_type=FmkType.ONNX)


def test_graph_inputs_and_outputs_must_be_float():
    g = Graph((1, 4))
    q = g.op(QuantizeCastOp(g.args[0], TensorType(UniformQuantizedType.get(0.1, 0), [1, 4])))
    with pytest.raises(QuantOptError, match="graph output 0 .*quant.dcast before func.return"):
        encode_ms(g.module(q), fmk_type=FmkType.ONNX)


def _cast_graph(src: int, dst: int, params: list[MsQuantParam]) -> bytes:
    tensors = [MsTensor("x", 1, TypeId.FLOAT32, [1, 4], 1),
               MsTensor("q", 2, TypeId.INT8, [1, 4], 1, quant_params=params)]
    node = MsNode("cast", "QuantDTypeCast", {"src_t": src, "dst_t": dst}, [0], [1])
    return dump_graph(MsGraph("", "MindSpore Lite 1.3.0", 2, [0], [1], [node], tensors,
                              [MsSubGraph("main", [0], [1], [0], [0, 1])]))


@pytest.mark.parametrize("src, dst, params, message", [
    (TypeId.FLOAT32, TypeId.INT8, [MsQuantParam(scale=0.1, inited=True)] * 2, "one QuantParam"),
    (TypeId.FLOAT32, TypeId.INT8, [MsQuantParam(scale=-1.0, inited=True)], "scale must be a positive"),
    (TypeId.FLOAT32, TypeId.INT8, [MsQuantParam(scale=0.1, num_bits=12, inited=True)], "numBits 12"),
    (TypeId.FLOAT32, TypeId.INT8, [MsQuantParam(scale=0.1)], "needs an initialised QuantParam"),
    (TypeId.UINT8, TypeId.INT8, [MsQuantParam(scale=0.1, inited=True)], "from dataType 37 to 32"),
])
def test_inconsistent_quant_dtype_casts_are_reported(src, dst, params, message):
    with pytest.raises(QuantOptError, match=message):
        decode_ms(_cast_graph(src, dst, params), "bad.ms")


def _set_params(tensor: MsTensor, **changes) -> None:
    tensor.quant_params = [replace(q, **changes) for q in tensor.quant_params]


@pytest.mark.parametrize("change, message", [
    (lambda conv, g: _set_params(g.tensors[conv.inputs[2]], num_bits=16), "numBits 16 does not fit dataType 34"),
    (lambda conv, g: g.tensors[conv.inputs[1]].quant_params.pop(), "7 per-channel QuantParams"),
    (lambda conv, g: setattr(g.tensors[conv.inputs[1]], "data", g.tensors[conv.inputs[1]].data[:-1]), "holds 215"),
    (lambda conv, g: _set_params(g.tensors[conv.inputs[1]], scale=0.0), "scale must be a positive"),
    (lambda conv, g: _set_params(g.tensors[conv.outputs[0]], zero_point=200), "zero point 200"),
    (lambda conv, g: g.tensors[conv.outputs[0]].quant_params.append(MsQuantParam(inited=True)), "one QuantParam"),
])
def test_inconsistent_integer_tensors_are_reported(tmp_path, change, message):
    graph = load_graph(encode_ms(lowered_small_network(tmp_path), fmk_type=FmkType.ONNX), "small.ms")
    change(graph.nodes[1], graph)
    with pytest.raises(QuantOptError, match=message):
        decode_ms(dump_graph(graph), "bad.ms")


# ------------------------------------------------------------------------------------------ upstream readers


@pytest.fixture(scope="module")
def upstream_schema():
    return pytest.importorskip("test_ms_upstream_schema")


@pytest.fixture(scope="module")
def upstream(upstream_schema, tmp_path_factory):
    if upstream_schema.shutil.which("flatc"):
        path = tmp_path_factory.mktemp("oracle") / "generated"
        upstream_schema._generate(upstream_schema.UPSTREAM, path)
        return upstream_schema._load_package(path, "upstream_ms_schema_full_quant")
    return upstream_schema._load_package(upstream_schema.UPSTREAM / "generated", "upstream_ms_schema_committed")


def test_full_quant_file_parses_with_upstream_readers(upstream_schema, upstream, tmp_path):
    module = lowered_small_network(tmp_path)
    decoded = upstream_schema._check_against_upstream(upstream, encode_ms(module, fmk_type=FmkType.ONNX))
    nodes, tensors = decoded["nodes"], decoded["tensors"]
    assert [n["primitive"] for n in (nodes[0], nodes[-1])] == ["QuantDTypeCast", "QuantDTypeCast"]
    casts = [(n["attrs"]["src_t"], n["attrs"]["dst_t"]) for n in (nodes[0], nodes[-1])]  # upstream adds `axis`
    assert casts == [(43, 32), (32, 43)]
    assert {n["quant_type"] for n in nodes} == {QUANT_ALL}
    conv = nodes[1]
    x, w, b, y = (tensors[i] for i in (*conv["inputs"], *conv["outputs"]))
    assert [t["data_type"] for t in (x, w, b, y)] == [32, 32, 34, 32]
    assert [len(t["quant_params"]) for t in (x, w, b, y)] == [1, 8, 8, 1]
    assert all(q["inited"] for t in (x, w, b, y) for q in t["quant_params"])
    assert (y["quant_params"][0]["num_bits"], y["quant_params"][0]["narrow_range"]) == (8, True)
    assert {(q["num_bits"], q["zero_point"]) for q in b["quant_params"]} == {(32, 0)}


# ------------------------------------------------------------------------------------------ MobileNetV2


@pytest.mark.slow
def test_mobilenet_v2(zoo_dir, tmp_path):
    import zoo
    from quantopt.api import import_model
    from quantopt.passes.fold_batchnorm import FoldBatchNormPass

    module = import_model(str(zoo_dir / "onnx" / "mobilenet_v2.onnx"))
    FoldBatchNormPass().apply(make_context(), module)
    FuseActivationPass().apply(make_context(), module)
    full_quantize(module, write_calibration(tmp_path, list(zoo.load_set("mobilenet_v2/calib", 5))))
    inputs = [[x] for x in zoo.load_set("mobilenet_v2/eval", 3)]
    graph = assert_round_trip(module, tmp_path / "mobilenet_v2.ms", inputs)
    primitives = [n.primitive for n in graph.nodes]
    assert primitives.count("Conv2DFusion") == 52 and primitives.count("QuantDTypeCast") == 2
    assert {n.quant_type for n in graph.nodes} == {QUANT_ALL}
