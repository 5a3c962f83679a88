"""Streaming, mergeable statistics of one observed tensor, and the clipping ranges read from them.

`TensorStats.add` takes one sample's tensor and keeps, in memory independent of the number of samples
except for two float32 per sample:

- the running min and max;
- each sample's own min and max (MindSpore Lite's RemovalOutlier works on these);
- a `HISTOGRAM_BINS`-bin histogram of the non-zero |x| (zeros are skipped, as MindSpore Lite does).

The histogram covers [0, 2^exp) for the smallest exp with max|x| < 2^exp, so the bin of a value is
floor(|x| * 2^(11 - exp)): a product by a power of two, exact in floating point. When a later sample
(or a merged partner) needs a larger exp, the bins are summed in aligned groups of 2^(exp' - exp), which
puts every earlier value exactly where it would have gone on the wider grid. The histogram is therefore a
function of the set of values alone, whatever the order or grouping of the samples: `merge` is
associative and commutative on it, and splitting the calibration set between workers gives exactly the
histogram of a single pass. (MindSpore Lite instead runs the set twice, once to find max|x|, then to fill
2048 bins over [0, max|x|]; here max|x| lies in the upper half of the range, so 1025 to 2048 bins span
[0, max|x|].) Per-sample extremes are concatenated in sample order, so merging consecutive chunks in order
reproduces them too.

The second half reads clipping ranges from the statistics as MindSpore Lite r1.3 does
(`post_training_quantizer.cc`, `DivergInfo::ComputeThreshold`, `quantize_util.cc`, `OutlierMethod`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping

import numpy as np

HISTOGRAM_BINS = 2048
_LOG2_BINS = 11
KL_QUANTIZED_BINS = 128
OUTLIER_PERCENT = 10


class NonFiniteValueError(ValueError):
    """A tensor held inf or NaN: no range can be calibrated from it."""


class TensorStats:
    """Statistics of one tensor over the samples added so far (see the module docstring)."""

    __slots__ = ("min", "max", "exponent", "histogram", "sample_min", "sample_max")

    def __init__(self) -> None:
        self.min = math.inf
        self.max = -math.inf
        self.exponent: int | None = None  # None until a non-zero value was seen
        self.histogram = np.zeros(HISTOGRAM_BINS, np.int64)
        self.sample_min = array("f")  # the extremes of float32 tensors are float32: stored exactly
        self.sample_max = array("f")

    @property
    def samples(self) -> int:
        return len(self.sample_min)

    @property
    def abs_max(self) -> float:
        return max(-self.min, self.max, 0.0)

    @property
    def bin_width(self) -> float:
        return math.ldexp(1.0, self.exponent or 0) / self.histogram.size

    def add(self, x: np.ndarray) -> None:
        """Record one sample's tensor."""
        lo, hi = float(x.min()), float(x.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise NonFiniteValueError(f"tensor holds non-finite values (min {lo}, max {hi})")
        peak = max(-lo, hi)
        lo, hi = float(np.float32(lo)), float(np.float32(hi))  # no-ops for float32 tensors
        self.sample_min.append(lo)
        self.sample_max.append(hi)
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        if peak == 0.0:
            return
        self._widen_to(math.frexp(peak)[1])  # peak < 2^e
        self.histogram += _abs_counts(x, self.exponent)

    def _widen_to(self, exponent: int) -> None:
        if self.exponent is None:
            self.exponent = exponent
        elif exponent > self.exponent:
            self.histogram = _coarsen(self.histogram, exponent - self.exponent)
            self.exponent = exponent

    def histogram_at(self, exponent: int | None) -> np.ndarray:
        """The histogram on the grid over [0, 2^exponent), exponent >= self.exponent."""
        if self.exponent is None or exponent is None or exponent == self.exponent:
            return self.histogram
        return _coarsen(self.histogram, exponent - self.exponent)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TensorStats) and (self.min, self.max, self.exponent) ==
                (other.min, other.max, other.exponent) and np.array_equal(self.histogram, other.histogram)
                and self.sample_min == other.sample_min and self.sample_max == other.sample_max)

    def __repr__(self) -> str:
        return (f"TensorStats(samples={self.samples}, min={self.min}, max={self.max}, exp={self.exponent}, "
                f"counted={int(self.histogram.sum())})")


def _abs_counts(x: np.ndarray, exponent: int) -> np.ndarray:
    """Counts of the non-zero |x| per bin of width 2^(exponent - 11); every |x| is below 2^exponent."""
    shift = _LOG2_BINS - exponent
    # In float32 the product by 2^shift is exact while 2^shift is a normal float32.
    dtype = np.float32 if x.dtype == np.float32 and -126 <= shift <= 127 else np.float64
    scaled = np.abs(x, dtype=dtype).ravel()
    zeros = scaled.size - np.count_nonzero(scaled.view(np.int32 if dtype == np.float32 else np.int64))  # |x| == 0
    np.multiply(scaled, dtype(math.ldexp(1.0, shift)), out=scaled)
    counts = np.bincount(scaled.astype(np.intp), minlength=HISTOGRAM_BINS)
    counts[0] -= zeros
    return counts


def _coarsen(histogram: np.ndarray, doublings: int) -> np.ndarray:
    """The histogram on a grid 2^doublings times wider: aligned groups of bins summed into the low bins."""
    out = np.zeros_like(histogram)
    group = 1 << min(doublings, 62)
    if group >= histogram.size:
        out[0] = histogram.sum()
    else:
        out[: histogram.size // group] = histogram.reshape(-1, group).sum(axis=1)
    return out


def merge(a: TensorStats, b: TensorStats) -> TensorStats:
    """Statistics of a's samples followed by b's. Associative; the histogram part is also commutative."""
    out = TensorStats()
    out.min, out.max = min(a.min, b.min), max(a.max, b.max)
    exponents = [e for e in (a.exponent, b.exponent) if e is not None]
    out.exponent = max(exponents) if exponents else None
    out.histogram = a.histogram_at(out.exponent) + b.histogram_at(out.exponent)
    out.sample_min = a.sample_min + b.sample_min
    out.sample_max = a.sample_max + b.sample_max
    return out


def merge_all(parts: Iterable[Mapping[int, TensorStats]]) -> dict[int, TensorStats]:
    """Merge per-observer statistics of consecutive chunks of the calibration set, in chunk order."""
    merged: dict[int, TensorStats] = {}
    for part in parts:
        for key, stats in part.items():
            merged[key] = merge(merged[key], stats) if key in merged else stats
    return merged


# -- clipping ranges -------------------------------------------------------------------------------------


def max_min_threshold(stats: TensorStats) -> float:
    """MAX_MIN: T = max(|min|, |max|), quantized symmetrically to [-T, T]."""
    return stats.abs_max


def kl_threshold(stats: TensorStats) -> float:
    """KL: TensorRT's entropy calibration on the |x| histogram, T = (i + 0.5) * bin width for the best i.

    Candidates run up to the last non-zero bin (upstream's histogram ends at max|x|, so does its search).
    With no more than `KL_QUANTIZED_BINS` bins up to there, nothing can be clipped and T = max|x|.
    """
    nonzero = np.flatnonzero(stats.histogram)
    if nonzero.size == 0 or nonzero[-1] < KL_QUANTIZED_BINS:
        return stats.abs_max
    best = kl_best_bin(stats.histogram[: nonzero[-1] + 1])
    return (best + 0.5) * stats.bin_width


def kl_divergences(histogram: np.ndarray, quantized_bins: int = KL_QUANTIZED_BINS) -> np.ndarray:
    """KL(P || Q) for every candidate threshold bin i in [quantized_bins, len(histogram)), as MindSpore Lite
    computes it (`DivergInfo::ComputeThreshold`):

    - P is histogram[:i] with the counts of bins i and above added to bin i - 1;
    - Q merges histogram[:i] (without those outliers) into `quantized_bins` levels of i / quantized_bins
      bins each, splitting bins that straddle a level boundary in proportion, then spreads each level's
      count evenly over the non-zero bins it covers (again in proportion for straddling bins);
    - both are normalised; a bin with p > 0 and q = 0 adds 1.

    Vectorised over candidates. For a bin wholly inside level j, q is that level's average, so the sum of
    p log(p / q) over such bins needs only prefix sums of h and h log h; the at most two bins per level that
    straddle a boundary, and the last bin (which holds the outliers), are handled one by one.
    """
    h = np.asarray(histogram, np.float64)
    n = h.size
    candidates = np.arange(quantized_bins, n)
    if not candidates.size or not h.any():
        return np.full(candidates.size, np.inf)
    nonzero = (h != 0).astype(np.float64)
    hlogh = np.zeros(n)
    hlogh[h > 0] = h[h > 0] * np.log(h[h > 0])
    prefix = np.concatenate([[0.0], np.cumsum(h)])          # prefix[k] = sum(h[:k])
    prefix_nz = np.concatenate([[0.0], np.cumsum(nonzero)])
    prefix_hlogh = np.concatenate([[0.0], np.cumsum(hlogh)])
    total = prefix[-1]

    i = candidates[:, None].astype(np.float64)
    edges = np.arange(quantized_bins + 1)[None, :] * i / quantized_bins   # exact: i * j / 2^7
    edge_bin = np.floor(edges).astype(np.intp)
    edge_frac = edges - edge_bin
    capped = np.minimum(edge_bin, n - 1)

    def at_edges(prefix_sums: np.ndarray, values: np.ndarray) -> np.ndarray:
        return prefix_sums[edge_bin] + edge_frac * values[capped]

    level_counts = np.diff(at_edges(prefix, h), axis=1)
    level_nonzero = np.diff(at_edges(prefix_nz, nonzero), axis=1)
    average = np.divide(level_counts, level_nonzero, out=np.zeros_like(level_counts), where=level_nonzero > 0)

    # Bins wholly inside level j: ceil(start_j) <= k < floor(end_j), excluding the last bin i - 1.
    first = np.ceil(edges[:, :-1]).astype(np.intp)
    last = np.minimum(edge_bin[:, 1:], candidates[:, None] - 1)
    inside = np.maximum(last - first, 0) > 0
    inside_counts = np.where(inside, prefix[last] - prefix[first], 0.0)
    log_average = np.log(np.where(average > 0, average, 1.0))
    sum_h_log_q = np.sum(inside_counts * log_average, axis=1)

    # Bins straddling the boundary between levels j and j + 1 (j < last level): q mixes both averages.
    straddle_bin = capped[:, 1:-1]
    straddle = edge_frac[:, 1:-1] > 0
    straddle_h = np.where(straddle, h[straddle_bin], 0.0)
    mixed = average[:, :-1] * edge_frac[:, 1:-1] + average[:, 1:] * (1 - edge_frac[:, 1:-1])
    sum_h_log_q += np.sum(np.where(straddle_h > 0, straddle_h * np.log(np.where(mixed > 0, mixed, 1.0)), 0.0),
                          axis=1)

    # Every bin below i - 1 with h > 0: sum of p (log p - log q) with p = h / total, q = Q / prefix[i].
    below = candidates - 1
    kept = prefix[below]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_norm = np.log(prefix[candidates]) - math.log(total)
        divergence = (prefix_hlogh[below] - sum_h_log_q + kept * log_norm) / total
        # The last bin: p holds h[i - 1] plus the outliers, q the last level's average.
        last_p = h[below] + (total - prefix[candidates])
        last_term = last_p / total * (np.log(last_p) - np.log(average[:, -1]) + log_norm)
    last_term = np.where(h[below] > 0, last_term, np.where(last_p > 0, 1.0, 0.0))
    # With nothing below i, Q is 0/0 and upstream's comparison with NaN never picks the candidate.
    return np.where(prefix[candidates] > 0, divergence + last_term, np.inf)


def kl_best_bin(histogram: np.ndarray, quantized_bins: int = KL_QUANTIZED_BINS) -> int:
    """The candidate bin with the least divergence (the first on ties), `quantized_bins` when none."""
    divergences = kl_divergences(histogram, quantized_bins)
    if not divergences.size or not np.isfinite(divergences).any():
        return quantized_bins
    return quantized_bins + int(np.argmin(divergences))


def outlier_range(stats: TensorStats, percent: int = OUTLIER_PERCENT) -> tuple[float, float]:
    """RemovalOutlier: the `percent`-th percentile of the per-sample minima and the (100 - percent)-th of
    the per-sample maxima, with MindSpore Lite's `CalPercentile` (the mean of two neighbours when the rank
    is whole). Upstream's refinement loop after that always stops at its first step (its index ratio is
    0 there), so these percentiles are its result."""
    return (_percentile(sorted(stats.sample_min), percent),
            _percentile(sorted(stats.sample_max), 100 - percent))


def _percentile(ordered: list[float], percent: int) -> float:
    """`CalPercentile` in its float32 arithmetic (so that 10% of 30 samples is rank 3, not 3.0000000000000004)."""
    rank = np.float32(percent / 100 * len(ordered))
    index = math.ceil(rank)
    if index - rank > 0:
        return ordered[index - 1]
    return float((np.float32(ordered[index - 1]) + np.float32(ordered[index])) / np.float32(2))
