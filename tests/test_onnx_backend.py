"""onnx's BackendTest against our frontend + executor: the node tests of every op the frontend supports and
the nine `light_*` model tests that ship inside the onnx package.

Every excluded test is listed below with the reason; nothing else is skipped."""

import os
import tempfile

import onnx.backend.test
import pytest

from quantopt.backends.reference.onnx_backend import QuantOptBackend

OPS = ["conv", "convtranspose", "gemm", "matmul", "add", "sub", "mul", "div", "relu", "clip", "sigmoid", "tanh",
       "hardsigmoid", "hardswish", "leakyrelu", "prelu", "maxpool", "averagepool", "globalaveragepool",
       "globalmaxpool", "flatten", "reshape", "transpose", "concat", "split", "slice", "squeeze", "unsqueeze",
       "softmax", "pad", "reducemean", "resize", "batchnorm", "lrn", "identity", "dropout", "constant"]

LIGHT_MODELS = ["bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                "squeezenet", "vgg19", "zfnet512"]

# pattern (regex on the test name) -> why it is excluded
EXCLUDED = {}

os.environ.setdefault("ONNX_HOME", os.path.join(tempfile.gettempdir(), "quantopt-onnx-home"))
backend_test = onnx.backend.test.BackendTest(QuantOptBackend, __name__)
for op in OPS:
    backend_test.include(rf"^test_{op}(_.*)?_cpu$")
for model in LIGHT_MODELS:
    backend_test.include(rf"^test_{model}_cpu$")
for pattern in EXCLUDED:
    backend_test.exclude(pattern)

globals().update(backend_test.enable_report().test_cases)
