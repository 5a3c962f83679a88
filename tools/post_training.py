"""The full (int8) quantization pipeline the converter runs, stage by stage:

    insert-calibration -> calibrate -> lower-calibration -> weight-quant -> [bias-correction] -> lower-to-int8
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from xdsl.dialects.builtin import ModuleOp

from quantopt.passes.calibration_config import CalibrationConfig


@dataclass
class PostTrainingSummary:
    method: str
    bits: int
    samples: int
    observers: int
    bias_corrections: list = field(default_factory=list)
    lowering: list = field(default_factory=list)
    weight_layers: list = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)


def quantize_post_training(module: ModuleOp, float_module: ModuleOp, config: CalibrationConfig, bits: int,
                           method: str | None = None, bias_correction: bool | None = None,
                           progress=None) -> PostTrainingSummary:
    """Full quantization of `module` in place (batch norms already folded, activations fused);
    `float_module` is an untouched copy, the reference for bias correction."""
    from quantopt.passes.bias_correction import correct_biases_from_config
    from quantopt.passes.calibrate import calibrate_module
    from quantopt.passes.calibration_config import warn
    from quantopt.passes.insert_calibration import insert_observers
    from quantopt.passes.lower_calibration import lower_calibration
    from quantopt.passes.lower_to_int8 import lower_to_int8
    from quantopt.passes.weight_quant import WeightQuantPass, quantize_weights, unknown_layers

    method = method or config.method
    skip = frozenset(config.skip_quant_node)
    unknown = unknown_layers(module, sorted(skip))
    if unknown:
        warn(f"skip_quant_node: no layer named {', '.join(unknown)} (names are output tensor names, as "
             "the --debugDir report lists them)")
    bias_correction = config.bias_correction if bias_correction is None else bias_correction
    times: dict[str, float] = {}

    def stage(name, start):
        times[name] = time.perf_counter() - start
        return time.perf_counter()

    start = time.perf_counter()
    observers = insert_observers(module)
    result = calibrate_module(module, config, progress=progress)
    start = stage("calibrate", start)
    lower_calibration(module, method, bits)
    start = stage("lower-calibration", start)
    # Full quantization needs every weight in int8 for the integer kernels, so no layer is skipped here
    # except those of the skip list, which stay float (their activations stay quantized around them).
    weight_layers = quantize_weights(module, WeightQuantPass(bits=bits, per_channel=config.per_channel,
                                                             balance_rounding=True, skip=",".join(sorted(skip))))
    start = stage("weight-quant", start)
    corrections = correct_biases_from_config(module, float_module, config) if bias_correction else []
    if bias_correction:
        start = stage("bias-correction", start)
    lowering = lower_to_int8(module, skip)
    stage("lower-to-int8", start)
    return PostTrainingSummary(method, bits, result.samples, len(observers), corrections, lowering, weight_layers,
                               times)
