"""ONNX frontend: every supported op imports into a verified module, layout-sensitive cases come out without
gratuitous transposes, unsupported input fails naming the op and node, and (once the reference executor
exists) the imported module computes what onnxruntime computes."""

from __future__ import annotations

import glob
import os
from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from quantopt.errors import QuantOptError
from quantopt.frontends.onnx import OnnxFrontend, import_onnx

ZOO = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "zoo", "onnx")
LIGHT_MODELS = sorted(glob.glob(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light/*.onnx")))
INT_MAX = 2**63 - 1

rng = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def ints(*values: int) -> np.ndarray:
    return np.array(values, np.int64)


def node(op_type: str, inputs: list[str], outputs: list[str] | str = "y", **attrs) -> onnx.NodeProto:
    outputs = [outputs] if isinstance(outputs, str) else outputs
    return helper.make_node(op_type, inputs, outputs, name=f"{op_type.lower()}_{outputs[0]}", **attrs)


def make_model(nodes, inputs: dict[str, list], consts: dict[str, np.ndarray] | None = None,
               outputs: list[str] | None = None, opset: int = 13) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (outputs or [nodes[-1].output[0]])],
        [numpy_helper.from_array(a, n) for n, a in (consts or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def conv_then(nodes, opset=13, channels=4, size=6, extra_consts=None, outputs=None):
    """x [1,3,size,size] -> 3x3 conv to `channels` (held channels-last) -> `nodes` reading 'c'."""
    conv = node("Conv", ["x", "w", "bias"], "c", pads=[1, 1, 1, 1])
    consts = {"w": rand(channels, 3, 3, 3), "bias": rand(channels), **(extra_consts or {})}
    return make_model([conv, *nodes], {"x": [1, 3, size, size]}, consts, outputs, opset)


CASES: dict[str, onnx.ModelProto] = {}


def case(name: str, model: onnx.ModelProto) -> None:
    CASES[name] = model


# -- convolutions ---------------------------------------------------------------------------------------------
case("conv", conv_then([node("Relu", ["c"])]))
case("conv_group_stride_dilation", make_model(
    [node("Conv", ["x", "w"], group=2, strides=[2, 1], dilations=[2, 1], pads=[0, 1, 2, 1])],
    {"x": [1, 4, 9, 8]}, {"w": rand(6, 2, 3, 3)}))
case("conv_depthwise", make_model([node("Conv", ["x", "w", "b"], group=3, pads=[1, 1, 1, 1])],
                                  {"x": [1, 3, 7, 7]}, {"w": rand(3, 1, 3, 3), "b": rand(3)}))
for auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
    case(f"conv_{auto_pad.lower()}", make_model([node("Conv", ["x", "w"], auto_pad=auto_pad, strides=[2, 2])],
                                                {"x": [1, 2, 7, 8]}, {"w": rand(3, 2, 4, 3)}))
case("conv_weight_input", make_model([node("Conv", ["x", "w"])], {"x": [1, 2, 5, 5], "w": [3, 2, 3, 3]}))
case("conv_transpose", make_model(
    [node("ConvTranspose", ["x", "w", "b"], strides=[2, 2], pads=[1, 0, 0, 1], output_padding=[1, 0])],
    {"x": [1, 3, 4, 5]}, {"w": rand(3, 2, 3, 3), "b": rand(2)}))
case("conv_transpose_groups", make_model(
    [node("ConvTranspose", ["x", "w"], group=2, strides=[2, 1], dilations=[1, 2])],
    {"x": [1, 4, 3, 3]}, {"w": rand(4, 3, 2, 3)}))
case("conv_transpose_output_shape_grows", make_model(
    [node("ConvTranspose", ["x", "w"], strides=[3, 2], output_shape=[10, 8])],
    {"x": [1, 1, 3, 3]}, {"w": rand(1, 2, 3, 3)}))
for auto_pad in ("NOTSET", "SAME_UPPER", "SAME_LOWER"):
    case(f"conv_transpose_{auto_pad.lower()}", make_model(
        [node("ConvTranspose", ["x", "w"], strides=[2, 2], auto_pad=auto_pad)],
        {"x": [1, 2, 3, 4]}, {"w": rand(2, 3, 4, 3)}))
    case(f"conv_transpose_{auto_pad.lower()}_output_shape", make_model(
        [node("ConvTranspose", ["x", "w"], strides=[2, 2], auto_pad=auto_pad, output_shape=[7, 7])],
        {"x": [1, 2, 3, 4]}, {"w": rand(2, 3, 4, 3)}))

# -- dense ----------------------------------------------------------------------------------------------------
case("gemm_trans_alpha_beta", make_model(
    [node("Gemm", ["a", "b", "c"], transA=1, transB=1, alpha=0.5, beta=2.0)],
    {"a": [6, 3]}, {"b": rand(4, 6), "c": rand(4)}))
case("gemm_matrix_c", make_model([node("Gemm", ["a", "b", "c"], beta=0.5)], {"a": [3, 6]},
                                 {"b": rand(6, 4), "c": rand(3, 4)}))
case("gemm_inputs", make_model([node("Gemm", ["a", "b", "c"], transB=1, alpha=2.0, beta=3.0)],
                               {"a": [3, 6], "b": [4, 6], "c": [1, 4]}))
case("gemm_no_c", make_model([node("Gemm", ["a", "b"])], {"a": [3, 6]}, {"b": rand(6, 4)}))
case("matmul_fc", make_model([node("MatMul", ["a", "b"])], {"a": [3, 6]}, {"b": rand(6, 4)}))
case("matmul_batched_const", make_model([node("MatMul", ["a", "b"])], {"a": [2, 3, 6]}, {"b": rand(6, 4)}))
case("matmul_inputs_1d", make_model([node("MatMul", ["a", "b"])], {"a": [2, 3, 6], "b": [6]}))

# -- elementwise ----------------------------------------------------------------------------------------------
case("binary_with_channel_constants", conv_then(
    [node("Add", ["c", "k"], "s"), node("Mul", ["s", "m"], "p"), node("Sub", ["p", "x1"], "d"),
     node("Div", ["d", "two"])],
    extra_consts={"k": rand(4, 1, 1), "m": rand(6), "x1": rand(1, 4, 6, 1), "two": np.array(2.0, np.float32)}))
case("binary_with_plain_tensors", make_model(
    [node("Conv", ["x", "w"], "c"), node("Mul", ["c", "g"], "p"), node("Add", ["p", "h"])],
    {"x": [1, 2, 5, 5], "g": [1, 3, 1, 1], "h": [3, 5, 1]}, {"w": rand(3, 2, 1, 1)}))
case("binary_2d", make_model([node("Sub", ["a", "b"])], {"a": [3, 4], "b": [4]}))
case("sum", conv_then([node("Sum", ["c", "c", "k"])], extra_consts={"k": rand(4, 1, 1)}))
case("activations", conv_then([
    node("Sigmoid", ["c"], "a1"), node("Tanh", ["a1"], "a2"), node("HardSigmoid", ["a2"], "a3", alpha=0.3, beta=0.4),
    node("HardSwish", ["a3"], "a4"), node("LeakyRelu", ["a4"], "a5", alpha=0.2), node("Elu", ["a5"], "a6", alpha=0.7),
    node("Softplus", ["a6"], "a7"), node("Abs", ["a7"])], opset=14))
case("clip_relu6", conv_then([node("Clip", ["c", "lo", "hi"])], extra_consts={
    "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}))
case("clip_relu", conv_then([node("Clip", ["c", "lo"])], extra_consts={"lo": np.array(0, np.float32)}))
case("clip_range", conv_then([node("Clip", ["c", "lo", "hi"])], extra_consts={
    "lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}))
case("clip_max_only", conv_then([node("Clip", ["c", "", "hi"])], extra_consts={"hi": np.array(0.3, np.float32)}))
case("clip_opset9_attrs", conv_then([node("Clip", ["c"], min=-1.0, max=1.0)], opset=9))
case("prelu", conv_then([node("PRelu", ["c", "slope"])], extra_consts={"slope": rand(4, 1, 1)}))

# -- pooling and normalisation --------------------------------------------------------------------------------
case("max_pool_ceil", conv_then([node("MaxPool", ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                      ceil_mode=1)], size=8))
case("max_pool_same_upper", conv_then([node("MaxPool", ["c"], kernel_shape=[2, 3], strides=[2, 2],
                                           auto_pad="SAME_UPPER")], size=7))
for include in (0, 1):
    case(f"avg_pool_count_include_pad_{include}", conv_then(
        [node("AveragePool", ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0],
              count_include_pad=include)], size=7))
case("avg_pool_ceil_count_include_pad", conv_then(
    [node("AveragePool", ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
          count_include_pad=1)], size=8))
case("avg_pool_ceil", conv_then([node("AveragePool", ["c"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)],
                                size=7))
case("global_pools_flatten_gemm", conv_then(
    [node("GlobalAveragePool", ["c"], "g"), node("GlobalMaxPool", ["c"], "m"), node("Add", ["g", "m"], "s"),
     node("Flatten", ["s"], "f"), node("Gemm", ["f", "fw", "fb"], transB=1)],
    extra_consts={"fw": rand(5, 4), "fb": rand(5)}))
case("batch_norm", conv_then([node("BatchNormalization", ["c", "s", "o", "mu", "var"], epsilon=1e-3)],
                             extra_consts={"s": rand(4), "o": rand(4), "mu": rand(4),
                                           "var": np.abs(rand(4)) + 0.5}))
case("batch_norm_2d", make_model([node("BatchNormalization", ["x", "s", "o", "mu", "var"])], {"x": [3, 4]},
                                 {"s": rand(4), "o": rand(4), "mu": rand(4), "var": np.abs(rand(4)) + 0.5}))
case("lrn", conv_then([node("LRN", ["c"], size=3, alpha=1e-2, beta=0.6, bias=2.0)]))

# -- shapes and data movement ----------------------------------------------------------------------------------
case("flatten_after_conv", conv_then([node("Flatten", ["c"])]))
case("reshape_after_conv", conv_then([node("Reshape", ["c", "shape"])], extra_consts={"shape": ints(0, -1, 12)}))
case("reshape_torch_shape_subgraph", conv_then([
    node("Shape", ["c"], "shp"), node("Gather", ["shp", "zero"], "n", axis=0), node("Unsqueeze", ["n", "axes"], "n1"),
    node("Concat", ["n1", "minus1"], "target", axis=0), node("Reshape", ["c", "target"])],
    extra_consts={"zero": ints(0).reshape(()), "axes": ints(0), "minus1": ints(-1)}))
case("transpose_to_nhwc_is_free", conv_then([node("Transpose", ["c"], "t", perm=[0, 2, 3, 1]),
                                             node("Relu", ["t"])]))
case("transpose_nhwc_input_to_conv", make_model(
    [node("Transpose", ["x"], "t", perm=[0, 3, 1, 2]), node("Conv", ["t", "w"])],
    {"x": [1, 5, 5, 2]}, {"w": rand(3, 2, 3, 3)}))
case("transpose_value_held_in_both_layouts", make_model(  # x is fed to a conv as NCHW and reread as NHWC
    [node("Conv", ["x", "w"], "c"), node("Transpose", ["x"], "t", perm=[0, 3, 1, 2]), node("Relu", ["t"], "r")],
    {"x": [1, 4, 5, 2]}, {"w": rand(3, 4, 1, 1)}, outputs=["c", "r"]))
case("transpose_generic", conv_then([node("Transpose", ["c"], perm=[1, 0, 3, 2])]))
case("concat_channels", conv_then([node("Relu", ["c"], "r"), node("Concat", ["c", "r"], axis=1)]))
case("concat_with_plain_input", conv_then([node("Concat", ["c", "x"], axis=-3)]))
case("split_channels", conv_then([node("Split", ["c", "sizes"], ["s0", "s1"], axis=1), node("Sub", ["s0", "s1"])],
                                 extra_consts={"sizes": ints(2, 2)}))
case("split_num_outputs", conv_then([node("Split", ["c"], ["s0", "s1", "s2"], axis=2, num_outputs=3),
                                     node("Sum", ["s0", "s1", "s2"])], opset=18, channels=4, size=6))
case("split_opset11_attr", conv_then([node("Split", ["c"], ["s0", "s1"], axis=1, split=[1, 3]),
                                      node("Concat", ["s1", "s0"], axis=1)], opset=11))
case("slice_negative_steps", conv_then([node("Slice", ["c", "starts", "ends", "axes", "steps"])], extra_consts={
    "starts": ints(-1, INT_MAX, 1), "ends": ints(-INT_MAX, 0, 5), "axes": ints(1, 2, 3), "steps": ints(-2, -1, 2)}))
case("slice_clamped", conv_then([node("Slice", ["c", "starts", "ends"])], extra_consts={
    "starts": ints(0, 1, -4, -100), "ends": ints(INT_MAX, 3, -1, 100)}))
case("slice_opset9_attrs", conv_then([node("Slice", ["c"], starts=[1, 2], ends=[-1, 100], axes=[1, 3])], opset=9))
case("squeeze_unsqueeze", conv_then([node("GlobalAveragePool", ["c"], "g"), node("Squeeze", ["g", "axes"], "s"),
                                     node("Unsqueeze", ["s", "ax0"])],
                                    extra_consts={"axes": ints(2, 3), "ax0": ints(0)}))
case("squeeze_opset11_attr", conv_then([node("GlobalAveragePool", ["c"], "g"), node("Squeeze", ["g"], axes=[3])],
                                       opset=11))
case("softmax_channel_axis", conv_then([node("Softmax", ["c"], axis=1)]))
case("softmax_opset11_coerced", conv_then([node("Softmax", ["c"], axis=1)], opset=11))
case("softmax_opset11_axis2", conv_then([node("Softmax", ["c"], axis=2)], opset=11))
for mode in ("constant", "reflect", "edge"):
    case(f"pad_{mode}", conv_then([node("Pad", ["c", "pads", "value"], mode=mode)], opset=13, extra_consts={
        "pads": ints(0, 1, 2, 0, 0, 2, 1, 3), "value": np.array(1.5, np.float32)}))
case("pad_opset9_attrs", conv_then([node("Pad", ["c"], pads=[0, 0, 1, 1, 0, 0, 2, 0], value=-1.0)], opset=9))
case("pad_opset18_axes", conv_then([node("Pad", ["c", "pads", "", "axes"])], opset=18, extra_consts={
    "pads": ints(1, 2, 3, 0), "axes": ints(1, -1)}))
case("reduce_mean_hw", conv_then([node("ReduceMean", ["c"], axes=[2, 3], keepdims=1)]))
case("reduce_mean_hw_drop", conv_then([node("ReduceMean", ["c"], axes=[-1, -2], keepdims=0)]))
case("reduce_mean_n_drop", conv_then([node("ReduceMean", ["c"], axes=[0], keepdims=0)]))
case("reduce_mean_opset18_input", conv_then([node("ReduceMean", ["c", "axes"], keepdims=0)], opset=18,
                                            extra_consts={"axes": ints(1)}))
case("reduce_mean_all", conv_then([node("ReduceMean", ["c"], keepdims=0)]))
case("reduce_noop", conv_then([node("ReduceMean", ["c", "axes"], noop_with_empty_axes=1)], opset=18,
                              extra_consts={"axes": np.zeros(0, np.int64)}))
case("resize_nearest_scales", conv_then([node("Resize", ["c", "", "scales"], mode="nearest",
                                              coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
                                        extra_consts={"scales": np.array([1, 1, 2, 3], np.float32)}))
case("resize_linear_align_corners", conv_then([node("Resize", ["c", "", "", "sizes"], mode="linear",
                                                    coordinate_transformation_mode="align_corners")],
                                              extra_consts={"sizes": ints(1, 4, 11, 5)}))
case("resize_linear_half_pixel_down", conv_then([node("Resize", ["c", "", "scales"], mode="linear")],
                                                extra_consts={"scales": np.array([1, 1, 0.5, 0.5], np.float32)}))
case("resize_pytorch_half_pixel", conv_then([node("Resize", ["c", "roi", "scales"], mode="linear",
                                                  coordinate_transformation_mode="pytorch_half_pixel")],
                                            opset=11, extra_consts={"roi": np.zeros(0, np.float32),
                                                                    "scales": np.array([1, 1, 2, 2], np.float32)}))
case("resize_nearest_round_prefer_ceil", conv_then(
    [node("Resize", ["c", "", "", "sizes"], nearest_mode="round_prefer_ceil")],
    extra_consts={"sizes": ints(1, 4, 9, 4)}))
case("softmax_opset11_axis0", conv_then([node("Softmax", ["c"], axis=0)], opset=11))
case("reduce_max_channels_drop", conv_then([node("ReduceMax", ["c"], axes=[1], keepdims=0)]))
case("reduce_sum_opset13_input", conv_then([node("ReduceSum", ["c", "axes"], keepdims=1)],
                                           extra_consts={"axes": ints(1, 3)}))
case("concat_with_constant", conv_then([node("Concat", ["c", "k"], axis=1)], extra_consts={"k": rand(1, 2, 6, 6)}))
case("resize_opset18_axes", conv_then([node("Resize", ["c", "", "", "sizes"], axes=[3, 2], mode="linear")],
                                      opset=18, extra_consts={"sizes": ints(9, 3)}))
case("split_equal_default", conv_then([node("Split", ["c"], ["s0", "s1"], axis=-1), node("Mul", ["s0", "s1"])]))
case("unsqueeze_opset11_negative_axes", conv_then([node("Flatten", ["c"], "f", axis=0),
                                                   node("Unsqueeze", ["f"], axes=[-1, 1])], opset=11))
case("flatten_last_axis", conv_then([node("Flatten", ["c"], axis=-1)]))
case("gather_scalar_index", conv_then([node("Gather", ["c", "idx"], axis=2)],
                                      extra_consts={"idx": ints(-2).reshape(())}))
case("gather_descending", make_model([node("Gather", ["x", "idx"], axis=1)], {"x": [2, 7]},
                                     {"idx": ints(5, 3, 1)}))
case("max_pool_same_lower", conv_then([node("MaxPool", ["c"], kernel_shape=[3, 2], strides=[2, 3],
                                           auto_pad="SAME_LOWER")], size=7))
case("avg_pool_opset19_dilations_1", conv_then([node("AveragePool", ["c"], kernel_shape=[2, 2], dilations=[1, 1])],
                                               opset=19))
case("prelu_scalar_slope", conv_then([node("PRelu", ["c", "slope"])],
                                     extra_consts={"slope": np.array([0.25], np.float32)}))
case("sum_single_input", conv_then([node("Sum", ["c"])]))
case("matmul_vectors", make_model([node("MatMul", ["a", "b"])], {"a": [5], "b": [5]}))
case("matmul_lhs_vector", make_model([node("MatMul", ["a", "b"])], {"a": [5], "b": [2, 5, 3]}))
case("folded_expand_where", conv_then([
    node("Shape", ["c"], "shp"), node("ConstantOfShape", ["shp"], "ones", value=numpy_helper.from_array(
        np.ones(1, np.float32))), node("Equal", ["shp", "shp"], "eq"), node("Where", ["eq", "shp", "shp"], "shp2"),
    node("Expand", ["half", "shp2"], "halves"), node("Mul", ["ones", "halves"], "k"), node("Mul", ["c", "k"])],
    extra_consts={"half": np.array([0.5], np.float32)}))
case("cast_to_float", conv_then([node("Cast", ["c"], to=TensorProto.FLOAT)]))
case("input_is_output", make_model([node("Identity", ["x"])], {"x": [2, 3]}))
case("identity_dropout", conv_then([node("Identity", ["c"], "i"), node("Dropout", ["i"], ["d", "mask"])]))
case("gather_slices", conv_then([node("Gather", ["c", "idx"], axis=1)], extra_consts={"idx": ints(3, 1)}))
case("constant_node_weights", make_model(
    [helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(rand(3, 2, 1, 1))),
     helper.make_node("Conv", ["x", "w"], ["y"])], {"x": [1, 2, 4, 4]}))
case("two_outputs_mixed_layouts", conv_then([node("Relu", ["c"], "r"), node("Flatten", ["r"], "f")],
                                            outputs=["c", "f"]))
case("batch_dimension_symbolic", make_model([node("Conv", ["x", "w"])], {"x": ["N", 2, 4, 4]},
                                            {"w": rand(3, 2, 3, 3)}))


def ops_of(module) -> Counter:
    return Counter(op.name for op in module.walk())


@pytest.mark.parametrize("name", CASES)
def test_imports_and_verifies(name):
    module = import_onnx(CASES[name])
    module.verify()
    assert "lite." in str(module) or name == "input_is_output"


@pytest.fixture(scope="module")
def executor_class():
    return pytest.importorskip("quantopt.backends.reference.executor").Executor


def onnxruntime_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def feeds_for(model: onnx.ModelProto, batch_size: int = 1) -> dict[str, np.ndarray]:
    feed_rng = np.random.default_rng(1)
    feeds = {}
    for info in model.graph.input:
        dims = [d.dim_value if d.HasField("dim_value") else batch_size for d in info.type.tensor_type.shape.dim]
        feeds[info.name] = feed_rng.standard_normal(dims).astype(np.float32)
    return feeds


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("name", CASES)
def test_matches_onnxruntime(name, executor_class):
    model = CASES[name]
    batch = 2 if name == "batch_dimension_symbolic" else 1
    feeds = feeds_for(model, batch)
    module = import_onnx(model, batch_size=batch)
    got = executor_class(module).run(list(feeds.values()))
    for g, w in zip(got, onnxruntime_outputs(model, feeds), strict=True):
        assert_close(np.asarray(g), w)


# -- layout: no gratuitous transposes ------------------------------------------------------------------------
@pytest.mark.parametrize("name, transposes", [
    ("conv", 2),  # in and out
    ("global_pools_flatten_gemm", 1),
    ("transpose_to_nhwc_is_free", 1),
    ("transpose_nhwc_input_to_conv", 1),  # only the output goes back to NCHW
    ("concat_channels", 2),
    ("split_channels", 2),
    ("slice_negative_steps", 2),
    ("softmax_channel_axis", 2),
    ("softmax_opset11_coerced", 2),
    ("reduce_mean_hw_drop", 1),
    ("squeeze_unsqueeze", 1),
    ("pad_reflect", 2),
    ("resize_linear_align_corners", 2),
    ("binary_with_channel_constants", 2),
])
def test_transpose_count(name, transposes):
    assert ops_of(import_onnx(CASES[name]))["lite.transpose"] == transposes


def test_channel_constants_are_permuted_at_import():
    ops = ops_of(import_onnx(CASES["binary_with_channel_constants"]))
    assert ops["lite.reshape"] == 0


def test_symbolic_batch_takes_batch_size():
    module = import_onnx(CASES["batch_dimension_symbolic"], batch_size=4)
    main = next(op for op in module.walk() if op.name == "func.func")
    assert main.function_type.inputs.data[0].get_shape() == (4, 2, 4, 4)
    assert main.function_type.outputs.data[0].get_shape() == (4, 3, 2, 2)


# -- errors --------------------------------------------------------------------------------------------------
def assert_fails(model: onnx.ModelProto, *fragments: str) -> None:
    with pytest.raises(QuantOptError) as info:
        import_onnx(model)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_unsupported_op_names_op_and_node():
    model = make_model([node("Relu", ["x"], "r"), node("Hardmax", ["r"])], {"x": [2, 3]})
    assert_fails(model, "unsupported ONNX op 'Hardmax'", "node 'hardmax_y'")


def test_unnamed_node_is_named_by_index():
    model = make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Det", ["r"], ["y"])], {"x": [2, 2]})
    assert_fails(model, "'Det'", "node 'Det_1'")


def test_op_newer_than_the_opset():
    model = make_model([node("HardSwish", ["x"])], {"x": [2]}, opset=13)
    assert_fails(model, "'HardSwish' does not exist in opset 13", "node 'hardswish_y'")


def test_foreign_domain_is_unsupported():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], domain="com.microsoft", name="r")], {"x": [2]})
    assert_fails(model, "unsupported ONNX op 'Relu'", "node 'r'")


def scales(*values: float) -> dict[str, np.ndarray]:
    return {"scales": np.array(values, np.float32)}


@pytest.mark.parametrize("op_type, model, detail", [
    ("MaxPool", conv_then([node("MaxPool", ["c"], kernel_shape=[2, 2], dilations=[2, 2])]), "dilations"),
    ("MaxPool", conv_then([node("MaxPool", ["c"], ["y", "idx"], kernel_shape=[2, 2])], outputs=["y", "idx"]),
     "Indices"),
    ("Resize", conv_then([node("Resize", ["c", "", "scales"], mode="cubic")], extra_consts=scales(1, 1, 2, 2)),
     "cubic"),
    ("Resize", conv_then([node("Resize", ["c", "", "scales"])], extra_consts=scales(1, 2, 2, 2)), "only H and W"),
    ("Resize", conv_then([node("Resize", ["c", "", "scales"])], extra_consts=scales(1, 1, 1.3, 1)), "whole size"),
    ("Pad", conv_then([node("Pad", ["c", "pads"], mode="wrap")], opset=19,
                      extra_consts={"pads": ints(0, 0, 1, 1, 0, 0, 1, 1)}), "wrap"),
    ("Conv", make_model([node("Conv", ["x", "w"])], {"x": [1, 2, 5]}, {"w": rand(3, 2, 3)}), "input shape"),
    ("Reshape", make_model([node("Reshape", ["x", "s"])], {"x": [2, 3], "s": [2]}), "constant"),
    ("Gather", make_model([node("Gather", ["x", "i"])], {"x": [4, 3]}, {"i": ints(0, 2, 3)}), "progression"),
])
def test_unsupported_attribute_or_input(op_type, model, detail):
    assert_fails(model, f"ONNX op '{op_type}'", f"node '{op_type.lower()}_y'", detail)


def test_dynamic_non_batch_dimension():
    assert_fails(make_model([node("Relu", ["x"])], {"x": [1, "C", 4]}), "dynamic dimension 1", "graph input 'x'")


def test_missing_file():
    with pytest.raises(QuantOptError, match="cannot read ONNX model"):
        import_onnx("/nonexistent/model.onnx")


# -- xDSL driver frontend ------------------------------------------------------------------------------------
def test_frontend_parses_bytes(tmp_path):
    path = tmp_path / "conv.onnx"
    onnx.save(CASES["conv"], str(path))
    with open(path, "rb") as f:
        module = OnnxFrontend().parse(None, f, str(path))
    module.verify()
    assert OnnxFrontend.name == "onnx"


# -- real models ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_mobilenet_v2_has_one_transpose():
    path = os.path.join(ZOO, "mobilenet_v2.onnx")
    if not os.path.exists(path):
        pytest.skip("zoo not available")
    ops = ops_of(import_onnx(path))
    assert ops["lite.transpose"] == 1
    assert ops["lite.conv2d"] == 52 and ops["lite.fully_connected"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("path", LIGHT_MODELS, ids=lambda p: os.path.basename(p)[len("light_"):-len(".onnx")])
def test_light_models_import(path):
    import_onnx(path).verify()
