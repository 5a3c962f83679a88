"""Turn calibration statistics into activation quantization: each `quant.observe` becomes a QDQ pair.

    %y = quant.observe %x {id = 3 : i64, range = ..., histogram = ...} : tensor<1x8xf32>
becomes
    %q = quant.qcast %x : tensor<1x8xf32> to tensor<1x8x!quant.uniform<i8<-127:127>:f32, 0.0236>>
    %y = quant.dcast %q : tensor<1x8x!quant.uniform<i8<-127:127>:f32, 0.0236>> to tensor<1x8xf32>

Scales follow MindSpore Lite r1.3 (`post_training_quantizer.cc`, `DivergInfo::GetScale` / `GetZeropoint`),
whose int8 activations use the narrow range [-(2^(b-1) - 1), 2^(b-1) - 1], i.e. [-127, 127] at 8 bits:

- MAX_MIN: T = max(|min|, |max|); scale = 2T / (qmax - qmin) (2T/254 at 8 bits), zero point 0.
- KL: T from TensorRT's entropy calibration of the |x| histogram (`calibration_stats.kl_threshold`);
  scale = 2T / (qmax - qmin), zero point 0.
- REMOVAL_OUTLIER: [lo, hi] = (10th percentile of the per-sample minima, 90th of the maxima);
  scale = (hi - lo) / (qmax - qmin), zero point round(qmax - hi / scale). Upstream leaves [lo, hi] as it
  is; here it is widened to contain 0 first, so that 0 (padding, relu) stays exact and the zero point
  stays in range.

A tensor whose range is all zeros gets scale 1 (any positive scale represents it exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from quantopt.dialects.quant import DequantizeCastOp, ObserveOp, QuantizeCastOp, UniformQuantizedType
from quantopt.errors import QuantOptError
from quantopt.passes.calibrate import statistics_of
from quantopt.passes.calibration_config import canonical_method
from quantopt.passes.calibration_stats import TensorStats, kl_threshold, max_min_threshold, outlier_range


@dataclass(frozen=True)
class ActivationParams:
    scale: float
    zero_point: int
    qmin: int
    qmax: int
    lo: float  # the clipping range the parameters represent
    hi: float


def narrow_range(bits: int) -> tuple[int, int]:
    if not 2 <= bits <= 8:
        raise QuantOptError(None, f"lower-calibration: bits must be in [2, 8], got {bits} (the narrow signed "
                                  "range of 1 bit holds only 0)")
    qmax = (1 << (bits - 1)) - 1
    return -qmax, qmax


def activation_params(stats: TensorStats, method: str, bits: int) -> ActivationParams:
    """Scale and zero point of a tensor with `stats` under `method` (KL, MAX_MIN or REMOVAL_OUTLIER)."""
    qmin, qmax = narrow_range(bits)
    if method == "REMOVAL_OUTLIER":
        lo, hi = outlier_range(stats)
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo:
            return ActivationParams(1.0, 0, qmin, qmax, lo, hi)
        scale = (hi - lo) / (qmax - qmin)
        zero_point = min(max(_round_half_away(qmax - hi / scale), qmin), qmax)
        return ActivationParams(scale, zero_point, qmin, qmax, lo, hi)
    threshold = max_min_threshold(stats) if method == "MAX_MIN" else kl_threshold(stats)
    scale = 2 * threshold / (qmax - qmin) if threshold > 0 else 1.0
    return ActivationParams(scale, 0, qmin, qmax, -threshold, threshold)


def _round_half_away(value: float) -> int:
    """std::round, as upstream rounds its zero points."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def lower_calibration(module: ModuleOp, method: str = "KL", bits: int = 8) -> dict[int, ActivationParams]:
    """Replace every calibrated observer by its QDQ pair; return the parameters chosen, by observer id."""
    try:
        method = canonical_method(method)
    except ValueError as err:
        raise QuantOptError(None, f"lower-calibration: {err}") from None
    narrow_range(bits)
    chosen = {}
    for observer in [op for op in module.walk() if isinstance(op, ObserveOp)]:
        params = activation_params(statistics_of(observer), method, bits)
        _replace_by_qdq(observer, params)
        chosen[observer.observer_id] = params
    return chosen


def _replace_by_qdq(observer: ObserveOp, params: ActivationParams) -> None:
    value_type = observer.input.type
    assert isinstance(value_type, TensorType)
    qtype = UniformQuantizedType.get(params.scale, params.zero_point, width=8, qmin=params.qmin, qmax=params.qmax,
                                     expressed=value_type.element_type)
    quantize = QuantizeCastOp(observer.input, TensorType(qtype, value_type.get_shape()))
    dequantize = DequantizeCastOp(quantize.result, value_type)
    Rewriter.insert_op([quantize, dequantize], InsertPoint.before(observer))
    dequantize.result.name_hint = observer.result.name_hint
    observer.result.replace_all_uses_with(dequantize.result)
    observer.detach()
    observer.erase()


@dataclass(frozen=True)
class LowerCalibrationPass(ModulePass):
    """
    Guarantees: no `quant.observe` is left; each one is replaced by `quant.qcast` of its input to
    `!quant.uniform<i8<-q:q>:f32, scale[:zero_point]>` (q = 2^(bits-1) - 1) followed by `quant.dcast` back
    to float, which every former user reads (the fake-quantized form `lower-to-int8` consumes). Scales
    follow MindSpore Lite r1.3 for `method` = KL, MAX_MIN or REMOVAL_OUTLIER (see the module docstring);
    every scale is positive and finite. Fails on an observer without statistics (run `calibrate` first).
    """

    name = "lower-calibration"

    method: str = "KL"
    bits: int = 8

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_calibration(op, self.method, self.bits)
