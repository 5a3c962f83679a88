"""onnxruntime's `quantize_static` (QDQ, per-channel int8) on the same calibration inputs, for comparison."""

from __future__ import annotations

import time

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

ort.set_default_logger_severity(3)  # quantize_static's graph clean-up warnings drown the table

METHODS = {"MinMax": CalibrationMethod.MinMax, "Percentile": CalibrationMethod.Percentile,
           "Entropy": CalibrationMethod.Entropy}


class _Reader(CalibrationDataReader):
    def __init__(self, input_name: str, samples: np.ndarray):
        self._feeds = iter([{input_name: x} for x in samples])

    def get_next(self):
        return next(self._feeds, None)


def quantize(model_path: str, output_path: str, samples: np.ndarray, method: str) -> float:
    """Write the QDQ model; return the seconds quantize_static took (calibration included)."""
    input_name = onnx.load(model_path, load_external_data=False).graph.input[0].name
    start = time.perf_counter()
    quantize_static(model_path, output_path, _Reader(input_name, samples), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=METHODS[method])
    return time.perf_counter() - start


def run(model_path: str, samples: np.ndarray, threads: int = 2) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.stack([session.run(None, {name: x})[0] for x in samples])
