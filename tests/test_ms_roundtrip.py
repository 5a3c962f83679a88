"""`.ms` files written by MindSpore Lite load, survive read -> write -> read, and weight-quantized models
keep their integer data and QuantParams exactly."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from quantopt.backends.ms import FmkType, decode_ms, encode_ms, read_ms, write_ms
from quantopt.backends.ms.bitpacking import pack_bits, packed_nbytes
from quantopt.backends.ms.codes import TypeId
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.backends.ms.graph import MsGraph, MsQuantParam
from quantopt.dialects.constant import constant_op
from quantopt.dialects import lite
from quantopt.dialects.quant import DequantizeCastOp, StorageCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError

REAL_FILES = ["parallel.ms", "lenet_tod_infer.ms"]

# Inputs that carry an attribute as a constant tensor: compared through the ops, not as tensors.
ATTRIBUTE_INPUTS = {"Transpose": {1}, "Reshape": {1}, "ReduceFusion": {1}, "StridedSlice": {1, 2, 3},
                    "PadFusion": {1}, "ExpandDims": {1}, "SliceFusion": {1, 2}}


@pytest.fixture(params=REAL_FILES)
def real_file(request, zoo_dir):
    return zoo_dir / "ms" / request.param


def _executor():
    return pytest.importorskip("quantopt.backends.reference.executor").Executor


def _quant_params(tensor) -> list[MsQuantParam]:
    """Uninitialised default QuantParams (MindSpore Lite 1.3 puts one on every tensor) carry nothing."""
    if all(q == MsQuantParam() for q in tensor.quant_params):
        return []
    return tensor.quant_params


def _value_tensors(graph: MsGraph) -> Counter:
    """Every tensor a node or the graph uses as a value, by name: (dataType, dims, data, QuantParams)."""
    used = set(graph.inputs) | set(graph.outputs)
    for node in graph.nodes:
        used |= {t for k, t in enumerate(node.inputs) if k not in ATTRIBUTE_INPUTS.get(node.primitive, ())}
        used |= set(node.outputs)
    return Counter(
        (t.name, t.data_type, tuple(t.dims), t.data, tuple(_quant_params(t)))
        for t in (graph.tensors[i] for i in used)
    )


def _node_signature(graph: MsGraph) -> list[tuple]:
    names = lambda indices, node: tuple(  # noqa: E731
        graph.tensors[t].name for k, t in enumerate(indices)
        if node is None or k not in ATTRIBUTE_INPUTS.get(node.primitive, ()))
    return [(n.name, names(n.inputs, n), names(n.outputs, None)) for n in graph.nodes]


def _ops(module: ModuleOp) -> Counter:
    return Counter(op.name for op in module.walk() if op.name.startswith("lite."))


def test_real_files_load(real_file):
    module = read_ms(real_file)
    module.verify()
    expected = {
        "parallel.ms": {"lite.conv2d": 7, "lite.reduce": 1, "lite.add": 1, "lite.reshape": 3},
        "lenet_tod_infer.ms": {"lite.conv2d": 2, "lite.activation": 4, "lite.max_pool": 2, "lite.transpose": 1,
                               "lite.reshape": 1, "lite.fully_connected": 3},
    }[real_file.name]
    assert _ops(module) == Counter(expected)
    assert module.attributes["ms.version"].data.startswith("MindSpore Lite 1.")


def test_ir_round_trip(real_file, tmp_path):
    first = read_ms(real_file)
    write_ms(first, tmp_path / "out.ms")
    second = read_ms(tmp_path / "out.ms")
    assert str(second) == str(first)


def test_tensor_round_trip(real_file, tmp_path):
    """Every value tensor keeps its name, bytes, dims, dataType and QuantParams; nodes keep their names and
    wiring (MatMulFusion with a constant [out, in] weight becomes the equivalent FullConnection)."""
    original = load_graph(real_file.read_bytes(), str(real_file))
    write_ms(read_ms(real_file), tmp_path / "out.ms")
    written = load_graph((tmp_path / "out.ms").read_bytes(), "out.ms")
    assert _value_tensors(written) == _value_tensors(original)
    assert _node_signature(written) == _node_signature(original)
    assert (written.version, written.fmk_type) == (original.version, original.fmk_type)
    assert [written.tensors[t].name for t in written.inputs] == [original.tensors[t].name for t in original.inputs]
    assert [written.tensors[t].name for t in written.outputs] == [original.tensors[t].name for t in original.outputs]


def test_writer_is_deterministic(real_file):
    module = read_ms(real_file)
    data = encode_ms(module)
    assert encode_ms(module) == data
    assert encode_ms(read_ms(real_file)) == data
    assert encode_ms(decode_ms(data)) == data  # the written form is a fixpoint


def test_real_files_run(real_file, tmp_path):
    executor = _executor()
    module = read_ms(real_file)
    run = executor(module)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(shape).astype(np.float32) for shape in run.input_shapes]
    outputs = run.run(inputs)
    graph = load_graph(real_file.read_bytes(), str(real_file))
    assert [o.shape for o in outputs] == [tuple(graph.tensors[t].dims) for t in graph.outputs]
    assert all(np.isfinite(o).all() for o in outputs)
    write_ms(module, tmp_path / "out.ms")
    again = executor(read_ms(tmp_path / "out.ms")).run(inputs)
    for a, b in zip(outputs, again):
        np.testing.assert_array_equal(a, b)


# ----- weight quantization


def _chains(module: ModuleOp) -> list[tuple[np.ndarray, UniformQuantizedType]]:
    from quantopt.backends.ms.weights import constant_array

    return [(constant_array(op.input.owner), op.result.type.element_type)
            for op in module.walk() if isinstance(op, StorageCastOp)]


@pytest.mark.parametrize("bits", [1, 3, 4, 7, 8, 9, 12, 15, 16])
def test_weight_quantized_lenet(bits, zoo_dir, tmp_path):
    weight_quant = pytest.importorskip("quantopt.passes.weight_quant")
    module = read_ms(zoo_dir / "ms" / "lenet_tod_infer.ms")
    weight_quant.WeightQuantPass(bits=bits).apply(Context(), module)
    write_ms(module, tmp_path / "q.ms")
    back = read_ms(tmp_path / "q.ms")
    expected, got = _chains(module), _chains(back)
    assert len(got) == len(expected) == 5
    for (values, qtype), (values2, qtype2) in zip(expected, got):
        np.testing.assert_array_equal(values2, values)
        assert qtype2 == qtype
    graph = load_graph((tmp_path / "q.ms").read_bytes(), "q.ms")
    quantized = [t for t in graph.tensors if t.quant_params]
    assert len(quantized) == 5
    for t, (values, qtype) in zip(quantized, expected):
        assert t.data_type == (TypeId.INT8 if bits <= 8 else TypeId.INT16)
        count = math.prod(t.dims)
        assert len(t.data) == (packed_nbytes(count, bits) if bits not in (8, 16) else count * (1 if bits == 8 else 2))
        if bits not in (8, 16):
            assert t.data == pack_bits(values, bits)
        assert len(t.quant_params) == t.dims[0]
        for q, s, z in zip(t.quant_params, qtype.scale_values, qtype.zero_point_values):
            assert (q.scale, q.zero_point, q.num_bits, q.inited, q.narrow_range) == (s, z, bits, True, False)
            assert (q.var_corr, q.mean_corr) == (1.0, 0.0)
    quant_types = {n.primitive: n.quant_type for n in graph.nodes}
    assert quant_types["Conv2DFusion"] == quant_types["FullConnection"] == 4
    assert quant_types["Activation"] == 0
    assert encode_ms(back) == (tmp_path / "q.ms").read_bytes()
    run, run_back = _executor()(module), _executor()(back)
    x = [np.random.default_rng(bits).standard_normal((2, 32, 32, 1)).astype(np.float32)]
    np.testing.assert_array_equal(run.run(x)[0], run_back.run(x)[0])


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


def _quantized(emit, values: np.ndarray, qtype: UniformQuantizedType):
    data = emit(constant_op(values))
    scast = emit(StorageCastOp(data.result, TensorType(qtype, values.shape)))
    return emit(DequantizeCastOp(scast.result, TensorType(f32, values.shape))).result


def test_hand_built_quantized_weights():
    """Per-channel conv (3 bits), per-tensor fc (12 bits), matmul rhs stored [in, out] (per channel along
    axis 1, 5 bits) and unsigned storage (shifted to signed, as MindSpore Lite stores weights)."""
    rng = np.random.default_rng(7)
    conv_w = rng.integers(-4, 3, size=(4, 3, 3, 2), endpoint=True).astype(np.int8)
    conv_t = UniformQuantizedType.get([0.1, 0.2, 0.3, 0.4], [0, 1, -1, 2], axis=0, width=8, qmin=-4, qmax=3)
    fc_w = rng.integers(-2048, 2047, size=(6, 16), endpoint=True).astype(np.int16)
    fc_t = UniformQuantizedType.get(0.001, 5, width=16, qmin=-2048, qmax=2047)
    mm_w = rng.integers(-16, 15, size=(6, 5), endpoint=True).astype(np.int8)
    mm_t = UniformQuantizedType.get([0.5] * 5, [0, 1, 2, 3, 4], axis=1, width=8, qmin=-16, qmax=15)
    u_w = rng.integers(0, 255, size=(5, 5), endpoint=True).astype(np.uint8)
    u_t = UniformQuantizedType.get(0.01, 128, width=8, signed=False)

    def body(emit, x, y):
        c = emit(lite.Conv2DOp(x, _quantized(emit, conv_w, conv_t), None, [1, 1], [1, 1], [1, 1, 1, 1], 1)).output
        flat = emit(lite.ReshapeOp(c, [1, 16])).output
        fc = emit(lite.FullyConnectedOp(flat, _quantized(emit, fc_w, fc_t))).output
        mm = emit(lite.MatMulOp(fc, _quantized(emit, mm_w, mm_t))).output
        return [emit(lite.MatMulOp(y, _quantized(emit, u_w, u_t), False, True)).output, mm]

    module = _module([(1, 2, 2, 2), (3, 5)], body)
    data = encode_ms(module, fmk_type=FmkType.ONNX)
    graph = load_graph(data, "hand.ms")
    weights = {t.quant_params[0].num_bits: t for t in graph.tensors if t.quant_params}
    assert sorted(weights) == [3, 5, 8, 12]
    assert weights[3].data == pack_bits(conv_w, 3) and len(weights[3].quant_params) == 4
    assert weights[12].data == pack_bits(fc_w, 12) and weights[12].data_type == TypeId.INT16
    assert [q.zero_point for q in weights[5].quant_params] == [0, 1, 2, 3, 4]
    assert weights[8].data == (u_w.astype(np.int16) - 128).astype(np.int8).tobytes()
    assert weights[8].quant_params[0].zero_point == 0
    back = decode_ms(data)
    rewritten = encode_ms(back)
    assert encode_ms(decode_ms(rewritten)) == rewritten
    # a constant 2-D matmul rhs is read as a fully connected layer (the [in, out] one transposed)
    assert _ops(back) == Counter({"lite.conv2d": 1, "lite.reshape": 1, "lite.fully_connected": 3})
    executor = _executor()
    inputs = [rng.standard_normal((1, 2, 2, 2)).astype(np.float32), rng.standard_normal((3, 5)).astype(np.float32)]
    for a, b in zip(executor(module).run(inputs), executor(back).run(inputs)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_corrections_and_invalid_scales_are_dequantized(zoo_dir):
    """varCorr/meanCorr, k-means clusters or a zero scale cannot live in `!quant.uniform`: float constant."""
    weight_quant = pytest.importorskip("quantopt.passes.weight_quant")
    module = read_ms(zoo_dir / "ms" / "lenet_tod_infer.ms")
    weight_quant.WeightQuantPass(bits=8).apply(Context(), module)
    graph = load_graph(encode_ms(module), "q.ms")
    conv1 = next(t for t in graph.tensors if t.quant_params)
    q = np.frombuffer(conv1.data, np.int8).reshape(conv1.dims).astype(np.float64)
    params = conv1.quant_params
    zp = np.array([p.zero_point for p in params]).reshape(-1, 1, 1, 1)
    scale = np.array([p.scale for p in params]).reshape(-1, 1, 1, 1)

    def first_constant(g: MsGraph) -> np.ndarray:
        from quantopt.backends.ms.flatbuf import dump_graph
        from quantopt.dialects.constant import constant_value

        m = decode_ms(dump_graph(g))
        conv = next(op for op in m.walk() if isinstance(op, lite.Conv2DOp))
        assert isinstance(conv.filter.owner, arith.ConstantOp)
        return constant_value(conv.filter)

    conv1.quant_params = [MsQuantParam(**{**p.__dict__, "var_corr": 0.5, "mean_corr": 0.25}) for p in params]
    np.testing.assert_allclose(first_constant(graph), ((q - zp) * scale * 0.5 + 0.25).astype(np.float32), rtol=1e-6)
    conv1.quant_params = [MsQuantParam(**{**p.__dict__, "scale": 0.0}) for p in params]
    np.testing.assert_array_equal(first_constant(graph), np.zeros(conv1.dims, np.float32))
    conv1.quant_params = params
    conv1.quant_clusters = list(np.linspace(-1, 1, 256))
    clusters = np.asarray(conv1.quant_clusters, np.float32)
    np.testing.assert_array_equal(first_constant(graph), clusters[q.astype(np.int64) + 128])


def test_per_channel_axis_must_match_mindspore_lite():
    qtype = UniformQuantizedType.get([0.1, 0.2], [0, 0], axis=3, width=8)

    def body(emit, x):
        w = _quantized(emit, np.zeros((2, 1, 1, 2), np.int8), qtype)
        return [emit(lite.Conv2DOp(x, w, None, [1, 1], [1, 1], [0, 0, 0, 0], 1)).output]

    with pytest.raises(QuantOptError, match="along axis 3.*along axis 0"):
        encode_ms(_module([(1, 1, 1, 2)], body), fmk_type=FmkType.ONNX)


ZOO_MODELS = ["onnx/mobilenet_v2.onnx", "mindir/lenet.mindir", "mindir/mobilenet_v2.mindir",
              "tflite/mobilenet_v2.tflite", "tflite/face_detection_short_range.tflite",
              "tflite/selfie_segmentation.tflite"]


def _import(path):
    if path.suffix == ".tflite":
        return pytest.importorskip("quantopt.frontends.tflite").import_tflite(str(path))
    return pytest.importorskip("quantopt.api").import_model(str(path))


@pytest.mark.slow
@pytest.mark.parametrize("model", ZOO_MODELS)
def test_zoo_models_through_ms(zoo_dir, model, tmp_path):
    """What the frontends make of the zoo's models is written, read back and computes the same outputs,
    also with 4-bit weights (bit-packed)."""
    executor = _executor()
    module = _import(zoo_dir / model)
    fmk = {".onnx": FmkType.ONNX, ".mindir": FmkType.MINDIR, ".tflite": FmkType.TFLITE}[(zoo_dir / model).suffix]
    write_ms(module, tmp_path / "m.ms", fmk_type=fmk)
    back = read_ms(tmp_path / "m.ms")
    run = executor(module)
    rng = np.random.default_rng(1)
    inputs = [rng.uniform(-1, 1, shape).astype(np.float32) for shape in run.input_shapes]
    for a, b in zip(run.run(inputs), executor(back).run(inputs)):
        np.testing.assert_array_equal(a, b)
    weight_quant = pytest.importorskip("quantopt.passes.weight_quant")
    weight_quant.WeightQuantPass(bits=4).apply(Context(), back)
    quantized = decode_ms(encode_ms(back))
    for a, b in zip(executor(back).run(inputs), executor(quantized).run(inputs)):
        np.testing.assert_array_equal(a, b)
