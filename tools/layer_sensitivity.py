"""Isolated per-layer error: how much the model's outputs move when only one layer is quantized.

The cumulative metrics of the debug report compare each tensor of the quantized run with the float run, so a
layer inherits every error made before it and deep layers look worst. To say which layer *causes* the loss,
the float model runs once per layer with only that layer quantized as in the quantized module, everything
else in float:

- its weight replaced by the quantized module's weight, dequantized (when it has a quantized weight);
- its result fake-quantized (quantized and dequantized) with the result's quantized type (when it has one).

That is exactly what keeping the layer in float through `skip_quant_node` gives back. The error is measured
on the model outputs against the float run: mean over samples of ‖q − f‖ / ‖f‖ of all outputs together
(`isolated_rel_error`), and the SQNR of the outputs over all samples (`isolated_sqnr_db`).

One executor serves all layers (backends/reference/swappable.py): each layer in turn runs its quantized
twin, a kernel rebuilt for the quantized weight, while the rest of the compiled model is reused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from quantopt.dialects import quant


@dataclass
class IsolatedError:
    rel_error: float
    sqnr_db: float


@dataclass
class _Quantization:
    weight: np.ndarray | None  # dequantized
    result_type: quant.UniformQuantizedType | None  # per tensor


def _dequantized_weight(op: Operation) -> np.ndarray | None:
    """The real values of a layer's quantized weight, whether it reads `quant.dcast(quant.scast(c))` (float
    op) or `quant.scast(c)` directly (int8 op)."""
    from quantopt.backends.reference.quant_casts import dequantize
    from quantopt.dialects.constant import constant_value
    from quantopt.passes.weight_quant import weight_operand

    found = weight_operand(op)
    if found is None:
        return None
    value = found[0]
    if isinstance(value.owner, quant.DequantizeCastOp):
        value = value.owner.input
    if not isinstance(value.owner, quant.StorageCastOp):
        return None
    stored = constant_value(value.owner.input)
    qtype = quant.element_type_of(value.type)
    if stored is None or not isinstance(qtype, quant.UniformQuantizedType):
        return None
    return dequantize(stored, qtype).astype(np.float32)


def quantizations(quant_module: ModuleOp) -> dict[str, _Quantization]:
    """What the quantized module quantizes, per layer name: its weight and its result's per-tensor type."""
    from quantopt.backends.reference.capture import result_names
    from quantopt.tools.debug_report import quantized_output_type

    found = {}
    for op in quant_module.walk():
        if op.dialect_name() != "lite" or not op.results:
            continue
        name = result_names(op)[0]
        weight, result_type = _dequantized_weight(op), quantized_output_type(op)
        if name is not None and (weight is not None or result_type is not None):
            found[name] = _Quantization(weight, result_type)
    return found


def _quantized_twin(kernels, name: str, op: Operation, quantization: _Quantization):
    """Layer `name`'s function with its weight and result quantized as `quantization` says, or None when the
    weight cannot be swapped."""
    from quantopt.backends.reference.quant_casts import dequantize, quantize
    from quantopt.passes.weight_quant import weight_operand

    kernel = kernels.original(name)
    found = weight_operand(op)
    if quantization.weight is not None and found is not None:
        kernel = kernels.kernel_with_weight(name, found[0], quantization.weight)
        if kernel is None:
            return None
    fn, result_type = kernel.fn, quantization.result_type
    if result_type is None:
        return fn

    def fake_quantized(*args):
        result = fn(*args)
        if isinstance(result, tuple):
            return result
        return dequantize(quantize(np.asarray(result, np.float32), result_type), result_type)

    return fake_quantized


def isolated_errors(float_module: ModuleOp, quant_module: ModuleOp, samples: Iterable[Sequence[np.ndarray]],
                    progress=None) -> dict[str, IsolatedError]:
    """The isolated error of every layer the quantized module quantizes and the float module has (see the
    module docstring), over `samples` (kept in memory: each layer reruns them all)."""
    from quantopt.backends.reference.capture import result_names
    from quantopt.backends.reference.executor import Executor
    from quantopt.backends.reference.swappable import SwappableKernels
    from quantopt.tools.debug_report import sqnr_db
    from quantopt.tools.metrics import relative_error

    wanted = quantizations(quant_module)
    layer_ops: dict[str, Operation] = {}

    def select(op: Operation) -> str | None:
        names = result_names(op)
        if names and names[0] in wanted:
            layer_ops[names[0]] = op
            return names[0]
        return None

    kernels = SwappableKernels(select)
    executor = Executor(float_module, kernels=kernels.table())
    samples = list(samples)

    def flat_outputs(inputs) -> np.ndarray:
        return np.concatenate([np.asarray(o, np.float64).ravel() for o in executor.run(inputs)])

    references = [flat_outputs(inputs) for inputs in samples]
    errors = {}
    for name in kernels.names:
        twin = _quantized_twin(kernels, name, layer_ops[name], wanted[name])
        if twin is None:
            continue
        kernels.use(name, twin)
        rel, signal, noise = [], 0.0, 0.0
        for inputs, reference in zip(samples, references):
            got = flat_outputs(inputs)
            rel.append(relative_error(got, reference))
            signal += float(reference @ reference)
            noise += float((got - reference) @ (got - reference))
        kernels.restore(name)
        errors[name] = IsolatedError(float(np.mean(rel)), sqnr_db(signal, noise))
        if progress is not None:
            progress()
    return errors
