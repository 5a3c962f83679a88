"""MindIR frontend: the zoo's real MindSpore files against MindSpore's own outputs, small models written
here in both encodings against numpy, and the errors for broken or unsupported input."""

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from quantopt.dialects import lite
from quantopt.errors import QuantOptError
from quantopt.frontends.mindir import MindirFrontend, import_mindir, import_mindir_bytes
from quantopt.frontends.mindir_values import MONAD, attribute_value
from quantopt.frontends.proto import mind_ir_pb2 as pb

ZOO = Path(__file__).resolve().parents[2] / "shared" / "zoo"
executor = pytest.importorskip("quantopt.backends.reference.executor")


def run(module, *inputs):
    return executor.Executor(module).run(list(inputs))


def count_ops(module, op_class) -> int:
    return sum(isinstance(op, op_class) for op in module.walk())


# -- writing small models ----------------------------------------------------------------------------------


def typed_attribute(attr: pb.AttributeProto, value, name: str = "") -> pb.AttributeProto:
    """`value` in the 2.x encoding (elements of a tuple keep their scalar in the repeated field)."""
    A = pb.AttributeProto
    attr.name = name
    if isinstance(value, bool):
        attr.type, attr.i = A.BOOL, int(value)
    elif isinstance(value, int):
        attr.type, attr.i = A.INT64, value
    elif isinstance(value, float):
        attr.type, attr.f = A.FLOAT, value
    elif isinstance(value, str):
        attr.type, attr.s = A.STRING, value.encode()
    elif isinstance(value, tuple):
        attr.type = A.TUPLE
        for item in value:
            element = attr.values.add()
            typed_attribute(element, item)
            if isinstance(item, int) and not isinstance(item, bool):
                element.ClearField("i")
                element.ints.append(item)
    elif isinstance(value, np.ndarray):
        attr.type = A.TENSORS
        fill_tensor(attr.tensors.add(), value)
    else:
        raise TypeError(value)
    return attr


def fill_tensor(t: pb.TensorProto, array: np.ndarray, name: str = "") -> None:
    t.name = name
    t.dims.extend(array.shape)
    t.data_type = pb.TensorProto.FLOAT
    t.raw_data = np.ascontiguousarray(array, "<f4").tobytes()


class ModelWriter:
    """Writes a one-graph MindIR model the way MindSpore 2.x does (REF:: op types, Constant nodes)."""

    def __init__(self):
        self.model = pb.ModelProto(ir_version="1.1", producer_name="MindSpore", model_version="2.10.0")
        self.graph = self.model.graph
        self.graph.name = "g"
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"g:{stem}_{self.count}:{self.count}"

    def input(self, shape) -> str:
        info = self.graph.input.add(name=f"g:x{len(self.graph.input)}")
        info.tensor.add(dims=shape, data_type=pb.TensorProto.FLOAT)
        return info.name

    def parameter(self, array: np.ndarray) -> str:
        name = self.fresh("param")
        fill_tensor(self.graph.parameter.add(), np.asarray(array, np.float32), name)
        monad = self.node("Constant", [], value=None)
        return self.op("Load", [name, monad])

    def constant(self, value) -> str:
        return self.node("Constant", [], value=value)

    def node(self, op_type: str, inputs, value=None) -> str:
        output = self.fresh(op_type.removeprefix("REF::").split(":")[0])
        node = self.graph.node.add(input=inputs, output=[output], name=output, op_type=op_type)
        if op_type == "Constant":
            attr = node.attribute.add()
            if value is None:
                attr.name, attr.type = "value", pb.AttributeProto.UMONAD
            else:
                typed_attribute(attr, value, "value")
        return output

    def op(self, op_type: str, inputs, **attrs) -> str:
        primitive = self.model.primitives.add(name=f"{op_type}:{self.count}", op_type=op_type)
        for key, value in attrs.items():
            typed_attribute(primitive.attribute.add(), value, key)
        return self.node(f"REF::{primitive.name}", inputs)

    def finish(self, *outputs: str) -> bytes:
        for name in outputs:
            self.graph.output.add(name=name)
        return self.model.SerializeToString()


CONV_ATTRS = dict(kernel_size=(3, 3), mode=1, pad=(0, 0, 0, 0), format="NCHW", dilation=(1, 1, 1, 1))


# -- numpy references --------------------------------------------------------------------------------------


def conv_nchw(x, w, stride, pads, group=1):
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    n, c, h, wd = x.shape
    o, ci, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    per_group = o // group
    for g in range(group):
        xs = x[:, g * ci:(g + 1) * ci]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
                out[:, g * per_group:(g + 1) * per_group] += np.einsum(
                    "nchw,oc->nohw", patch, w[g * per_group:(g + 1) * per_group, :, i, j])
    return out


def avg_pool_nchw(x, k):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).mean(axis=(3, 5))


# -- the zoo -----------------------------------------------------------------------------------------------


def zoo_file(*parts) -> Path:
    path = ZOO.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def load_inputs(set_name: str, count: int) -> np.ndarray:
    sys.path.insert(0, str(zoo_file("make_bins.py").parent))
    import make_bins

    return make_bins.load(set_name, count=count)


def test_relu_from_mindspore_1_5():
    module = import_mindir(str(zoo_file("mindir", "relu.mindir")))
    x = np.random.default_rng(0).standard_normal((1, 1, 2, 2)).astype(np.float32)
    (y,) = run(module, x)
    assert y.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def assert_close(outputs, reference):
    error = np.abs(np.asarray(outputs).reshape(reference.shape) - reference).max()
    assert error <= 1e-4 * np.abs(reference).max()


@pytest.mark.slow
def test_lenet_matches_mindspore():
    module = import_mindir(str(zoo_file("mindir", "lenet.mindir")))
    reference = np.load(zoo_file("ref", "lenet", "ref_fp32_mindspore.npz"))["logits"][:5]
    x = load_inputs("lenet/eval", 5)
    assert x.shape == (5, 1, 32, 32)
    assert_close([run(module, x[i:i + 1])[0] for i in range(5)], reference)
    assert count_ops(module, lite.AddOp) == 0  # every BiasAdd went into its conv2d or fully_connected


@pytest.mark.slow
def test_mobilenet_v2_matches_mindspore():
    module = import_mindir(str(zoo_file("mindir", "mobilenet_v2.mindir")))
    reference = np.load(zoo_file("ref", "mobilenet_v2", "logits_mindspore.npy"))[:3]
    x = load_inputs("mobilenet_v2/eval", 3)
    assert_close([run(module, x[i:i + 1])[0] for i in range(3)], reference)
    assert count_ops(module, lite.TransposeOp) == 1  # NCHW -> NHWC at the input, nothing else
    assert count_ops(module, lite.BatchNormOp) == 52


# -- small models in the 2.x encoding ----------------------------------------------------------------------


def test_conv_batchnorm_pool_head():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    w = rng.standard_normal((6, 4, 3, 3)).astype(np.float32)
    dw = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    scale, offset, mean = (rng.standard_normal(6).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, 6).astype(np.float32)
    fc = rng.standard_normal((5, 6)).astype(np.float32)

    m = ModelWriter()
    h = m.op("Conv2D", [m.input([1, 4, 8, 8]), m.parameter(w)], **CONV_ATTRS, out_channel=6, pad_mode="same",
             stride=(1, 1, 2, 2), group=1)
    h = m.op("BatchNorm", [h, *map(m.parameter, (scale, offset, mean, var)), m.constant(False),
                           m.constant(1e-5), m.constant(0.1), m.constant(0)])
    h = m.op("HSwish", [m.op("TupleGetItem", [h, m.constant(0)])])
    h = m.op("Conv2D", [h, m.parameter(dw)], **{**CONV_ATTRS, "pad": (1, 1, 1, 1)}, out_channel=6,
             pad_mode="pad", stride=(1, 1, 1, 1), group=6)
    h = m.op("AvgPool", [h], kernel_size=(1, 1, 2, 2), strides=(1, 1, 2, 2), pad_mode="VALID", format="NCHW")
    h = m.op("ReduceMean", [h, m.constant((2, 3)), m.constant(False)])
    h = m.op("MatMul", [h, m.parameter(fc), m.constant(False), m.constant(True)])
    h = m.op("Softmax", [h, m.constant((-1,))])
    module = import_mindir_bytes(m.finish(h), "small.mindir")

    y = conv_nchw(x, w, 2, (0, 1, 0, 1))  # SAME, stride 2: the odd pixel of padding goes bottom/right
    y = (y - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * scale[:, None, None] + offset[:, None, None]
    y = y * np.clip(y + 3, 0, 6) / 6
    y = avg_pool_nchw(conv_nchw(y, dw, 1, (1, 1, 1, 1), group=6), 2).mean(axis=(2, 3)) @ fc.T
    y = np.exp(y - y.max()) / np.exp(y - y.max()).sum()
    np.testing.assert_allclose(run(module, x)[0], y, rtol=1e-4, atol=1e-5)
    assert count_ops(module, lite.TransposeOp) == 1


def test_shape_ops_keep_mindspore_element_order():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 1, 1)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)

    m = ModelWriter()
    conv = m.op("Conv2D", [m.input([1, 3, 4, 4]), m.parameter(w)], **{**CONV_ATTRS, "kernel_size": (1, 1)},
                out_channel=2, pad_mode="valid", stride=(1, 1, 1, 1), group=1)
    conv = m.op("BiasAdd", [conv, m.parameter(bias), m.constant(0)])
    joined = m.op("Concat", [m.op("MakeTuple", [conv, m.op("ReLU6", [conv])]), m.constant(1)])
    scaled = m.op("Mul", [m.op("Sub", [joined, m.constant(0.5)]), m.constant(np.arange(4, dtype=np.float32))])
    moved = m.op("Transpose", [scaled, m.constant((0, 2, 3, 1))])
    flat = m.op("Reshape", [moved, m.constant((1, -1))])
    pooled = m.op("MaxPool", [scaled], kernel_size=(1, 1, 2, 2), strides=(1, 1, 2, 2), pad_mode="SAME",
                  format="NCHW")
    out = m.op("Depend", [m.op("Flatten", [pooled]), m.op("UpdateState", [m.constant(None), flat])])
    module = import_mindir_bytes(m.finish(m.op("MakeTuple", [flat, out])), "shapes.mindir")

    c = conv_nchw(x, w, 1, (0, 0, 0, 0)) + bias[:, None, None]
    s = (np.concatenate([c, np.clip(c, 0, 6)], axis=1) - 0.5) * np.arange(4)
    expected_flat = s.transpose(0, 2, 3, 1).reshape(1, -1)
    expected_pool = s.reshape(1, 4, 2, 2, 2, 2).max(axis=(3, 5)).reshape(1, -1)
    got_flat, got_pool = run(module, x)
    np.testing.assert_allclose(got_flat, expected_flat, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got_pool, expected_pool, rtol=1e-5, atol=1e-5)


def test_dense_and_rank_changes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)

    m = ModelWriter()
    h = m.op("Dense", [m.input([2, 3]), m.parameter(w), m.parameter(bias)], has_bias=True)
    h = m.op("ExpandDims", [m.op("Tanh", [h]), m.constant(1)])
    h = m.op("ReduceMax", [m.op("Div", [h, m.constant(2.0)]), m.constant(2), m.constant(True)])
    h = m.op("Squeeze", [h], axis=(2,))
    module = import_mindir_bytes(m.finish(h), "dense.mindir")
    expected = (np.tanh(x @ w.T + bias) / 2).max(axis=1, keepdims=True)
    np.testing.assert_allclose(run(module, x)[0], expected, rtol=1e-5, atol=1e-6)


def test_frontend_reads_a_stream():
    m = ModelWriter()
    module = MindirFrontend().parse(None, io.BytesIO(m.finish(m.op("Sigmoid", [m.input([2, 3])]))), "s.mindir")
    x = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run(module, x)[0], 1 / (1 + np.exp(-x)), rtol=1e-6)


# -- the 1.x attribute encoding ----------------------------------------------------------------------------


def legacy(ref: str, **fields) -> pb.AttributeProto:
    return pb.AttributeProto(name="a", ref_attr_name=ref, **fields)


def test_legacy_attribute_values():
    A = pb.AttributeProto
    assert attribute_value(legacy("scalar:value0", type=A.INT64, i=7)) == 7
    assert attribute_value(legacy("scalar:value0", type=A.STRING, s=b"same")) == "same"
    assert attribute_value(legacy("scalar:Tuple[value1,value2,value3,value4,]", type=A.INT64,
                                  ints=[1, 1, 2, 2])) == (1, 1, 2, 2)
    assert attribute_value(legacy("scalar:Tuple[value1,List[value2,value3,],]", type=A.FLOAT,
                                  floats=[0.5, 1, 2])) == (0.5, (1.0, 2.0))
    assert attribute_value(legacy("scalar:Tuple[]", type=A.INT64)) == ()
    assert attribute_value(legacy("Monad:UMonad")) is MONAD
    assert attribute_value(legacy("none")) is None


def test_legacy_model_with_attributes_on_the_node():
    A = pb.AttributeProto
    model = pb.ModelProto(ir_version="0.1.0", producer_name="MindSpore", model_version="1.5.0")
    g = model.graph
    g.input.add(name="g:x").tensor.add(dims=[1, 2, 4, 4], data_type=pb.TensorProto.FLOAT)
    node = g.node.add(input=["g:x"], output=["g:y"], name="g:y", op_type="MaxPool")
    node.attribute.add(ref_attr_name="shape:shape1,").tensors.add(name="shape1", dims=[1, 2, 2, 2], data_type=1)
    for name, values in (("kernel_size", [1, 1, 2, 2]), ("strides", [1, 1, 2, 2])):
        node.attribute.add(name=name, ref_attr_name="scalar:Tuple[value1,value2,value3,value4,]", type=A.INT64,
                           ints=values)
    node.attribute.add(name="pad_mode", ref_attr_name="scalar:value0", type=A.INT64, i=2)  # PadMode VALID
    node.attribute.add(name="format", ref_attr_name="scalar:value0", type=A.STRING, s=b"NCHW")
    g.output.add(name="g:y")
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    (y,) = run(import_mindir_bytes(model.SerializeToString(), "old.mindir"), x)
    np.testing.assert_array_equal(y, x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)))


# -- errors ------------------------------------------------------------------------------------------------


def test_truncated_file(tmp_path):
    m = ModelWriter()
    data = m.finish(m.op("ReLU", [m.parameter(np.ones((64, 64)))]))
    path = tmp_path / "cut.mindir"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(QuantOptError) as info:
        import_mindir(str(path))
    assert info.value.what == "not a MindIR model: the protobuf cannot be parsed (truncated or corrupt file?)"


def test_bytes_that_are_not_a_model():
    with pytest.raises(QuantOptError, match="not a MindIR model: it has no graph with outputs"):
        import_mindir_bytes(b"", "empty.mindir")


def test_unsupported_op_names_op_and_node():
    m = ModelWriter()
    y = m.op("Erf", [m.input([1, 4])])
    with pytest.raises(QuantOptError) as info:
        import_mindir_bytes(m.finish(y), "erf.mindir")
    assert str(info.value) == f"error: erf.mindir: unsupported MindIR op 'Erf' (node '{y}')"


def test_call_of_a_sub_graph_is_unsupported():
    m = ModelWriter()
    y = m.node("REF::helper_graph", [m.input([1, 4])])
    with pytest.raises(QuantOptError) as info:
        import_mindir_bytes(m.finish(y), "call.mindir")
    assert info.value.what == ("'REF::helper_graph' names no primitive of the model "
                               "(calls of sub-graphs are not supported)")


def test_shape_mismatch_with_the_file_is_an_error():
    m = ModelWriter()
    y = m.op("ReLU", [m.input([1, 4])])
    m.graph.node[-1].attribute.add(name="shape", type=pb.AttributeProto.TENSORS).tensors.add(dims=[1, 5])
    with pytest.raises(QuantOptError, match=r"MindIR op 'ReLU': computed shape \[1, 4\] differs from the shape "
                                            r"\[1, 5\] the file declares"):
        import_mindir_bytes(m.finish(y), "bad.mindir")


def test_missing_file():
    with pytest.raises(QuantOptError, match="cannot read MindIR model"):
        import_mindir("/nonexistent/model.mindir")
