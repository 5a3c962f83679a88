"""insert-calibration, calibrate and lower-calibration through the Python API: worker processes give the
statistics of one pass, memory does not grow with the calibration set, multi-input samples pair in sorted
order, and the lowered QDQ model runs."""

import io
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from xdsl.printer import Printer

from quantopt.api import import_model
from quantopt.backends.reference.executor import Executor
from quantopt.context import make_context
from quantopt.dialects import lite
from quantopt.dialects.quant import DequantizeCastOp, ObserveOp, QuantizeCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError
from quantopt.passes.calibrate import calibrate_module, statistics_of
from quantopt.passes.fold_batchnorm import FoldBatchNormPass
from quantopt.passes.fuse_activation import FuseActivationPass
from quantopt.passes.insert_calibration import insert_observers
from quantopt.passes.lower_calibration import lower_calibration

TINY_CNN = Path(__file__).resolve().parents[1] / "examples" / "tiny_cnn.onnx"


def prepared(path=TINY_CNN):
    module = import_model(str(path))
    ctx = make_context()
    FoldBatchNormPass().apply(ctx, module)
    FuseActivationPass().apply(ctx, module)
    insert_observers(module)
    return module


def write_samples(directory: Path, count: int, shape=(1, 3, 32, 32), seed=0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(count):
        (rng.standard_normal(shape) * rng.uniform(0.1, 3)).astype(np.float32).tofile(directory / f"{k:04d}.bin")
    return directory


def write_config(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def text_of(module) -> str:
    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue()


def observers(module) -> list[ObserveOp]:
    return [op for op in module.walk() if isinstance(op, ObserveOp)]


@pytest.fixture(scope="module")
def calibration_set(tmp_path_factory) -> Path:
    return write_samples(tmp_path_factory.mktemp("calib") / "images", 7)


@pytest.mark.parametrize("threads, start_method", [(2, None), (3, None), (7, None), (2, "spawn")])
def test_worker_processes_give_the_statistics_of_one_pass(tmp_path, calibration_set, threads, start_method):
    single = prepared()
    one = calibrate_module(single, write_config(tmp_path / "one.cfg", f"image_path={calibration_set}\n"))
    split = prepared()
    config = write_config(tmp_path / "many.cfg", f"image_path={calibration_set}\nthread_num={threads}\n")
    many = calibrate_module(split, config, start_method=start_method)
    assert one.samples == many.samples == 7
    assert one.stats == many.stats and len(one.stats) == len(observers(single)) == 10
    assert text_of(single) == text_of(split)


def test_progress_and_stage_times(tmp_path, calibration_set):
    for threads in (1, 2):
        seen = []
        text = f"image_path={calibration_set}\nbatch_count=5\nthread_num={threads}\n"
        config = write_config(tmp_path / "c.cfg", text)
        result = calibrate_module(prepared(), config, progress=lambda done, total: seen.append((done, total)))
        assert seen == [(k, 5) for k in range(1, 6)]
        assert set(result.times) == {"list samples", "run samples", "record"}


def test_recorded_statistics_read_back(tmp_path, calibration_set):
    module = prepared()
    result = calibrate_module(module, write_config(tmp_path / "c.cfg", f"image_path={calibration_set}\n"))
    for op in observers(module):
        assert statistics_of(op) == result.stats[op.observer_id]
    # the input is observed as it is read from the files
    first = np.fromfile(calibration_set / "0000.bin", np.float32)
    assert result.stats[0].sample_min[0] == first.min() and result.stats[0].sample_max[0] == first.max()


def peak_traced_bytes(module, config: str) -> int:
    tracemalloc.start()
    try:
        calibrate_module(module, config)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_calibration_set(tmp_path):
    images = write_samples(tmp_path / "images", 100)
    peaks = {}
    for count in (20, 100):
        module = prepared()
        calibrate_module(module, write_config(tmp_path / "warm.cfg", f"image_path={images}\nbatch_count=2\n"))
        peaks[count] = peak_traced_bytes(prepared(), write_config(tmp_path / f"{count}.cfg",
                                                                   f"image_path={images}\nbatch_count={count}\n"))
    assert peaks[100] <= 1.1 * peaks[20], peaks


def two_input_model(path: Path) -> Path:
    """out = conv(a, weight 1) + conv(b, weight 2), 1x1 convolutions on [1, 1, 2, 2] inputs."""
    nodes = [helper.make_node("Conv", ["a", "wa"], ["ca"]), helper.make_node("Conv", ["b", "wb"], ["cb"]),
             helper.make_node("Add", ["ca", "cb"], ["out"])]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, 2, 2]) for name in ("a", "b")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor("wa", TensorProto.FLOAT, [1, 1, 1, 1], [1.0]),
         helper.make_tensor("wb", TensorProto.FLOAT, [1, 1, 1, 1], [2.0])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("spelling", ["r1.3", "ini"])
def test_two_inputs_pair_files_in_sorted_name_order(tmp_path, spelling):
    values = {"a": {"s1.bin": 1.0, "s10.bin": 10.0, "s2.bin": 2.0}, "b": {"t1.bin": 100.0, "t10.bin": 1000.0,
                                                                           "t2.bin": 200.0}}
    for name, files in values.items():
        (tmp_path / name).mkdir()
        for file, value in files.items():
            np.full((1, 1, 2, 2), value, np.float32).tofile(tmp_path / name / file)
    text = ("image_path=a,b\n" if spelling == "r1.3" else
            "[data_preprocess_param]\ncalibrate_path=b:b,a:a\ninput_type=BIN\ncalibrate_size=3\n")
    module = prepared(two_input_model(tmp_path / "two.onnx"))
    calibrate_module(module, write_config(tmp_path / "c.cfg", text))
    add = next(op for op in module.walk() if isinstance(op, lite.AddOp))
    observer = next(use.operation for use in add.output.uses)
    # sorted names: s1, s10, s2 with t1, t10, t2, and out = a + 2 b
    assert list(statistics_of(observer).sample_max) == [201.0, 2010.0, 402.0]


def test_a_non_finite_activation_is_an_error(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    np.full((1, 3, 32, 32), np.inf, np.float32).tofile(images / "0.bin")
    with pytest.raises(QuantOptError, match=r"calibration: observed tensor 0 \(input\): tensor holds non-finite"):
        calibrate_module(prepared(), write_config(tmp_path / "c.cfg", f"image_path={images}\n"))


def test_calibrate_needs_observers(tmp_path, calibration_set):
    module = import_model(str(TINY_CNN))
    with pytest.raises(QuantOptError, match="run insert-calibration first"):
        calibrate_module(module, write_config(tmp_path / "c.cfg", f"image_path={calibration_set}\n"))


@pytest.mark.parametrize("method", ["MAX_MIN", "KL", "REMOVAL_OUTLIER"])
def test_lowered_model_runs_close_to_float(tmp_path, calibration_set, method):
    module = prepared()
    calibrate_module(module, write_config(tmp_path / "c.cfg", f"image_path={calibration_set}\n"))
    stats = {op.observer_id: statistics_of(op) for op in observers(module)}
    float_module = prepared()
    params = lower_calibration(module, method, 8)
    assert not observers(module)
    casts = [op for op in module.walk() if isinstance(op, QuantizeCastOp)]
    assert len(casts) == len(stats) == len([op for op in module.walk() if isinstance(op, DequantizeCastOp)])
    for observer_id, p in params.items():
        assert p.scale > 0 and (p.qmin, p.qmax) == (-127, 127)
        if method == "MAX_MIN":
            assert p.scale == 2 * stats[observer_id].abs_max / 254 and p.zero_point == 0
    qtype = casts[0].result.type.element_type
    assert isinstance(qtype, UniformQuantizedType) and qtype.scale == params[0].scale
    x = np.random.default_rng(5).standard_normal((1, 3, 32, 32)).astype(np.float32)
    expected = Executor(_without_observers(float_module)).run([x])[0]
    got = Executor(module).run([x])[0]
    assert np.linalg.norm(got - expected) < 0.1 * np.linalg.norm(expected)


def _without_observers(module):
    for op in observers(module):
        op.result.replace_all_uses_with(op.input)
        op.detach()
        op.erase()
    return module


def test_worker_errors_reach_the_caller(tmp_path, calibration_set):
    images = tmp_path / "images"
    images.mkdir()
    for k in range(4):
        np.full((1, 3, 32, 32), np.nan if k == 3 else 1.0, np.float32).tofile(images / f"{k}.bin")
    config = write_config(tmp_path / "c.cfg", f"image_path={images}\nthread_num=2\n")
    with pytest.raises(QuantOptError, match=r"^error: calibration: observed tensor 0 \(input\): tensor holds non-fin"):
        calibrate_module(prepared(), config)


def test_a_worker_that_dies_silently_fails_the_calibration(tmp_path, calibration_set, monkeypatch):
    import os

    from quantopt.passes import calibrate

    monkeypatch.setattr(calibrate, "_worker", lambda *args: os._exit(3))
    config = write_config(tmp_path / "c.cfg", f"image_path={calibration_set}\nthread_num=2\n")
    with pytest.raises(QuantOptError, match="calibration worker 0 exited with status 3 before reporting"):
        calibrate_module(prepared(), config, start_method="fork")
