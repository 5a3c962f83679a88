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

# Why a test of a listed op is excluded -> the regex patterns (on test names) it covers.
EXCLUDED = {
    "integer tensors: quant-opt imports float32 graphs (integer arithmetic comes from quantization)":
        [r"^test_(add|sub|mul|div)_u?int\d+", r"^test_div_int32_trunc", r"^test_clip_default_int8_",
         r"^test_maxpool_2d_uint8"],
    "sequence and optional types are not tensors": [r"^test_identity_sequence", r"^test_identity_opt",
                                                    r"^test_split_to_sequence"],
    "shape parameters fed as runtime graph inputs: quant-opt compiles static graphs, so axes, shapes, "
    "pads, starts/ends, split sizes, resize scales/sizes and clip bounds must be constants":
        [r"^test_(squeeze|squeeze_negative_axes)_cpu", r"^test_unsqueeze_", r"^test_reshape_", r"^test_slice",
         r"^test_split_variable_parts_", r"^test_split_zero_size_splits_", r"^test_constant_pad",
         r"^test_resize_(up|down)sample_sizes_", r"^test_resize_tf_crop_and_resize",
         r"^test_resize_(up|down)sample_scales_(linear|nearest)(_align_corners|_axes_\d_\d)?_cpu",
         r"^test_clip(_default_min|_default_max|_example|_inbounds|_outbounds|_splitbounds|"
         r"_min_greater_than_max)?(_expanded)?_cpu"],
    "expanded function bodies use ops outside the supported list (Exp, CastLike, ReduceSum, Less, ...)":
        [r"^test_softmax_.*_expanded", r"^test_(hardsigmoid|leakyrelu|prelu|relu)_.*expanded"],
    "cubic and antialiased resize, crop-and-resize and half_pixel_symmetric have no MindSpore Lite "
    "Resize equivalent": [r"^test_resize_.*(cubic|antialias|half_pixel_symmetric)"],
    "1-D and 3-D convolution and pooling: the lite dialect is 2-D NHWC, as MindSpore Lite's kernels":
        [r"^test_(average|max)pool_[13]d", r"^test_convtranspose_[13]d"],
    "pooling with dilations: MindSpore Lite's pooling primitives have no dilation":
        [r"^test_(average|max)pool_2d_dilations"],
    "training-mode outputs (batch statistics, dropout mask, argmax indices) are not inference":
        [r"^test_batchnorm_.*training_mode", r"^test_dropout_default_mask", r"^test_maxpool_with_argmax"],
    "opset 6 models: the frontend imports opset 7 and later": [r"^test_softmax_functional_dim3",
                                                                r"^test_softmax_lastdim"],
}

os.environ.setdefault("ONNX_HOME", os.path.join(tempfile.gettempdir(), "quantopt-onnx-home"))
backend_test = onnx.backend.test.BackendTest(QuantOptBackend, __name__)
for op in OPS:
    backend_test.include(rf"^test_{op}(_.*)?_cpu$")
for model in LIGHT_MODELS:
    backend_test.include(rf"^test_{model}_cpu$")
for patterns in EXCLUDED.values():
    for pattern in patterns:
        backend_test.exclude(pattern)

globals().update(backend_test.test_cases)
