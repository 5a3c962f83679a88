"""Foundation acceptance on the real MobileNetV2 ONNX model: textual round trips and executor fidelity."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from quantopt import Executor, import_model

pytestmark = pytest.mark.slow
QUANT_OPT = str(Path(sys.executable).with_name("quant-opt"))


def test_printed_ir_round_trips(zoo_dir, tmp_path):
    model = str(zoo_dir / "onnx" / "mobilenet_v2.onnx")
    printed = subprocess.run([QUANT_OPT, model], capture_output=True, text=True, check=True).stdout
    again = subprocess.run([QUANT_OPT], input=printed, capture_output=True, text=True, check=True).stdout
    assert again == printed
    generic = subprocess.run([QUANT_OPT, "--print-op-generic"], input=printed, capture_output=True, text=True,
                             check=True).stdout
    assert generic != printed
    back = subprocess.run([QUANT_OPT], input=generic, capture_output=True, text=True, check=True).stdout
    assert back == printed


def test_executor_matches_onnxruntime_on_50_eval_inputs(zoo_dir):
    executor = Executor(import_model(str(zoo_dir / "onnx" / "mobilenet_v2.onnx")))
    inputs = zoo.load_set("mobilenet_v2/eval", 50)
    reference = zoo.load_reference("ref/mobilenet_v2/logits_ort.npy")[:50]
    logits = np.concatenate([executor.run([x])[0] for x in inputs])
    assert np.abs(logits - reference).max() <= 1e-4 * np.abs(reference).max()
    assert (logits.argmax(1) == reference.argmax(1)).all()
