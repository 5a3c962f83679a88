"""Seed inputs: real models of ../shared/zoo (when it sits beside the repository), the bundled example and
small inputs built here, so every reader sees its features (shape arithmetic in ONNX, sparse and int8
TFLite, bit-packed `.ms` weights, quantized types in textual IR, both config spellings).

Everything here is deterministic: a case is rebuilt from (format, seed, index) in any process.
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO.parent / "shared" / "zoo"
TINY_CNN = REPO / "examples" / "tiny_cnn.onnx"

CALIBRATION_SHAPE = (1, 1, 4, 4)
"""The model input the fuzzed calibration configs describe (each `.bin` of the scratch dirs holds one)."""


@dataclass(frozen=True)
class Seed:
    name: str
    suffix: str
    weight: float
    load: Callable[[], bytes]
    big: bool = False

    @functools.cached_property
    def data(self) -> bytes:
        return self.load()


def _file(path: Path) -> bytes:
    return path.read_bytes()


def _zoo_seed(relative: str, weight: float, big: bool = False) -> list[Seed]:
    path = ZOO / relative
    if not path.is_file():
        return []
    return [Seed(path.name, path.suffix, weight, functools.partial(_file, path), big)]


# -- ONNX --------------------------------------------------------------------------------------------------


def shape_arithmetic_onnx() -> bytes:
    """What exporters write around reshapes and pads: Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
    ConstantOfShape, Range, Expand, Slice, Split, Pad, Resize, Transpose, Softmax."""
    from onnx import TensorProto, helper

    def ints(name, values):
        return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)

    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("ConstantOfShape", ["cshape"], ["ones"], value=helper.make_tensor("v", TensorProto.FLOAT,
                                                                                            [1], [1.0])),
        helper.make_node("Range", ["r_start", "r_limit", "r_delta"], ["range"]),
        helper.make_node("Cast", ["range"], ["range_f"], to=TensorProto.FLOAT),
        helper.make_node("Expand", ["range_f", "eshape"], ["expanded"]),
        helper.make_node("Add", ["flat", "expanded"], ["sum"]),
        helper.make_node("Mul", ["sum", "ones"], ["scaled"]),
        helper.make_node("Slice", ["x", "starts", "ends", "axes23", "steps"], ["sliced"]),
        helper.make_node("Pad", ["sliced", "pads"], ["padded"], mode="reflect"),
        helper.make_node("Resize", ["padded", "", "scales"], ["resized"], mode="nearest"),
        helper.make_node("Split", ["resized", "split"], ["s0", "s1"], axis=1),
        helper.make_node("Transpose", ["s0"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Softmax", ["t"], ["soft"], axis=-1),
        helper.make_node("ReduceMean", ["s1"], ["mean"], axes=[2, 3], keepdims=1),
    ]
    inits = [
        helper.make_tensor("zero", TensorProto.INT64, [], [0]), ints("axes0", [0]), ints("minus_one", [-1]),
        ints("cshape", [1, 48]), helper.make_tensor("r_start", TensorProto.INT64, [], [0]),
        helper.make_tensor("r_limit", TensorProto.INT64, [], [48]),
        helper.make_tensor("r_delta", TensorProto.INT64, [], [1]), ints("eshape", [1, 48]),
        ints("starts", [1, 0]), ints("ends", [4, 4]), ints("axes23", [2, 3]), ints("steps", [1, 2]),
        ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0]), ints("split", [1, 2]),
    ]
    graph = helper.make_graph(
        nodes, "shape_arithmetic", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("scaled", "soft", "mean")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString()


# -- TFLite ------------------------------------------------------------------------------------------------


def _tflite_builder():
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import test_tflite_frontend

    return test_tflite_frontend


def int8_tflite() -> bytes:
    tf = _tflite_builder()
    saved, tf.RNG = tf.RNG, np.random.default_rng(7)
    try:
        return tf.build(tf.int8_conv_model()[0])
    finally:
        tf.RNG = saved


def sparse_tflite() -> bytes:
    tf = _tflite_builder()
    saved, tf.RNG = tf.RNG, np.random.default_rng(7)
    try:
        return tf.build(tf.sparse_fully_connected_model()[0])
    finally:
        tf.RNG = saved


def tensor_ops_tflite() -> bytes:
    """RESHAPE, STRIDED_SLICE, PAD, TRANSPOSE, CONCATENATION, SPLIT_V and MEAN with constant parameters."""
    tf = _tflite_builder()
    Builtin, T, Op = tf.Builtin, tf.T, tf.Op
    i32 = lambda *v: np.array(v, np.int32)  # noqa: E731
    tensors = [T((1, 4, 4, 2), name="x"), T((4,), tf.TensorType.INT32, i32(1, 8, 4, 1)), T((1, 8, 4, 1), name="r"),
               T((4,), tf.TensorType.INT32, i32(0, 1, 0, 0)), T((4,), tf.TensorType.INT32, i32(1, 7, 4, 1)),
               T((4,), tf.TensorType.INT32, i32(1, 2, 1, 1)), T((1, 3, 4, 1), name="s"),
               T((4, 2), tf.TensorType.INT32, i32(0, 0, 1, 1, 2, 2, 0, 0).reshape(4, 2)), T((1, 5, 8, 1), name="p"),
               T((4,), tf.TensorType.INT32, i32(0, 2, 1, 3)), T((1, 8, 5, 1), name="t"),
               T((1, 8, 5, 2), name="c"), T((2,), tf.TensorType.INT32, i32(3, 2)),
               T((1,), tf.TensorType.INT32, i32(2)), T((1, 8, 3, 2), name="a"), T((1, 8, 2, 2), name="b"),
               T((2,), tf.TensorType.INT32, i32(1, 2)), T((1, 1, 1, 2), name="m")]
    ops = [Op(Builtin.RESHAPE, [0, 1], [2]), Op(Builtin.STRIDED_SLICE, [2, 3, 4, 5], [6], (
               "StridedSliceOptions", dict(begin_mask=0, end_mask=0, shrink_axis_mask=0))),
           Op(Builtin.PAD, [6, 7], [8]), Op(Builtin.TRANSPOSE, [8, 9], [10]),
           Op(Builtin.CONCATENATION, [10, 10], [11], ("ConcatenationOptions", dict(axis=3))),
           Op(Builtin.SPLIT_V, [11, 12, 13], [14, 15], ("SplitVOptions", dict(num_splits=2))),
           Op(Builtin.MEAN, [15, 16], [17], ("ReducerOptions", dict(keep_dims=True)))]
    return tf.build(tf.Graph(tensors, ops, [0], [14, 17]))


# -- .ms ---------------------------------------------------------------------------------------------------


def weight_quantized_ms(bits: int) -> bytes:
    """tiny_cnn converted with `bits`-bit per-channel weights (bit-packed unless 8 or 16)."""
    from quantopt.api import import_model
    from quantopt.backends.ms.writer import encode_ms
    from quantopt.passes.weight_quant import WeightQuantPass, quantize_weights

    module = import_model(str(TINY_CNN))
    quantize_weights(module, WeightQuantPass(bits=bits, min_size=0, min_channel=0, min_channel_elements=1))
    return encode_ms(module, fmk_type=2, file="seed.ms")


# -- textual IR --------------------------------------------------------------------------------------------


def printed_ir(bits: int | None, generic: bool = False) -> bytes:
    """tiny_cnn printed as quant-opt prints it, float or with `bits`-bit quantized weights."""
    import io

    from xdsl.printer import Printer

    from quantopt.api import import_model
    from quantopt.passes.weight_quant import WeightQuantPass, quantize_weights

    module = import_model(str(TINY_CNN))
    if bits is not None:
        quantize_weights(module, WeightQuantPass(bits=bits, min_size=0, min_channel=0, min_channel_elements=1))
    out = io.StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    return out.getvalue().encode()


# -- calibration configs and input files -------------------------------------------------------------------

CONFIGS = {
    "r13.cfg": "image_path=calib\nbatch_count=2\nmethod_x=KL\nthread_num=1\nbias_correction=false\n",
    "ini.cfg": ("# full quantization\n[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=8\n"
                "min_quant_weight_size=0\nmin_quant_weight_channel=16\n\n[data_preprocess_param]\n"
                "calibrate_path=x:calib\ncalibrate_size=2\ninput_type=BIN\n\n[full_quant_param]\n"
                "activation_quant_method=MAX_MIN\nbias_correction=true\nper_channel=true\n"),
    "two_dirs.cfg": "image_path=calib,calib_short\nbatch_count=100\nmethod_x=RemovalOutlier\n",
}


def calibration_sample(seed: int) -> bytes:
    return np.random.default_rng(seed).standard_normal(CALIBRATION_SHAPE).astype("<f4").tobytes()


def prepare_calibration_dirs(scratch: Path) -> None:
    """The directories the seed configs name, next to where the fuzzed config is written."""
    for name, count, size in (("calib", 3, None), ("calib_short", 2, 10)):
        directory = scratch / name
        directory.mkdir(exist_ok=True)
        for k in range(count):
            data = calibration_sample(k)
            (directory / f"{k:04d}.bin").write_bytes(data if size is None else data[:size])


def tiny_cnn_input() -> bytes:
    return np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype("<f4").tobytes()


def benchmark_reference() -> bytes:
    """A quant-bench reference file: per output a line `name rank dims...`, then its values."""
    values = " ".join(f"{v:.6g}" for v in random.Random(3).choices(range(-50, 50), k=10))
    return f"logits 2 1 10\n{values}\n".encode()


def all_seeds() -> dict[str, list[Seed]]:
    """Seeds per format name; `big` ones (MobileNetV2, 14 MB) take 0.1-0.5 s per case and are used rarely."""
    return {
        "onnx": [Seed("tiny_cnn.onnx", ".onnx", 10, functools.partial(_file, TINY_CNN)),
                 Seed("shape_arithmetic.onnx", ".onnx", 8, shape_arithmetic_onnx),
                 *_zoo_seed("onnx/mobilenet_v2.onnx", 0.15, big=True)],
        "tflite": [*_zoo_seed("tflite/face_detection_short_range.tflite", 5),
                   *_zoo_seed("tflite/variants/face_detection_short_range.fp32.tflite", 1),
                   *_zoo_seed("tflite/selfie_segmentation.tflite", 2),
                   *_zoo_seed("tflite/variants/selfie_segmentation.builtin.tflite", 1),
                   Seed("int8_conv.tflite", ".tflite", 4, int8_tflite),
                   Seed("sparse_fc.tflite", ".tflite", 4, sparse_tflite),
                   Seed("tensor_ops.tflite", ".tflite", 4, tensor_ops_tflite),
                   *_zoo_seed("tflite/mobilenet_v2.tflite", 0.1, big=True)],
        "mindir": [*_zoo_seed("mindir/lenet.mindir", 8), *_zoo_seed("mindir/relu.mindir", 4),
                   *_zoo_seed("mindir/mobilenet_v2.mindir", 0.15, big=True)],
        "ms": [*_zoo_seed("ms/parallel.ms", 5), *_zoo_seed("ms/lenet_tod_infer.ms", 3),
               Seed("tiny_cnn_wq4.ms", ".ms", 4, functools.partial(weight_quantized_ms, 4)),
               Seed("tiny_cnn_wq8.ms", ".ms", 2, functools.partial(weight_quantized_ms, 8)),
               Seed("tiny_cnn_wq12.ms", ".ms", 2, functools.partial(weight_quantized_ms, 12))],
        "config": [Seed(name, ".cfg", 1, functools.partial(str.encode, text)) for name, text in CONFIGS.items()],
        "bin": [Seed("tiny_cnn_input.bin", ".bin", 3, tiny_cnn_input),
                Seed("reference.out", ".out", 1, benchmark_reference)],
        "mlir": [Seed("tiny_cnn.mlir", ".mlir", 3, functools.partial(printed_ir, None)),
                 Seed("tiny_cnn_wq4.mlir", ".mlir", 3, functools.partial(printed_ir, 4)),
                 Seed("tiny_cnn_generic.mlir", ".mlir", 1, functools.partial(printed_ir, 4, True))],
    }
