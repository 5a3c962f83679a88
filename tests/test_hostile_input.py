"""Hostile and broken input: every reader fails with one `QuantOptError` naming the file, what is wrong and
where, and never allocates what a few bytes of a file ask for. Most cases are crashes the fuzzer found
(`tests/fuzz`), rebuilt here as small inputs; the others are the size limits it relies on."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from xdsl.utils.exceptions import ParseError

from quantopt import import_model
from quantopt.errors import QuantOptError
from quantopt.frontends.proto import mind_ir_pb2 as pb
from quantopt.tools import converter_lite, quant_bench, quant_opt

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tiny_cnn.onnx"


def error_of(path: Path) -> str:
    with pytest.raises(QuantOptError) as info:
        import_model(str(path))
    return info.value.message


# -- ONNX --------------------------------------------------------------------------------------------------


def onnx_file(tmp_path: Path, nodes, outputs, inits=(), opset: int = 13, x_shape=(1, 3, 4, 4)) -> Path:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              list(inits))
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString())
    return path


def ints(name: str, values, dims=None) -> TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)] if dims is None else dims, values)


def floats(name: str, values, dims=None) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [len(values)] if dims is None else dims, values)


def raw_floats(name: str, dims) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, dims, np.ones(dims, "<f4").tobytes(), raw=True)


ONNX_CASES = {
    "ConstantOfShape of a billion floats": (
        [helper.make_node("ConstantOfShape", ["shape"], ["y"])], [ints("shape", [1_000_000_000])],
        "ONNX op 'ConstantOfShape': ConstantOfShape result of shape [1000000000] would take 3.73 GiB, more than "
        "the 2 GiB a tensor may take (node 'ConstantOfShape_0')"),
    "Range of 2^40 numbers": (
        [helper.make_node("Range", ["start", "limit", "delta"], ["y"])],
        [ints("start", [0], []), ints("limit", [1 << 40], []), ints("delta", [1], [])],
        "ONNX op 'Range': Range result has dimension 1099511627776 in shape [1099511627776], outside "
        "[0, 2147483647] (node 'Range_0')"),
    "Range with step 0": (
        [helper.make_node("Range", ["start", "limit", "delta"], ["y"])],
        [ints("start", [0], []), ints("limit", [5], []), ints("delta", [0], [])],
        "ONNX op 'Range': cannot count from 0 to 5 in steps of 0 (node 'Range_0')"),
    "Expand of a scalar to 2^40 elements": (
        [helper.make_node("Expand", ["one", "shape"], ["y"])], [floats("one", [1.0], []), ints("shape", [1 << 20] * 2)],
        "ONNX op 'Expand': Expand target of shape [1048576, 1048576] would take 4 TiB, more than the 2 GiB a "
        "tensor may take (node 'Expand_0')"),
    "broadcast of a column and a row to 2^32 elements": (
        [helper.make_node("Add", ["col", "row"], ["y"])],
        [raw_floats("col", [65536, 1]), raw_floats("row", [1, 65536])],
        "ONNX op 'Add': folded result of shape [65536, 65536] would take 16 GiB, more than the 2 GiB a tensor may "
        "take (node 'Add_0')"),
    "Gather with an index out of range": (
        [helper.make_node("Gather", ["data", "idx"], ["y"])], [floats("data", [1.0, 2.0]), ints("idx", [1_000_000_000])],
        "ONNX op 'Gather': indices out of range for dimension 2 (node 'Gather_0')"),
    "Gather from a scalar": (
        [helper.make_node("Gather", ["data", "idx"], ["y"])], [floats("data", [1.0], []), ints("idx", [0])],
        "ONNX op 'Gather': cannot gather from a scalar (node 'Gather_0')"),
    "Cast to an undefined type": (
        [helper.make_node("Cast", ["c"], ["y"], to=29)], [ints("c", [1, 2])],
        "ONNX op 'Cast': unsupported cast from int64 to type 29 (node 'Cast_0')"),
    "Reshape copying a dimension the input lacks": (
        [helper.make_node("Reshape", ["x", "shape"], ["y"])], [ints("shape", [1, 48, 0, 0, 0])],
        "ONNX op 'Reshape': target shape [1, 48, 0, 0, 0] copies a dimension the input [1, 3, 4, 4] does not "
        "have (node 'Reshape_0')"),
    "Resize sizes given as a scalar": (
        [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"])], [ints("sizes", [8], [])],
        "ONNX op 'Resize': only H and W may be resized, got [1, 3, 4, 4] -> [8, 3, 4, 4] (node 'Resize_0')"),
    "Concat without its axis": (
        [helper.make_node("Concat", ["x", "x"], ["y"])], [],
        "ONNX op 'Concat': missing required attribute 'axis' (node 'Concat_0')"),
    "Gemm alpha given as a list": (
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"], alpha=[1.0, 2.0])],
        [floats("w", [0.0] * 48 * 2, [48, 2])],
        "ONNX op 'Gemm': attribute 'alpha' has type FLOATS, expected FLOAT (node 'Gemm_1')"),
    "Slice starts as an attribute in opset 13": (
        [helper.make_node("Slice", ["x", "s", "e"], ["y"], starts=[0])], [ints("s", [0]), ints("e", [1])],
        "ONNX op 'Slice': attribute 'starts' does not exist in opset 13 (node 'Slice_0')"),
    "BatchNormalization with one input": (
        [helper.make_node("BatchNormalization", ["x"], ["y"])], [],
        "ONNX op 'BatchNormalization': has 1 inputs, expected 5 (node 'BatchNormalization_0')"),
    "LRN without its size": (
        [helper.make_node("LRN", ["x"], ["y"])], [],
        "ONNX op 'LRN': missing required attribute 'size' (node 'LRN_0')"),
    "Clip with an empty min": (
        [helper.make_node("Clip", ["x", "lo"], ["y"])], [floats("lo", [])],
        "ONNX op 'Clip': Clip min must hold one value, got shape [0] (node 'Clip_0')"),
    "Squeeze of a scalar": (
        [helper.make_node("Squeeze", ["c", "axes"], ["y"])], [floats("c", [1.0], []), ints("axes", [0])],
        "ONNX op 'Squeeze': axes 0 out of range for rank 0 (node 'Squeeze_0')"),
    "Split into zero parts": (
        [helper.make_node("Split", ["x"], ["a", "y"], axis=1, num_outputs=0)], [],
        "ONNX op 'Split': num_outputs=0 for 2 outputs (node 'Split_0')", 18),
    "Split into 2^40 parts": (
        [helper.make_node("Split", ["x"], ["a", "y"], axis=1, num_outputs=1 << 40)], [],
        "ONNX op 'Split': num_outputs=1099511627776 for 2 outputs (node 'Split_0')", 18),
    "Concat of scalars": (
        [helper.make_node("Concat", ["c", "c"], ["y"], axis=0)], [floats("c", [1.0], [])],
        "ONNX op 'Concat': axis 0 out of range for rank 0 (node 'Concat_0')"),
    "Slice of a scalar (found by the long run)": (
        [helper.make_node("Slice", ["c", "s", "e"], ["y"])], [floats("c", [1.0], []), ints("s", [0]), ints("e", [1])],
        "ONNX op 'Slice': slice axes [0] out of range for rank 0 (node 'Slice_0')"),
    "MaxPool with stride 0": (
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[0, 1])], [],
        "ONNX op 'MaxPool': kernel_shape [2, 2], strides [0, 1] and dilations [1, 1] must be positive "
        "(node 'MaxPool_0')"),
    "MatMul of a scalar": (
        [helper.make_node("MatMul", ["x", "s"], ["y"])], [floats("s", [2.0], [])],
        "ONNX op 'MatMul': cannot multiply shapes [1, 3, 4, 4] and []: one is a scalar (node 'MatMul_0')"),
    "a node reading a tensor defined after it (a cycle)": (
        [helper.make_node("Relu", ["b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
         helper.make_node("Relu", ["b"], ["y"])], [],
        "ONNX op 'Relu': tensor 'b' is not defined before its use (node 'Relu_0')"),
    "an undefined tensor": (
        [helper.make_node("Relu", ["nowhere"], ["y"])], [],
        "ONNX op 'Relu': tensor 'nowhere' is not defined before its use (node 'Relu_0')"),
    "an initializer without data": (
        [helper.make_node("Add", ["x", "w"], ["y"])], [TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20])],
        "cannot read initializer: holds 0 values, its shape [1048576] needs 1048576 (initializer 'w')"),
    "an initializer of 2^40 elements": (
        [helper.make_node("Add", ["x", "w"], ["y"])], [TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 40])],
        "cannot read initializer: tensor has dimension 1099511627776 in shape [1099511627776], outside "
        "[0, 2147483647] (initializer 'w')"),
    "a Pad whose result would be 2^36 floats": (
        [helper.make_node("Pad", ["x", "pads"], ["y"])], [ints("pads", [0, 0, 1 << 16, 1 << 16, 0, 0, 0, 0])],
        "result of 'lite.pad' 'y': tensor of shape [1, 3, 65540, 65540] would take 48 GiB, more than the 2 GiB a "
        "tensor may take"),
}


@pytest.mark.parametrize("case", ONNX_CASES, ids=list(ONNX_CASES))
def test_onnx_node_errors(tmp_path, case):
    nodes, inits, message, *opset = ONNX_CASES[case]
    path = onnx_file(tmp_path, nodes, ["y"], inits, *opset)
    assert error_of(path) == f"error: {path}: {message}"


def test_onnx_range_whose_length_overflows_int32(tmp_path):
    # numpy's arange computes this length in int32 and asked for 2^31 elements; the range is empty
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["r"]), helper.make_node("Cast", ["r"], ["y"], to=1)]
    inits = [helper.make_tensor(n, TensorProto.INT32, [], [v]) for n, v in (("start", -2**31), ("limit", 1),
                                                                              ("delta", -1))]
    module = import_model(str(onnx_file(tmp_path, nodes, ["y"], inits)))
    assert "-> tensor<0xf32>" in str(module)


def test_onnx_graph_input_too_large(tmp_path):
    path = onnx_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], ["y"], x_shape=(1, 1 << 20, 1 << 20))
    assert error_of(path) == (f"error: {path}: input of shape [1, 1048576, 1048576] would take 4 TiB, more "
                              "than the 2 GiB a tensor may take (graph input 'x')")


def test_onnx_string_that_is_not_utf8(tmp_path):
    path = onnx_file(tmp_path, [helper.make_node("Relu", ["x"], ["y"], name="relu")], ["y"])
    path.write_bytes(path.read_bytes().replace(b"relu", b"r\xffl\xfe"))
    assert error_of(path) == f"error: {path}: corrupt ONNX model: a string is not UTF-8 text (graph.node[0].name)"


def test_onnx_string_attribute_that_is_not_utf8(tmp_path):
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode="edge")
    path = onnx_file(tmp_path, [node], ["y"], [ints("pads", [0] * 8)])
    path.write_bytes(path.read_bytes().replace(b"edge", b"ed\xff\xfe"))
    assert error_of(path) == f"error: {path}: ONNX op 'Pad': unsupported mode='ed\ufffd\ufffd' (node 'Pad_0')"


# -- MindIR ------------------------------------------------------------------------------------------------


def mindir_file(tmp_path: Path, nodes, parameters=(), outputs=("y",), x_shape=(1, 1, 2, 2)) -> Path:
    """A graph in the 1.x encoding: op types named directly, attributes on the nodes."""
    graph = pb.GraphProto(name="g", node=list(nodes), parameter=list(parameters),
                          output=[pb.ValueInfoProto(name=o) for o in outputs])
    graph.input.add(name="x").tensor.add(dims=list(x_shape), data_type=pb.TensorProto.FLOAT)
    path = tmp_path / "m.mindir"
    path.write_bytes(pb.ModelProto(ir_version="0.1.0", graph=graph).SerializeToString())
    return path


def mindir_node(op_type: str, inputs, name: str = "n", output: str = "y", **attrs) -> pb.NodeProto:
    node = pb.NodeProto(op_type=op_type, input=list(inputs), output=[output], name=name)
    for key, value in attrs.items():
        a = node.attribute.add(name=key)
        if isinstance(value, int):
            a.type, a.i = pb.AttributeProto.INT64, value
        else:
            a.type = pb.AttributeProto.TUPLE
            for v in value:
                a.values.add(type=pb.AttributeProto.INT64, i=v)
    return node


def mindir_constant(name: str, kind: int) -> pb.NodeProto:
    node = pb.NodeProto(op_type="Constant", output=[name], name=name)
    node.attribute.add(name="value", type=kind)
    return node


def mindir_parameter(name: str, dims, data: bytes = b"", **external) -> pb.TensorProto:
    tensor = pb.TensorProto(name=name, dims=list(dims), data_type=pb.TensorProto.FLOAT, raw_data=data)
    if external:
        tensor.ClearField("raw_data")
        tensor.external_data.CopyFrom(pb.TensorProto.ExternalDataProto(**external))
    return tensor


MINDIR_CASES = {
    "external data in /dev/zero": (
        [mindir_node("Add", ["x", "w"])], [mindir_parameter("w", [1 << 28], location="/dev/zero", length=1 << 30)],
        "cannot read parameter: external data '/dev/zero' of tensor 'w' is not a file in the model's directory "
        "(parameter 'w')"),
    "external data longer than its shape": (
        [mindir_node("Add", ["x", "w"])], [mindir_parameter("w", [4], location="w.bin", length=1 << 40)],
        "cannot read parameter: external data 'w.bin' of tensor 'w': 1099511627776 bytes at offset 0 do not hold "
        "the 16 bytes of its shape, or lie outside the file (parameter 'w')"),
    "a parameter whose element count overflows int64": (
        [mindir_node("Add", ["x", "w"])], [mindir_parameter("w", [1 << 62, 4])],
        "cannot read parameter: tensor 'w' has dimension 4611686018427387904 in shape [4611686018427387904, 4], "
        "outside [0, 2147483647] (parameter 'w')"),
    "a monad as the shape of a Reshape": (
        [mindir_constant("u", pb.AttributeProto.UMONAD), mindir_node("Reshape", ["x", "u"])], [],
        "MindIR op 'Reshape': argument 'shape' must be a constant (node 'n')"),
    "None as the start of a Flatten": (
        [mindir_constant("none", pb.AttributeProto.NONE), mindir_node("Flatten", ["x", "none"])], [],
        "MindIR op 'Flatten': int() argument must be a string, a bytes-like object or a real number, not "
        "'NoneType' (node 'n')"),
    "BiasAdd of a vector": (
        [mindir_node("Flatten", ["x"], "f", "v", start_dim=0), mindir_node("BiasAdd", ["v", "w"])],
        [mindir_parameter("w", [4], np.zeros(4, "<f4").tobytes())],
        "MindIR op 'BiasAdd': input of shape [4] has no channel dimension (node 'n')"),
    "MatMul of a vector": (
        [mindir_node("Flatten", ["x"], "f", "v", start_dim=0), mindir_node("MatMul", ["v", "w"])],
        [mindir_parameter("w", [4, 2], np.zeros(8, "<f4").tobytes())],
        "MindIR op 'MatMul': the input of shape [4] is not a matrix or a batch of them (node 'n')"),
    "MaxPool with stride 0": (
        [mindir_node("MaxPool", ["x"], kernel_size=(1, 1, 2, 2), strides=(1, 1, 0, 1))], [],
        "MindIR op 'MaxPool': unsupported strides (1, 1, 0, 1) (node 'n')"),
    "a node reading an output defined after it": (
        [mindir_node("ReLU", ["b"], "first", "a"), mindir_node("ReLU", ["a"], "second", "b"),
         mindir_node("ReLU", ["b"])], [],
        "MindIR op 'ReLU': input 'b' is not defined before its use (node 'first')"),
}


@pytest.mark.parametrize("case", MINDIR_CASES, ids=list(MINDIR_CASES))
def test_mindir_errors(tmp_path, case):
    nodes, parameters, message = MINDIR_CASES[case]
    (tmp_path / "w.bin").write_bytes(bytes(16))
    path = mindir_file(tmp_path, nodes, parameters)
    assert error_of(path) == f"error: {path}: {message}"


def test_mindir_deeply_nested_constant_output(tmp_path):
    constant = pb.NodeProto(op_type="Constant", output=["y"], name="c")
    value = constant.attribute.add(name="value", type=pb.AttributeProto.TUPLE)
    for _ in range(80):
        value = value.values.add(type=pb.AttributeProto.TUPLE)
    value.values.add(type=pb.AttributeProto.INT64, i=1)
    path = mindir_file(tmp_path, [constant])
    assert error_of(path) == (f"error: {path}: the operand is not a numeric tensor: " + "(" * 60
                              + " (graph output 'y')")


def test_mindir_reference_that_is_not_utf8(tmp_path):
    node = mindir_node("ReLU", ["x"])
    node.attribute.add(name="shape", ref_attr_name="shape:zz")
    path = mindir_file(tmp_path, [node])
    path.write_bytes(path.read_bytes().replace(b"shape:zz", b"shape:\xff\xfe"))
    assert error_of(path) == (f"error: {path}: corrupt MindIR model: a string is not UTF-8 text "
                              "(graph.node[0].attribute[0].ref_attr_name)")


# -- textual IR --------------------------------------------------------------------------------------------


class TimeLimit:
    """Fail (instead of hanging the suite) if the block takes longer than `seconds`."""

    def __init__(self, seconds: int):
        self.seconds = seconds

    def __enter__(self):
        def expire(signum, frame):
            raise TimeoutError(f"took longer than {self.seconds} s")

        self.previous = signal.signal(signal.SIGALRM, expire)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


def mlir_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "m.mlir"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


MLIR_CASES = {
    "a number too large for a float": (
        "%0 = arith.constant 1" + "0" * 400 + " : f32",
        "cannot parse IR: a number is out of range (int too large to convert to float)"),
    "a quantization scale too large for a float": (
        "func.func @f(%a: tensor<2x!quant.uniform<i8:f32, 1" + "0" * 400 + ">>) {\n  func.return\n}",
        "cannot parse IR: a number is out of range (int too large to convert to float)"),
    "types nested too deeply": (
        "func.func @f(%a: " + "tensor<" * 5000 + ") {\n  func.return\n}",
        "cannot parse IR: nested too deeply"),
    "a hex constant two bytes too long": (
        '%0 = arith.constant dense<"0x0000803F0000"> : tensor<1xf32>',
        "dense constant holds 6 bytes, its type tensor<1xf32> needs 4 (op 'arith.constant')"),
    "a hex constant one byte too long, used where the verifier complains (its message prints the IR)": (
        '%0 = arith.constant dense<"0x0000803F00"> : tensor<1xf32>\n'
        "func.func @main() -> tensor<1xf32> {\n  func.return %0 : tensor<1xf32>\n}",
        "dense constant holds 5 bytes, its type tensor<1xf32> needs 4 (op 'arith.constant')"),
    "a splat of a billion floats": (
        "%0 = arith.constant dense<1.0> : tensor<1000000000xf32>",
        "tensor<1000000000xf32...> would take 3.73 GiB, more than the 2 GiB a tensor may take (line 1)"),
    "a function argument of 2^40 floats": (
        "func.func @main(%a: tensor<1099511627776xf32>) -> tensor<1099511627776xf32> {\n"
        "  func.return %a : tensor<1099511627776xf32>\n}",
        "tensor<1099511627776xf32...> would take 4 TiB, more than the 2 GiB a tensor may take (line 1)"),
    "a tensor type of 10^30 elements": (
        "%0 = arith.constant dense<1.0> : tensor<1" + "0" * 30 + "xf32>",
        "tensor<1" + "0" * 30 + "xf32...> would take 2^101 bytes, more than the 2 GiB a tensor may take (line 1)"),
    "an integer type of 2^63 bits": (
        "%0 = arith.constant 1 : i9223372036854775807",
        "integer type i9223372036854775807 is wider than 64 bits (line 1)"),
    "a complex literal with three parts (an assert in xDSL's parser)": (
        "%0 = arith.constant dense<(1.0, 2.0, 3.0)> : tensor<1xcomplex<f32>>",
        "cannot parse IR: Unexpected token Token(kind=<MLIRTokenKind.COMMA: ','>, span=Span[35:36](',')), "
        "expected MLIRTokenKind.R_PAREN"),
}


@pytest.mark.parametrize("case", MLIR_CASES, ids=list(MLIR_CASES))
def test_textual_ir_errors(tmp_path, case):
    text, message = MLIR_CASES[case]
    path = mlir_file(tmp_path, text)
    assert error_of(path) == f"error: {path}: {message}"


def test_textual_ir_that_is_not_utf8(tmp_path):
    path = mlir_file(tmp_path, b'%0 = "test.op"() {a = "\xff"} : () -> ()')
    assert error_of(path) == f"error: {path}: not UTF-8 text (byte 23)"


def test_unterminated_string_fails_in_linear_time(tmp_path):
    # xDSL's own pattern backtracks exponentially here: 40 characters already take minutes
    path = mlir_file(tmp_path, '%0 = arith.constant dense<"0x' + "AB" * 20_000 + "> : tensor<1xf32>\n")
    with TimeLimit(20), pytest.raises(ParseError, match="End of file reached before closing string literal"):
        import_model(str(path))


# -- quant-bench inputs, TFLite sparsity, .ms ---------------------------------------------------------------


def test_benchmark_data_that_is_not_text(tmp_path):
    path = tmp_path / "ref.out"
    path.write_bytes(b"logits 2 1 10\n\xff\xfe\n")
    with pytest.raises(QuantOptError) as info:
        quant_bench.read_benchmark_data(str(path))
    assert info.value.message == f"error: {path}: not a text file (byte 14 is not UTF-8)"


def test_benchmark_data_with_fewer_dimensions_than_its_rank(tmp_path):
    path = tmp_path / "ref.out"
    path.write_text("logits 3 1 10\n" + " ".join(["0.5"] * 10) + "\n")
    with pytest.raises(QuantOptError) as info:
        quant_bench.read_benchmark_data(str(path))
    assert info.value.message == f"error: {path}: malformed shape: rank 3, dimensions [1, 10] (line 1)"


def test_sparse_tensor_too_large_to_densify():
    from quantopt.frontends.tflite_model import DimensionMetadata, Sparsity
    from quantopt.frontends.tflite_sparsity import densify
    from quantopt.limits import LimitError

    dims = (DimensionMetadata(True, 1 << 20, None, None), DimensionMetadata(True, 1 << 20, None, None))
    with pytest.raises(LimitError, match=r"densified tensor of shape \[1048576, 1048576\] would take 4 TiB"):
        densify(np.zeros(4, np.float32), Sparsity((0, 1), (), dims), (1 << 20, 1 << 20))


def test_sparsity_walk_longer_than_the_dense_tensor():
    from quantopt.frontends.tflite_model import ConversionError, DimensionMetadata, Sparsity
    from quantopt.frontends.tflite_sparsity import densify

    rows = DimensionMetadata(True, 2, None, None)
    columns = DimensionMetadata(False, 0, np.array([0, 1000, 1000]), np.zeros(1000, np.int32))
    with pytest.raises(ConversionError, match="sparsity levels visit more than the 6 elements of the dense shape"):
        densify(np.zeros(1000, np.float32), Sparsity((0, 1), (), (rows, columns)), (2, 3))


def test_tflite_pooling_window_of_a_billion_rows(tmp_path):
    # SAME padding makes any window consistent; the executor would visit each of its rows
    sys.path.insert(0, str(Path(__file__).parent))
    from test_tflite_frontend import Builtin, Padding, build, single_op

    options = dict(padding=Padding.SAME, stride_w=1, stride_h=1, filter_width=1, filter_height=10**9)
    path = tmp_path / "m.tflite"
    path.write_bytes(build(single_op(Builtin.MAX_POOL_2D, [(1, 8, 8, 1)], [(1, 8, 8, 1)], ("Pool2DOptions", options))))
    assert error_of(path) == (f"error: {path}: 'lite.max_pool' window [1000000000, 1] is larger than its input [8, 8] "
                              "and than 65536")


def test_ms_graph_input_too_large(tmp_path):
    from quantopt.backends.ms.flatbuf import dump_graph
    from quantopt.backends.ms.graph import MsGraph, MsNode, MsSubGraph, MsTensor

    tensors = [MsTensor("x", node_type=0, data_type=43, dims=[1, 1 << 20, 1 << 20, 3], format=0),
               MsTensor("y", node_type=0, data_type=43, dims=[], format=0)]
    relu = MsNode("relu", "Activation", {"activation_type": 1}, inputs=[0], outputs=[1])
    graph = MsGraph("g", "5.0", 2, [0], [1], [relu], tensors, [MsSubGraph("g", [0], [1], [0], [0, 1])])
    path = tmp_path / "m.ms"
    path.write_bytes(dump_graph(graph))
    assert error_of(path) == (f"error: {path}: argument 0 of 'func.func': tensor of shape [1, 1048576, 1048576, 3] "
                              "would take 12 TiB, more than the 2 GiB a tensor may take")


# -- the tools ---------------------------------------------------------------------------------------------


def test_quant_opt_errors_are_one_line_and_leave_no_output(tmp_path, capsys):
    bad = mlir_file(tmp_path, '%0 = arith.constant dense<"0x0000803F0000"> : tensor<1xf32>')
    (tmp_path / "notes.txt").write_text("x")
    out = tmp_path / "out.mlir"
    for args, message in (
        ([str(tmp_path / "notes.txt")], f"error: {tmp_path / 'notes.txt'}: unsupported input format '.txt' "
                                        "(expected .mindir, .mlir, .onnx, .tflite)"),
        ([str(bad), "-o", str(out), "-p", "weight-quant"],
         f"error: {bad}: dense constant holds 6 bytes, its type tensor<1xf32> needs 4 (op 'arith.constant')"),
        ([str(EXAMPLE), "-p", "weight-quant{bits=99}"],
         "error: bad pass pipeline: weight-quant: bits must be in [1, 16], got 99"),
        ([str(EXAMPLE), "-p", "no-such-pass"], "error: bad pass pipeline: Unrecognized passes: ['no-such-pass']"),
    ):
        assert quant_opt.main(args) == 1
        assert capsys.readouterr().err.strip() == message
    assert sorted(os.listdir(tmp_path)) == ["m.mlir", "notes.txt"]
    assert quant_opt.main([str(EXAMPLE), "-o", str(out)]) == 0
    assert out.read_text().startswith("builtin.module {")
    assert sorted(os.listdir(tmp_path)) == ["m.mlir", "notes.txt", "out.mlir"]


def interrupt_each_line(tmp_path: Path, traced) -> None:
    """Convert tiny_cnn once per line of the `traced` functions, raising KeyboardInterrupt before that line;
    afterwards no temporary file may remain, and an output only if it is complete."""
    from quantopt.tools.flags import parse_flags

    codes = {function.__code__ for function in traced}
    outputs = []
    for line in range(1, 1000):
        out_dir = tmp_path / str(line)
        count = 0

        def each_line(frame, event, arg):
            nonlocal count
            if event == "line":
                count += 1
                if count == line:
                    raise KeyboardInterrupt
            return each_line

        sys.settrace(lambda frame, event, arg: each_line(frame, event, arg) if frame.f_code in codes else None)
        try:
            flags = ["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={out_dir / 'm'}"]
            converter_lite.convert(parse_flags(flags, converter_lite.FLAGS, "converter_lite"), log=lambda m: None)
            break
        except KeyboardInterrupt:
            files = sorted(os.listdir(out_dir)) if out_dir.exists() else []
            assert files in ([], ["m.ms"]), f"interrupted before traced line {line}: {files}"
            outputs += [out_dir / "m.ms"] if files else []
        finally:
            sys.settrace(None)
    complete = (out_dir / "m.ms").read_bytes()
    assert line > 3 and all(path.read_bytes() == complete for path in outputs)


def test_converter_lite_interrupted_at_any_line_leaves_no_partial_output(tmp_path):
    from quantopt.backends.ms import writer

    interrupt_each_line(tmp_path, [converter_lite.convert, writer.write_ms])


def test_atomic_write_interrupted_at_any_line_leaves_no_temporary_file(tmp_path):
    from quantopt.backends.ms import writer

    interrupt_each_line(tmp_path, [writer._write_atomically])


@pytest.mark.parametrize("failing", ["os.fdopen", "os.replace"])
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_converter_lite_write_interrupted_leaves_nothing(tmp_path, monkeypatch, capsys, failing, error):
    """An interrupt or an internal error while the output is written: exit status 130 or 2, no files."""

    def fail(*args, **kwargs):
        raise error("while writing")

    module, name = failing.split(".")
    monkeypatch.setattr(f"quantopt.backends.ms.writer.{module}.{name}", fail)
    args = ["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'm'}"]
    assert converter_lite.main(args) == (130 if error is KeyboardInterrupt else 2)
    err = capsys.readouterr().err.strip()
    assert err == ("error: interrupted" if error is KeyboardInterrupt else
                   "internal error: RuntimeError: while writing (please report this with the input that caused it)")
    assert os.listdir(tmp_path) == []
