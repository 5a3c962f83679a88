"""Quantize constant weights to `bits`-bit integers, keeping float inference (MindSpore Lite WeightQuant)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from quantopt.dialects import lite, quant
from quantopt.errors import QuantOptError
from quantopt.dialects.constant import constant_op, constant_value
from quantopt.passes.quant_math import (
    balanced_round,
    channels_first,
    per_channel_params,
    quantize,
    shared_grid_params,
    signed_range,
    storage_width,
)

_INTEGER_DTYPE = {8: np.int8, 16: np.int16}


@dataclass
class LayerDecision:
    op_name: str
    layer: str
    elements: int
    channels: int
    quantized: bool
    reason: str
    bits: int | None = None


def weight_operand(op: Operation) -> tuple[SSAValue, int, bool] | None:
    """(weight value, output-channel axis, is a convolution) for ops whose weights we quantize."""
    if isinstance(op, lite.Conv2DOp | lite.Conv2DTransposeOp):
        return op.filter, 0, True
    if isinstance(op, lite.FullyConnectedOp):
        return op.weight, 0, False
    if isinstance(op, lite.MatMulOp):
        return op.rhs, (len(lite.shape_of(op.rhs)) - 2 if op.bool_prop("transpose_b") else -1), False
    return None


def layer_name(op: Operation) -> str:
    attr = op.attributes.get("name")
    if attr is not None:
        return attr.data
    result = op.results[0]
    return result.name_hint or f"{op.name}#{id(op) % 10000}"


def unknown_layers(module: ModuleOp, names: Iterable[str]) -> list[str]:
    """The names that are no lite op's `layer_name` in `module` (for a warning about a skip list)."""
    known = {layer_name(op) for op in module.walk() if op.dialect_name() == "lite" and op.results}
    return [n for n in names if n not in known]


def _skip_reason(weights: np.ndarray, axis: int, is_conv: bool, pass_: "WeightQuantPass") -> str | None:
    channels = weights.shape[axis]
    if weights.size < pass_.min_size:
        return f"{weights.size} elements < min-size {pass_.min_size}"
    if is_conv and channels <= pass_.min_channel:
        return f"{channels} channels <= min-channel {pass_.min_channel}"
    per_channel = weights.size // channels
    if pass_.per_channel and per_channel < pass_.min_channel_elements:
        return f"{per_channel} elements per channel < {pass_.min_channel_elements}"
    return None


def quantize_weight(weights: np.ndarray, axis: int, bits: int, per_channel: bool, search_clip: bool,
                    balance: bool = False, share_tolerance: float = 0.0):
    """Integer storage array and its `!quant.uniform` type. With `share_tolerance` > 0 the parameters are
    moved onto the model-wide grid of `shared_grid_params`, to the grid point whose range covers theirs."""
    qmin, qmax = signed_range(bits)
    axis = axis % weights.ndim
    rows = channels_first(weights, axis) if per_channel else weights.reshape(1, -1)
    scale, zero_point = per_channel_params(rows, bits, search_clip)
    if share_tolerance > 0:  # the grid point covering the range the parameters represent
        scale, zero_point = shared_grid_params(scale * (qmin - zero_point), scale * (qmax - zero_point), qmin, qmax,
                                               share_tolerance)
    if balance:
        q_rows = balanced_round(rows.astype(np.float64) / scale[:, None] + zero_point[:, None], qmin, qmax)
    else:
        q_rows = quantize(rows.astype(np.float64), scale[:, None], zero_point[:, None], qmin, qmax)
    width = storage_width(bits)
    if per_channel:
        moved = (weights.shape[axis],) + tuple(np.delete(weights.shape, axis))
        q = np.moveaxis(q_rows.reshape(moved), 0, axis)
        qtype = quant.UniformQuantizedType.get(scale, zero_point, axis=axis, width=width, qmin=qmin, qmax=qmax)
    else:
        q = q_rows.reshape(weights.shape)
        qtype = quant.UniformQuantizedType.get(float(scale[0]), int(zero_point[0]), width=width, qmin=qmin, qmax=qmax)
    return np.ascontiguousarray(q.astype(_INTEGER_DTYPE[width])), qtype


@dataclass(frozen=True)
class WeightQuantPass(ModulePass):
    """
    Guarantees: the constant float weight of every conv2d, conv2d_transpose, fully_connected and matmul
    (rhs) that passes the thresholds is replaced by `arith.constant` integer data, a `quant.scast` to
    `!quant.uniform` (per output channel unless per-channel=false) and a `quant.dcast` back to f32, so the
    graph still runs in float. Ranges follow MindSpore Lite: [-2^(b-1), 2^(b-1)-1], asymmetric, with the
    real range widened to contain 0. Skipped: conv weights with fewer than `min-size` elements or at most
    `min-channel` output channels, fc/matmul weights below `min-size`, and (per channel) layers with fewer
    than `min-channel-elements` weights per channel, whose per-channel parameters would outweigh the saving.
    `float-fraction` leaves in float the smallest of the remaining layers that together hold at most that
    fraction of their weights: small layers (the first convolutions, few channels) carry a share of the
    output error far above their share of the bytes.
    `search-clip` picks each channel's clipping range by minimising its squared error; `balance-rounding`
    makes each channel's rounding errors sum to zero (see `balanced_round`); `share-tolerance` > 0 takes
    scales and zero points from one grid for the whole model (see `shared_grid_params`), letting a scale grow
    by up to that fraction so that channels share QuantParam tables in the `.ms` file. `skip` is a
    comma-separated list of layers (output tensor names, `layer_name`) left in float. `mixed=true` gives
    each layer the fewest bits in 2..8 that keep the model's output error under the `mean_error_threshold`
    of the calibration config `config`, searched on its samples (see passes/mixed_bit.py; `bits` is then
    ignored).
    """

    name = "weight-quant"

    bits: int = 8
    per_channel: bool = True
    min_size: int = 0
    min_channel: int = 0
    min_channel_elements: int = 0
    search_clip: bool = False
    balance_rounding: bool = False
    share_tolerance: float = 0.0
    float_fraction: float = 0.0
    skip: str = ""
    mixed: bool = False
    config: str = ""

    @property
    def skip_names(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.skip.split(",") if n.strip())

    def __post_init__(self):
        if not 1 <= self.bits <= 16:
            raise ValueError(f"weight-quant: bits must be in [1, 16], got {self.bits}")
        if not 0 <= self.share_tolerance <= 1:
            raise ValueError(f"weight-quant: share-tolerance must be in [0, 1], got {self.share_tolerance}")
        if not 0 <= self.float_fraction < 1:
            raise ValueError(f"weight-quant: float-fraction must be in [0, 1), got {self.float_fraction}")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.mixed:
            quantize_weights(op, self)
            return
        from quantopt.passes.calibration_config import read_calibration_config
        from quantopt.passes.mixed_bit import SEARCH_SAMPLES, quantize_weights_mixed
        from quantopt.tools.debug_report import config_samples

        if not self.config:
            raise QuantOptError(None, "weight-quant: mixed=true needs config=<calibration config file> (the "
                                      "samples the bits are searched on, and mean_error_threshold)")
        config = read_calibration_config(self.config)
        samples = [s for _, s in zip(range(SEARCH_SAMPLES), config_samples(config, op))]
        quantize_weights_mixed(op, samples, config.mean_error_threshold, self)


SKIPPED = "in the skip list (skip_quant_node)"


@dataclass
class WeightCandidate:
    op: Operation
    value: SSAValue
    weights: np.ndarray
    axis: int
    name: str
    skip_reason: str | None


def weight_candidates(module: ModuleOp, options: WeightQuantPass) -> list[WeightCandidate]:
    """Every op with a constant float weight we could quantize, in graph order, with why it is skipped
    under `options` (None when it is quantized)."""
    candidates = []
    for op in module.walk():
        found = weight_operand(op)
        if found is None:
            continue
        value, axis, is_conv = found
        weights = constant_value(value)
        if weights is None or weights.dtype != np.float32:
            continue
        axis %= weights.ndim
        name = layer_name(op)
        if not np.isfinite(weights).all():
            raise QuantOptError(None, f"layer '{name}' has NaN or infinite weights", "weight quantization")
        reason = SKIPPED if name in options.skip_names else _skip_reason(weights, axis, is_conv, options)
        candidates.append(WeightCandidate(op, value, weights, axis, name, reason))
    if options.float_fraction > 0:
        _keep_smallest_float(candidates, options.float_fraction)
    return candidates


def _keep_smallest_float(candidates: list[WeightCandidate], fraction: float) -> None:
    """Mark the smallest quantizable layers, together at most `fraction` of their weights, to stay float."""
    quantizable = [c for c in candidates if c.skip_reason is None]
    budget = fraction * sum(c.weights.size for c in quantizable)
    kept = 0
    for c in sorted(quantizable, key=lambda c: c.weights.size):  # stable: graph order among equal sizes
        if kept + c.weights.size > budget:
            break
        kept += c.weights.size
        c.skip_reason = f"{c.weights.size} elements, in the smallest layers kept float ({fraction:.1%} of the weights)"


def quantize_weights(module: ModuleOp, options: WeightQuantPass,
                     bits_by_layer: Mapping[str, int] | None = None) -> list[LayerDecision]:
    """Apply weight quantization in place; return one decision per candidate layer, in graph order.
    `bits_by_layer` overrides `options.bits` for the layers it names (mixed-bit quantization)."""
    decisions = []
    for c in weight_candidates(module, options):
        quantized = c.skip_reason is None
        bits = (bits_by_layer or {}).get(c.name, options.bits)
        decisions.append(LayerDecision(c.op.name, c.name, c.weights.size, c.weights.shape[c.axis], quantized,
                                       c.skip_reason or "", bits if quantized else None))
        if quantized:
            _replace_weight(c.op, c.value, c.weights, c.axis, replace(options, bits=bits))
    return decisions


def _replace_weight(target: Operation, value: SSAValue, weights: np.ndarray, axis: int,
                    options: WeightQuantPass) -> None:
    q, qtype = quantize_weight(weights, axis, options.bits, options.per_channel, options.search_clip,
                               options.balance_rounding, options.share_tolerance)
    data = constant_op(q)
    storage = quant.StorageCastOp(data.result, TensorType(qtype, weights.shape))
    dequant = quant.DequantizeCastOp(storage.result, TensorType(f32, weights.shape))
    target.parent_block().insert_ops_before([data, storage, dequant], target)
    target.operands = [dequant.result if operand is value else operand for operand in target.operands]
    if not value.uses and isinstance(value.owner, Operation):
        value.owner.parent_block().erase_op(value.owner)
