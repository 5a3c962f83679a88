"""Mixed-bit weight quantization: per layer, the fewest bits that keep the model's output error under a threshold.

The error is that of the model's outputs, measured end to end on calibration samples against the float model:

    e_i = ‖y_i − y_float,i‖ / ‖y_float,i‖   (all outputs of sample i flattened together)
    error = mean(e) + std(e) / sqrt(n)       (the mean's one-sigma upper bound over the n samples)

which is what `mean_error_threshold` promises the user: the mean relative error of the outputs, with the
uncertainty of estimating it on n samples taken on the safe side. The search is greedy, largest layer first (the large
layers decide the size): every layer starts at the largest candidate width; each layer in turn takes the
smallest width at which the model, with the layers already decided at their widths and the rest still at the
largest, stays at or under the threshold (bisection over the widths, taking the error as non-increasing in
bits). A layer keeps the largest width when even that misses the threshold, so a threshold below what
uniform quantization at the largest width reaches leaves every layer there. Layers that the weight-quant
thresholds (or the skip list) leave in float are not searched.

Each trial reruns the samples with one layer's weights swapped: that layer's kernel alone is rebuilt for the
weights under trial, the rest of the compiled model is reused (backends/reference/swappable.py).
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
SEARCH_SAMPLES = 16


@dataclass
class LayerBits:
    layer: str
    elements: int
    bits: int
    error: float  # the model's output error (bound) once this layer took its bits, later layers at the largest


def _candidate_layers(module: ModuleOp, options: WeightQuantPass) -> dict[str, Operation]:
    return {c.name: c.op for c in weight_candidates(module, options) if c.skip_reason is None}


class _WeightTrials:
    """The float model on the reference executor, with the weight of each searched layer swappable."""

    def __init__(self, module: ModuleOp, layers: dict[str, Operation]):
        from quantopt.backends.reference.executor import Executor
        from quantopt.backends.reference.swappable import SwappableKernels

        names = {op: name for name, op in layers.items()}
        self._layers = layers
        self._kernels = SwappableKernels(names.get)
        # No fused copy of the module: the kernels are found by the identity of the ops in `layers`.
        self.executor = Executor(module, kernels=self._kernels.table(), fuse_activations=False)

    def set_weight(self, name: str, weights: np.ndarray) -> None:
        """Run layer `name` with `weights` from now on."""
        kernel = self._kernels.kernel_with_weight(name, weight_operand(self._layers[name])[0], weights)
        self._kernels.use(name, kernel.fn)

    def outputs(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.asarray(o, np.float64).ravel() for o in self.executor.run(inputs)])


def _dequantized(op: Operation, bits: int, options: WeightQuantPass) -> np.ndarray:
    from quantopt.backends.reference.quant_casts import dequantize

    value, axis, _ = weight_operand(op)
    weights = constant_value(value)
    q, qtype = quantize_weight(weights, axis % weights.ndim, bits, options.per_channel, options.search_clip,
                               options.balance_rounding, options.share_tolerance)
    return dequantize(q, qtype).astype(np.float32)


def choose_layer_bits(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]], threshold: float,
                      options: WeightQuantPass, candidate_bits: Sequence[int] = CANDIDATE_BITS,
                      progress=None) -> list[LayerBits]:
    """The bits of every layer weight quantization would quantize, largest layer first (see the module
    docstring). `progress()` is called once per layer decided."""
    from quantopt.tools.metrics import relative_error

    widths = sorted(candidate_bits)
    layers = _candidate_layers(module, options)
    by_size = sorted(layers, key=lambda name: -constant_value(weight_operand(layers[name])[0]).size)
    if not by_size:
        return []
    trials = _WeightTrials(module, layers)
    samples = [list(s) for s in samples]
    references = [trials.outputs(s) for s in samples]

    def model_error() -> float:
        """The mean error's one-sigma upper bound: the mean over a few samples is itself noisy, and a search
        that stops right at the threshold would land above it on other inputs about half the time."""
        errors = [relative_error(trials.outputs(s), r) for s, r in zip(samples, references)]
        spread = float(np.std(errors, ddof=1) / np.sqrt(len(errors))) if len(errors) > 1 else 0.0
        return float(np.mean(errors)) + spread

    for name in by_size:
        trials.set_weight(name, _dequantized(layers[name], widths[-1], options))
    current_error = model_error()
    chosen = []
    for name in by_size:
        op = layers[name]
        elements = constant_value(weight_operand(op)[0]).size
        tried: dict[int, float] = {widths[-1]: current_error}
        if current_error <= threshold:
            low, high = 0, len(widths) - 1  # widths[high] passes
            while low < high:
                middle = (low + high) // 2
                trials.set_weight(name, _dequantized(op, widths[middle], options))
                tried[widths[middle]] = model_error()
                if tried[widths[middle]] <= threshold:
                    high = middle
                else:
                    low = middle + 1
            bits = widths[high]
        else:
            bits = widths[-1]
        trials.set_weight(name, _dequantized(op, bits, options))
        current_error = tried[bits]
        chosen.append(LayerBits(name, elements, bits, tried[bits]))
        if progress is not None:
            progress()
    return chosen


def quantize_weights_mixed(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]], threshold: float,
                           options: WeightQuantPass, progress=None) -> tuple[list, list[LayerBits]]:
    """Choose each layer's bits, then weight-quantize in place; (decisions, chosen bits)."""
    from quantopt.passes.weight_quant import quantize_weights

    chosen = choose_layer_bits(module, samples, threshold, options, progress=progress)
    decisions = quantize_weights(module, replace(options, bits=max(CANDIDATE_BITS)),
                                 {c.layer: c.bits for c in chosen})
    return decisions, chosen


def bits_histogram(chosen: Iterable[LayerBits]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for c in chosen:
        counts[c.bits] = counts.get(c.bits, 0) + 1
    return dict(sorted(counts.items()))
