"""Mixed-bit weight quantization: per layer, the fewest bits whose error stays under a threshold.

The error of a layer at b bits is measured on its own output: the float model runs once over a few
calibration samples while each weight layer's input activation is captured; then, for each layer and each
candidate b (2..8, ascending), the layer alone runs on those captured inputs with its weights quantized to b
bits and dequantized (the reference executor's fp32 kernel for that op, fused activation included), and

    error(b) = mean over samples of ‖y_b − y_float‖ / ‖y_float‖.

The layer gets the smallest b with error(b) ≤ `mean_error_threshold`, or the largest candidate when none
is. Layers are searched largest first (they decide most of the size); each layer's error is measured with
every other layer in float, so the choices are independent of each other. Layers that the weight-quant
thresholds (or the skip list) leave in float are not searched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from quantopt.dialects.constant import constant_value
from quantopt.passes.weight_quant import (
    quantize_weight,
    weight_candidates,
    weight_operand,
    WeightQuantPass,
)

CANDIDATE_BITS = tuple(range(2, 9))
SEARCH_SAMPLES = 8


@dataclass
class LayerBits:
    layer: str
    elements: int
    bits: int
    error: float  # at the chosen bits


def _candidate_layers(module: ModuleOp, options: WeightQuantPass) -> dict[str, Operation]:
    return {c.name: c.op for c in weight_candidates(module, options) if c.skip_reason is None}


def capture_layer_inputs(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]],
                         names: Iterable[str]) -> dict[str, list[np.ndarray]]:
    """The first operand (input activation) of each named layer, per sample, from a float run."""
    from quantopt.backends.reference.capture import capturing_kernels
    from quantopt.backends.reference.executor import Executor

    wanted = set(names)
    captured: dict[str, list[np.ndarray]] = {name: [] for name in wanted}
    recording = [False]

    def record(name, op, value):
        if recording[0] and name in wanted:
            captured[name].append(value)

    executor = Executor(module, kernels=capturing_kernels(record, inputs=True))
    recording[0] = True
    for inputs in samples:
        executor.run(inputs)
    return captured


def _run_with_weight(op: Operation, weight_value, weights: np.ndarray, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from quantopt.backends.reference.kernels_fp32 import FP32_KERNELS

    def lookup(value):
        return weights if value is weight_value else constant_value(value)

    kernel = FP32_KERNELS[type(op)](op, lookup)
    return [np.array(kernel.fn(x), copy=True) for x in inputs]


def layer_errors(op: Operation, inputs: list[np.ndarray], options: WeightQuantPass,
                 candidate_bits: Sequence[int] = CANDIDATE_BITS, threshold: float | None = None) -> dict[int, float]:
    """error(b) for ascending candidate bits (see the module docstring); stops after the first b at or under
    `threshold` when one is given."""
    from quantopt.backends.reference.quant_casts import dequantize
    from quantopt.tools.metrics import relative_error

    value, axis, _ = weight_operand(op)
    weights = constant_value(value)
    reference = _run_with_weight(op, value, weights, inputs)
    errors = {}
    for bits in sorted(candidate_bits):
        q, qtype = quantize_weight(weights, axis % weights.ndim, bits, options.per_channel, options.search_clip,
                                   options.balance_rounding)
        approximate = dequantize(q, qtype).astype(np.float32)
        outputs = _run_with_weight(op, value, approximate, inputs)
        errors[bits] = float(np.mean([relative_error(o, r) for o, r in zip(outputs, reference)]))
        if threshold is not None and errors[bits] <= threshold:
            break
    return errors


def choose_layer_bits(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]], threshold: float,
                      options: WeightQuantPass, candidate_bits: Sequence[int] = CANDIDATE_BITS) -> list[LayerBits]:
    """The bits of every layer weight quantization would quantize, largest layer first."""
    layers = _candidate_layers(module, options)
    captured = capture_layer_inputs(module, samples, layers)
    chosen = []
    by_size = sorted(layers.items(), key=lambda item: -constant_value(weight_operand(item[1])[0]).size)
    for name, op in by_size:
        elements = constant_value(weight_operand(op)[0]).size
        if not captured[name]:  # never ran (dead code): the cheapest width
            chosen.append(LayerBits(name, elements, min(candidate_bits), float("nan")))
            continue
        errors = layer_errors(op, captured[name], options, candidate_bits, threshold)
        passing = [b for b, e in errors.items() if e <= threshold]
        bits = min(passing) if passing else max(candidate_bits)
        chosen.append(LayerBits(name, elements, bits, errors.get(bits, float("nan"))))
    return chosen


def quantize_weights_mixed(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]], threshold: float,
                           options: WeightQuantPass) -> tuple[list, list[LayerBits]]:
    """Choose each layer's bits, then weight-quantize in place; (decisions, chosen bits)."""
    from quantopt.passes.weight_quant import quantize_weights

    chosen = choose_layer_bits(module, samples, threshold, options)
    decisions = quantize_weights(module, replace(options, bits=max(CANDIDATE_BITS)),
                                 {c.layer: c.bits for c in chosen})
    return decisions, chosen


def bits_histogram(chosen: Iterable[LayerBits]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for c in chosen:
        counts[c.bits] = counts.get(c.bits, 0) + 1
    return dict(sorted(counts.items()))
