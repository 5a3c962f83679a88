"""Uniform quantization arithmetic shared by the quantization passes (numpy, vectorised over channels)."""

from __future__ import annotations

import numpy as np


def signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def storage_width(bits: int) -> int:
    """Narrowest storage integer that holds `bits`-bit values: i8 up to 8 bits, i16 up to 16."""
    return 8 if bits <= 8 else 16


def asymmetric_params(lo: np.ndarray, hi: np.ndarray, qmin: int, qmax: int) -> tuple[np.ndarray, np.ndarray]:
    """MindSpore Lite's CalQuantizationParams: the range is widened to contain 0 so that 0 is exact, then
    scale = (hi - lo) / (qmax - qmin), zero_point = round(qmin - lo / scale). A channel that is all zeros
    gets scale 1 (any positive scale represents it exactly)."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    scale = (hi - lo) / (qmax - qmin)
    scale = np.where(scale > 0, scale, 1.0)
    zero_point = np.clip(np.round(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return scale, zero_point


def quantize(x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    """Round half to even (numpy's rounding), then clamp to the storage range."""
    return np.clip(np.round(x / scale) + zero_point, qmin, qmax)


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    return (q - zero_point) * scale


def channels_first(w: np.ndarray, axis: int) -> np.ndarray:
    """View `w` as [channels, elements per channel] with channels along `axis`."""
    return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def per_channel_params(w2d: np.ndarray, bits: int, search_clip: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point per row of `w2d`. With `search_clip`, each row's [min, max] is shrunk by the
    factor in [0.5, 1] that minimises that row's squared quantization error (outlier clipping)."""
    qmin, qmax = signed_range(bits)
    w2d = w2d.astype(np.float64)
    lo, hi = w2d.min(axis=1), w2d.max(axis=1)
    scale, zero_point = asymmetric_params(lo, hi, qmin, qmax)
    if not search_clip:
        return scale, zero_point
    best_err = _row_error(w2d, scale, zero_point, qmin, qmax)
    for factor in np.linspace(0.5, 1.0, 26)[:-1]:
        s, z = asymmetric_params(lo * factor, hi * factor, qmin, qmax)
        err = _row_error(w2d, s, z, qmin, qmax)
        better = err < best_err
        scale, zero_point, best_err = np.where(better, s, scale), np.where(better, z, zero_point), np.minimum(err, best_err)
    return scale, zero_point


def shared_grid_params(lo: np.ndarray, hi: np.ndarray, qmin: int, qmax: int,
                       tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Scale and zero point per row for the range [lo, hi] (widened to contain 0), taken from one grid for
    the whole model so that rows with similar ranges get equal parameters, which a `.ms` file stores once
    (per-channel QuantParam tables are otherwise a large share of a weight-quantized model). The grid:
    scales are the powers of 1 + tolerance/2, zero points the multiples of the largest power of two that is
    at most tolerance * (qmax - qmin) (and qmin, qmax themselves, for one-signed rows). Of the grid points
    whose range [scale * (qmin - zp), scale * (qmax - zp)] covers the row's, the one with the smallest scale
    is taken: nothing is clipped, and a scale grows by about tolerance at most (half of it on average)."""
    lo = np.minimum(np.asarray(lo, np.float64), 0.0)
    hi = np.maximum(np.asarray(hi, np.float64), 0.0)
    ratio = 1.0 + tolerance / 2
    step = 1 << max(int(np.floor(np.log2(max(tolerance * (qmax - qmin), 1.0)))), 0)
    zero_points = sorted({*range(qmin + (-qmin) % step, qmax + 1, step), qmin, qmax})
    best_scale = np.full(lo.shape, np.inf)
    best_zero = np.zeros(lo.shape, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        for z in zero_points:
            need_lo = np.where(lo < 0, -lo / (z - qmin) if z > qmin else np.inf, 0.0)
            need_hi = np.where(hi > 0, hi / (qmax - z) if z < qmax else np.inf, 0.0)
            need = np.maximum(need_lo, need_hi)
            exponent = np.ceil(np.log(np.where(need > 0, need, 1.0)) / np.log(ratio) - 1e-9)
            scale = np.where(np.isfinite(need), ratio ** exponent, np.inf)
            better = scale < best_scale
            best_scale = np.where(better, scale, best_scale)
            best_zero = np.where(better, z, best_zero)
    return best_scale, best_zero


def _row_error(w2d, scale, zero_point, qmin, qmax) -> np.ndarray:
    s, z = scale[:, None], zero_point[:, None]
    return np.square(dequantize(quantize(w2d, s, z, qmin, qmax), s, z) - w2d).sum(axis=1)


def balanced_round(x: np.ndarray, qmin: int, qmax: int) -> np.ndarray:
    """Round each row of `x` (real values on the integer grid) to integers whose rounding errors sum to
    (nearly) zero: round to nearest, then move the ⌊|Σ error| + ½⌋ elements that were rounded furthest in
    the offending direction to their other neighbour. A layer's output error is Σ_k Δw_k x_k; with inputs
    of similar mean this keeps its expected value at zero (the effect MindSpore Lite's meanCorr corrects
    after the fact), for at most one extra half step on a few weights."""
    q = np.round(x)
    err = q - x
    excess = np.round(err.sum(axis=1)).astype(np.int64)
    order = np.argsort(-err * np.sign(excess)[:, None], axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(x.shape[1])[None, :].repeat(x.shape[0], 0), axis=1)
    move = rank < np.abs(excess)[:, None]
    q = q - move * np.sign(excess)[:, None]
    return np.clip(q, qmin, qmax)
