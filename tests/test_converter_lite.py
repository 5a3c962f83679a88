"""converter_lite and quant-bench as users run them: flags, errors, outputs, determinism."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from quantopt import Executor
from quantopt.backends.ms.reader import read_ms
from quantopt.tools import converter_lite, quant_bench

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "tiny_cnn.onnx")


def run(tool, args, capsys):
    code = tool.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--fmk=ONNX", f"--modelFile={EXAMPLE}", "--outputFile=OUT", "--bogus=1"],
         "error: unknown flag '--bogus' (see converter_lite --help)"),
        (["--fmk=ONNX", f"--modelFile={EXAMPLE}", "--outputFile=OUT", "--quantType=WeightQuant", "--bitNum=17"],
         "error: --bitNum=17: must be in [0, 16]"),
        (["--fmk=ONNX", f"--modelFile={EXAMPLE}", "--outputFile=OUT", "--quantType=PostTraining", "--bitNum=9"],
         "error: --bitNum=9: must be in [1, 8] for PostTraining"),
        (["--fmk=CAFFE", f"--modelFile={EXAMPLE}", "--outputFile=OUT"],
         "error: --fmk=CAFFE: must be one of ONNX, TFLITE, MINDIR, MS"),
        (["--fmk=TFLITE", f"--modelFile={EXAMPLE}", "--outputFile=OUT"],
         f"error: {EXAMPLE}: --fmk=TFLITE does not match the file (it looks like a ONNX model)"),
        (["--fmk=ONNX", "--modelFile=missing.onnx", "--outputFile=OUT"], "error: missing.onnx: no such file"),
        (["--fmk=ONNX", "--outputFile=OUT"], "error: missing required flag --modelFile (see converter_lite --help)"),
        (["--fmk=ONNX", f"--modelFile={EXAMPLE}", "--outputFile=OUT", "--quantWeightSize=-1"],
         "error: --quantWeightSize=-1: must be in [0, 2147483647]"),
    ],
)
def test_bad_flags_are_one_line_errors_and_leave_nothing(tmp_path, capsys, args, message):
    os.chdir(tmp_path)
    code, out, err = run(converter_lite, args, capsys)
    assert code == 1
    assert err.strip() == message
    assert os.listdir(tmp_path) == []


def test_corrupt_model_leaves_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(Path(EXAMPLE).read_bytes()[:500])
    code, _, err = run(converter_lite, ["--fmk=ONNX", f"--modelFile={bad}", f"--outputFile={tmp_path / 'out'}"], capsys)
    assert code == 1 and err.startswith(f"error: {bad}: ") and len(err.strip().splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx"]


def test_help(capsys):
    code, out, _ = run(converter_lite, ["--help"], capsys)
    assert code == 0 and "--quantWeightChannel" in out


def _inputs(n=4, seed=0):
    return [np.random.default_rng(seed + i).normal(0, 1, (1, 3, 32, 32)).astype(np.float32) for i in range(n)]


def test_float_conversion_matches_onnxruntime(tmp_path, capsys):
    code, out, _ = run(converter_lite, ["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'fp'}"],
                       capsys)
    assert code == 0 and "CONVERT RESULT SUCCESS:0" in out
    executor = Executor(read_ms(tmp_path / "fp.ms"))
    session = ort.InferenceSession(EXAMPLE)
    for x in _inputs():
        ref = session.run(None, {"input": x})[0]
        np.testing.assert_allclose(executor.run([x])[0], ref, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("bits", [2, 8, 12, 16])
def test_weight_quant_output_is_smaller_close_and_deterministic(tmp_path, capsys, bits):
    args = ["--fmk=ONNX", f"--modelFile={EXAMPLE}", "--quantType=WeightQuant", f"--bitNum={bits}",
            "--quantWeightSize=0", "--quantWeightChannel=0"]
    code, out, _ = run(converter_lite, args + [f"--outputFile={tmp_path / 'a'}"], capsys)
    assert code == 0
    assert "weight quantization" in out and "size: float .ms" in out
    assert run(converter_lite, args + [f"--outputFile={tmp_path / 'b'}"], capsys)[0] == 0
    assert (tmp_path / "a.ms").read_bytes() == (tmp_path / "b.ms").read_bytes()
    float_size = int(out.split("size: float .ms ")[1].split()[0])
    assert (tmp_path / "a.ms").stat().st_size < float_size
    session = ort.InferenceSession(EXAMPLE)
    executor = Executor(read_ms(tmp_path / "a.ms"))
    errors = [np.linalg.norm(executor.run([x])[0] - (r := session.run(None, {"input": x})[0])) / np.linalg.norm(r)
              for x in _inputs()]
    assert np.mean(errors) < {2: 1.0, 8: 0.02, 12: 0.002, 16: 2e-4}[bits]


def test_quant_bench_reports_mean_bias_and_fails_above_threshold(tmp_path, capsys):
    x = _inputs(1)[0]
    x.tofile(tmp_path / "in.bin")
    ref = ort.InferenceSession(EXAMPLE).run(None, {"input": x})[0]
    (tmp_path / "ref.out").write_text("logits 2 1 10\n" + " ".join(f"{v:.8g}" for v in ref.ravel()) + "\n")
    args = [f"--modelFile={EXAMPLE}", f"--inDataFile={tmp_path / 'in.bin'}",
            f"--benchmarkDataFile={tmp_path / 'ref.out'}"]
    code, out, _ = run(quant_bench, args, capsys)
    assert code == 0 and "Mean bias of all tensors:" in out
    (tmp_path / "off.out").write_text("logits 2 1 10\n" + " ".join(f"{v * 1.1:.8g}" for v in ref.ravel()) + "\n")
    code, out, err = run(quant_bench, args[:2] + [f"--benchmarkDataFile={tmp_path / 'off.out'}"], capsys)
    assert code == 1 and "is above the accuracy threshold 0.5%" in err


def test_quant_bench_rejects_wrong_input_size(tmp_path, capsys):
    np.zeros(10, np.float32).tofile(tmp_path / "small.bin")
    code, _, err = run(quant_bench, [f"--modelFile={EXAMPLE}", f"--inDataFile={tmp_path / 'small.bin'}"], capsys)
    assert code == 1
    assert err.strip() == f"error: {tmp_path / 'small.bin'}: has 40 bytes, input of shape [1, 3, 32, 32] needs 12288"


def test_quant_bench_compare_model(tmp_path, capsys):
    for i, x in enumerate(_inputs(3)):
        x.tofile(tmp_path / f"{i:04d}.bin")
    assert run(converter_lite, ["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'wq'}",
                                "--quantType=WeightQuant", "--bitNum=8"], capsys)[0] == 0
    code, out, _ = run(quant_bench, [f"--modelFile={tmp_path / 'wq.ms'}", f"--compareModel={EXAMPLE}",
                                     f"--evalDir={tmp_path}"], capsys)
    assert code == 0 and "samples: 3" in out and "top-1 agreement:" in out


def test_console_script_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "quantopt.tools.converter_lite", "--fmk=ONNX",
                             "--modelFile=nope.onnx", "--outputFile=x"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.strip() == "error: nope.onnx: no such file"
    assert "Traceback" not in result.stderr


def test_non_finite_weights_are_a_clear_error(tmp_path, capsys):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(EXAMPLE)
    for i, init in enumerate(model.graph.initializer):
        if init.name == "fc.w":
            w = numpy_helper.to_array(init).copy()
            w[0, 0] = np.nan
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(w, "fc.w"))
    bad = tmp_path / "nan.onnx"
    onnx.save(model, bad)
    code, _, err = run(converter_lite, ["--fmk=ONNX", f"--modelFile={bad}", f"--outputFile={tmp_path / 'out'}",
                                        "--quantType=WeightQuant", "--bitNum=8"], capsys)
    assert code == 1
    assert err.strip() == "error: layer 'logits' has NaN or infinite weights (weight quantization)"
    assert sorted(os.listdir(tmp_path)) == ["nan.onnx"]
