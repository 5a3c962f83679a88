"""Bias correction (MindSpore Lite full quantization): remove the mean error that weight quantization adds to
each output channel of a convolution or fully connected layer.

For every such layer of the QDQ form, with float weights W and quantized weights Q (dequantized), both run
on the layer's own quantized input x over the calibration set; their outputs differ by conv(x, Q - W), the
bias term cancels. The mean of that difference over every sample and output position,

    e[c] = mean_{samples, positions} conv(x, Q - W)[c],

is subtracted from the bias (a bias of -e is created where the layer has none), so that the quantized
layer's output has the float layer's mean. Differences are taken before the fused activation: the
correction is a shift of the linear part. All layers are measured in one run of the uncorrected model, as
MindSpore Lite does.

The QDQ form keeps only the quantized weights, so the float weights come from the float model: the same
graph before `weight-quant` (layers are matched in order, by weight shape, and checked to be within
quantization error of the quantized ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from quantopt.backends.reference import conv
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, KernelBuilder
from quantopt.backends.reference.quant_casts import dequantize
from quantopt.dialects import lite, quant
from quantopt.dialects.constant import constant_op, constant_value
from quantopt.errors import QuantOptError
from quantopt.passes.weight_quant import layer_name

_LAYERS = (lite.Conv2DOp, lite.FullyConnectedOp)


@dataclass
class BiasCorrection:
    """What happened to one layer: the mean and largest |e[c]| subtracted, and whether a bias was created."""

    op_name: str
    layer: str
    channels: int
    mean_shift: float
    max_shift: float
    created_bias: bool


def _quantized_weight(op: Operation) -> tuple[np.ndarray, quant.UniformQuantizedType] | None:
    """The stored integers and type behind a layer's weight-quant chain, or None for float weights."""
    cast = op.operands[1].owner
    if not isinstance(cast, quant.DequantizeCastOp) or not isinstance(cast.input.owner, quant.StorageCastOp):
        return None
    stored = constant_value(cast.input.owner.input)
    if stored is None:
        return None
    return stored, quant.element_type_of(cast.input.type)


def _float_weights(float_module: ModuleOp, count: int) -> list[np.ndarray]:
    layers = [op for op in float_module.walk() if isinstance(op, _LAYERS)]
    if len(layers) != count:
        raise QuantOptError(None, f"bias-correction: the float model has {len(layers)} conv2d / fully_connected "
                                  f"layers, the quantized one {count}; give the model before weight-quant")
    weights = []
    for op in layers:
        w = constant_value(op.operands[1])
        weights.append(None if w is None else np.asarray(w, np.float32))
    return weights


@dataclass
class _LayerError:
    """The running per-channel sum of conv(x, Q - W) over the samples seen."""

    difference: object  # x -> the layer's output with weights Q - W and no bias
    total: np.ndarray
    count: int = 0

    def add(self, x: Array) -> None:
        y = self.difference(x)
        self.total += y.reshape(-1, y.shape[-1]).sum(axis=0, dtype=np.float64)
        self.count += y.size // y.shape[-1]


def _difference_kernel(op: Operation, delta: np.ndarray):
    if isinstance(op, lite.Conv2DOp):
        return conv.conv2d(lite.shape_of(op.input), delta, None, op.int_list("strides"), op.int_list("dilations"),
                           op.int_list("pads"), op.properties["group"].value.data)
    return conv.fully_connected(lite.shape_of(op.input)[0], delta, None)


def _measured_layers(module: ModuleOp, float_module: ModuleOp) -> dict[Operation, _LayerError]:
    """The layers with quantized weights, each with its (empty) error accumulator."""
    layers = [op for op in module.walk() if isinstance(op, _LAYERS)]
    errors = {}
    for op, w in zip(layers, _float_weights(float_module, len(layers))):
        found = _quantized_weight(op)
        if found is None:
            continue
        stored, qtype = found
        q = dequantize(stored, qtype)
        if w is None or w.shape != q.shape:
            raise QuantOptError(None, f"bias-correction: layer {layer_name(op)} has weights {list(q.shape)}, its "
                                      f"float counterpart {None if w is None else list(w.shape)}")
        # Quantized weights stay within a step of the float ones (clipping aside): a larger mean distance
        # means the float model is not this graph before weight-quant (e.g. batch norm folded differently).
        if np.abs(q - w).mean() > np.mean(qtype.scale_values):
            raise QuantOptError(None, f"bias-correction: the float weights of layer {layer_name(op)} are not the "
                                      "ones it was quantized from; give the model as weight-quant saw it")
        errors[op] = _LayerError(_difference_kernel(op, q - w), np.zeros(q.shape[0]))
    return errors


def _recording(builder: KernelBuilder, errors: dict[Operation, _LayerError]) -> KernelBuilder:
    """`builder`, with the measured layers also adding their input's error to their accumulator."""

    def build(op: Operation, const: ConstantLookup) -> Kernel:
        kernel = builder(op, const)
        error = errors.get(op)
        if error is None:
            return kernel
        position = list(kernel.inputs).index(op.operands[0])

        def run(*inputs: Array) -> Array:
            error.add(inputs[position])
            return kernel.fn(*inputs)

        return Kernel(run, kernel.inputs)

    return build


def _set_bias(op: Operation, bias: np.ndarray) -> None:
    """Give `op` the float bias `bias` (a new constant; the old one is erased when nothing else reads it)."""
    constant = constant_op(bias.astype(np.float32))
    old = op.operands[2] if len(op.operands) > 2 else None
    if old is not None and old.name_hint:
        constant.result.name_hint = old.name_hint
    op.parent_block().insert_op_before(constant, op)
    op.operands = [*op.operands[:2], constant.result]
    if old is not None and not old.uses and isinstance(old.owner, Operation):
        old.owner.parent_block().erase_op(old.owner)


def _bias_of(op: Operation, channels: int) -> np.ndarray | None:
    bias: SSAValue | None = op.bias
    if bias is None:
        return None
    value = constant_value(bias)
    if value is None or value.dtype.kind != "f":
        raise QuantOptError(None, f"bias-correction: layer {layer_name(op)} has a bias that is not a float constant")
    return value.astype(np.float64).reshape(channels)


def correct_biases(module: ModuleOp, float_module: ModuleOp, samples: Iterable[Sequence[np.ndarray]]
                   ) -> list[BiasCorrection]:
    """Correct the biases of `module` (the QDQ form) in place from the calibration `samples` (each a list of
    input arrays); `float_module` is the same graph before weight-quant. Returns one row per layer."""
    from quantopt.backends.reference.executor import Executor
    from quantopt.backends.reference.int8_kernels import KERNELS

    errors = _measured_layers(module, float_module)
    if not errors:
        return []
    kernels = {**KERNELS, **{t: _recording(KERNELS[t], errors) for t in _LAYERS}}
    executor = Executor(module, kernels=kernels, fuse_activations=False)
    seen = 0
    for sample in samples:
        executor.run(list(sample))
        seen += 1
    if not seen:
        raise QuantOptError(None, "bias-correction: no calibration samples")
    report = []
    for op, error in errors.items():
        shift = error.total / max(error.count, 1)
        old = _bias_of(op, len(shift))
        _set_bias(op, (np.zeros_like(shift) if old is None else old) - shift)
        report.append(BiasCorrection(op.name, layer_name(op), len(shift), float(np.abs(shift).mean()),
                                     float(np.abs(shift).max()), old is None))
    return report


def float_model_for(path: str) -> ModuleOp:
    """The float graph as the quantization pipeline starts from it: imported, batch norms folded, relu / relu6
    fused (the passes that run before weight-quant)."""
    from quantopt.api import import_model
    from quantopt.context import make_context
    from quantopt.passes.fold_batchnorm import FoldBatchNormPass
    from quantopt.passes.fuse_activation import FuseActivationPass

    module = import_model(path)
    FoldBatchNormPass().apply(make_context(), module)
    FuseActivationPass().apply(make_context(), module)
    return module


def correct_biases_from_config(module: ModuleOp, float_module: ModuleOp, config) -> list[BiasCorrection]:
    """`correct_biases` over the calibration set of a config file (path or `CalibrationConfig`)."""
    from quantopt.passes.calibrate import model_inputs
    from quantopt.passes.calibration_config import list_calibration_samples, read_calibration_config, read_sample

    if isinstance(config, str):
        config = read_calibration_config(config)
    inputs = model_inputs(module)
    files = list_calibration_samples(config, inputs)
    return correct_biases(module, float_module, (read_sample(f, inputs) for f in files))


@dataclass(frozen=True)
class BiasCorrectionPass(ModulePass):
    """
    Guarantees: every conv2d and fully_connected layer with quantized weights (the weight-quant chain) has a
    float constant bias from which the mean per-channel error of its quantized weights, measured on its own
    quantized input over the calibration set of `config`, has been subtracted (a bias is created where there
    was none). `float-model` is the original model file, imported and run through fold-batchnorm and
    fuse-activation to recover the float weights; its layers must match this graph's. Nothing else changes.
    Run it on the QDQ form, before lower-to-int8.
    """

    name = "bias-correction"

    config: str
    float_model: str

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        correct_biases_from_config(op, float_model_for(self.float_model), self.config)
