"""Streaming calibration statistics: exact histograms under growth and merging, and the clipping ranges
(MAX_MIN, KL against a direct port of MindSpore Lite's loop, RemovalOutlier percentiles)."""

import math

import numpy as np
import pytest

from quantopt.passes.calibration_stats import (
    HISTOGRAM_BINS,
    NonFiniteValueError,
    TensorStats,
    kl_divergences,
    kl_threshold,
    max_min_threshold,
    merge,
    merge_all,
    outlier_range,
)


def stats_of(samples) -> TensorStats:
    stats = TensorStats()
    for x in samples:
        stats.add(x)
    return stats


def random_samples(seed: int, count: int = 9) -> list[np.ndarray]:
    """Samples whose ranges grow and shrink, so the histogram is widened several times, with exact zeros."""
    rng = np.random.default_rng(seed)
    samples = []
    for k in range(count):
        x = (rng.standard_normal((2, 5, 7)) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
        x[x < np.quantile(x, 0.2)] = 0.0
        samples.append(x)
    return samples


def expected_histogram(samples, exponent: int) -> np.ndarray:
    """Direct definition: non-zero |x| binned by floor(|x| * 2048 / 2^exponent), in float64."""
    values = np.abs(np.concatenate([x.ravel() for x in samples]).astype(np.float64))
    values = values[values != 0]
    return np.bincount(np.floor(values * HISTOGRAM_BINS / 2.0**exponent).astype(int), minlength=HISTOGRAM_BINS)


@pytest.mark.parametrize("seed", range(5))
def test_histogram_is_exact_on_the_final_grid(seed):
    samples = random_samples(seed)
    stats = stats_of(samples)
    peak = max(float(np.abs(x).max()) for x in samples)
    assert 2.0 ** (stats.exponent - 1) <= peak < 2.0**stats.exponent
    np.testing.assert_array_equal(stats.histogram, expected_histogram(samples, stats.exponent))
    assert (stats.min, stats.max) == (min(float(x.min()) for x in samples), max(float(x.max()) for x in samples))
    assert list(stats.sample_min) == [float(x.min()) for x in samples]


@pytest.mark.parametrize("seed", range(5))
def test_merge_of_any_split_equals_one_pass(seed):
    samples = random_samples(seed)
    one_pass = stats_of(samples)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        cuts = sorted(rng.choice(np.arange(1, len(samples)), size=rng.integers(1, 5), replace=False))
        bounds = [0, *cuts, len(samples)]
        parts = [{7: stats_of(samples[lo:hi])} for lo, hi in zip(bounds, bounds[1:])]
        assert merge_all(parts)[7] == one_pass


def test_merge_is_associative_and_histograms_commute():
    a, b, c = (stats_of(random_samples(seed, 3)) for seed in (10, 11, 12))
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    np.testing.assert_array_equal(merge(a, b).histogram, merge(b, a).histogram)
    assert merge(TensorStats(), a) == a == merge(a, TensorStats())


def test_zeros_are_not_counted():
    stats = stats_of([np.array([0.0, -0.0, 0.0, 1.5, -1.5], np.float32)])
    assert stats.histogram.sum() == 2 and stats.histogram[1536] == 2  # 1.5 < 2^1: bins of 2/2048
    empty = stats_of([np.zeros(4, np.float32)])
    assert empty.exponent is None and not empty.histogram.any() and (empty.min, empty.max) == (0.0, 0.0)


def test_non_finite_values_are_rejected():
    with pytest.raises(NonFiniteValueError):
        TensorStats().add(np.array([1.0, np.inf], np.float32))
    with pytest.raises(NonFiniteValueError):
        TensorStats().add(np.array([np.nan, 1.0], np.float32))


def test_max_min_threshold():
    stats = stats_of([np.array([-3.5, 1.0], np.float32), np.array([0.5, 2.25], np.float32)])
    assert max_min_threshold(stats) == 3.5


# -- KL ------------------------------------------------------------------------------------------------


def reference_divergences(hist, quantized_bins):
    """MindSpore Lite's `DivergInfo::ComputeThreshold` loop, transcribed statement by statement (float64)."""
    hist = [float(v) for v in hist]
    out = []
    after = sum(hist[quantized_bins:])
    for i in range(quantized_bins, len(hist)):
        quantized = [0.0] * quantized_bins
        reference = hist[:i]
        expanded = [0.0] * i
        reference[i - 1] += after
        after -= hist[i]
        width = i / quantized_bins
        for j in range(quantized_bins):
            start, end = j * width, (j + 1) * width
            left, right = math.ceil(start), math.floor(end)
            if left > start:
                quantized[j] += (left - start) * hist[left - 1]
            if right < end:
                quantized[j] += (end - right) * hist[right]
            quantized[j] += sum(hist[left:right])
        for j in range(quantized_bins):
            start, end = j * width, (j + 1) * width
            left, right = math.ceil(start), math.floor(end)
            count = (left - start if left > start and hist[left - 1] else 0.0)
            count += (end - right if right < end and hist[right] else 0.0)
            count += sum(1 for v in hist[left:right] if v)
            if count == 0:
                continue
            average = quantized[j] / count
            if left > start and hist[left - 1]:
                expanded[left - 1] += average * (left - start)
            if right < end and hist[right]:
                expanded[right] += average * (end - right)
            for k in range(left, right):
                if hist[k]:
                    expanded[k] += average
        p_sum, q_sum = sum(reference), sum(expanded)
        if q_sum == 0:
            out.append(math.inf)
            continue
        divergence = 0.0
        for p, q in zip(reference, expanded):
            if p:
                divergence += 1.0 if q == 0 else p / p_sum * math.log((p / p_sum) / (q / q_sum))
        out.append(divergence)
    return np.array(out)


@pytest.mark.parametrize("seed", range(8))
def test_kl_divergences_match_the_reference_loop(seed):
    rng = np.random.default_rng(seed)
    quantized_bins = int(rng.choice([4, 8, 16]))
    n = int(rng.integers(quantized_bins + 2, 6 * quantized_bins))
    hist = rng.poisson(5, n) * (rng.random(n) < 0.6)  # empty bins, some of them the last below a candidate
    hist[0] = 0
    np.testing.assert_allclose(kl_divergences(hist, quantized_bins), reference_divergences(hist, quantized_bins),
                               rtol=1e-9, atol=1e-12)


def test_kl_divergences_match_the_reference_loop_at_128_levels():
    rng = np.random.default_rng(1)
    hist = np.histogram(np.abs(rng.standard_normal(20000)), bins=400, range=(0, 4.5))[0]
    ours, reference = kl_divergences(hist), reference_divergences(hist, 128)
    np.testing.assert_allclose(ours, reference, rtol=1e-9)
    assert np.argmin(ours) == np.argmin(reference)


def test_kl_threshold_of_a_gaussian():
    # 20000 draws of N(0, 1) reach about 4 sigma; KL clips a little below (it clips less the more the
    # tail is sampled: 3.1 sigma at 1000 draws, 4.6 at a million).
    rng = np.random.default_rng(2)
    stats = stats_of([rng.standard_normal(5_000).astype(np.float32) for _ in range(4)])
    threshold = kl_threshold(stats)
    assert 2.5 < threshold < 4.0 and threshold < stats.abs_max
    index = round(threshold / stats.bin_width - 0.5)
    assert threshold == (index + 0.5) * stats.bin_width  # the centre of a bin


def test_kl_threshold_without_room_to_clip():
    stats = stats_of([np.array([0.0, -0.5, 2.0], np.float32)])
    stats.histogram = np.array([0, 2, 1])  # hand-written: fewer than 128 bins
    stats.exponent = 2
    assert kl_threshold(stats) == 2.0
    assert kl_threshold(stats_of([np.zeros(3, np.float32)])) == 0.0


# -- RemovalOutlier ------------------------------------------------------------------------------------


def samples_with_extremes(lows, highs):
    return [np.array([lo, hi], np.float32) for lo, hi in zip(lows, highs)]


def test_outlier_range_takes_upstream_percentiles():
    # 20 samples: ranks 2 and 18 are whole, so the means of neighbours are taken.
    lows = [-1.0] * 19 + [-8.0]
    highs = [2.0] * 18 + [3.0, 9.0]
    assert outlier_range(stats_of(samples_with_extremes(lows, highs))) == (-1.0, 2.5)
    # 7 samples: rank 0.7 rounds up to the 1st smallest minimum and 6.3 up to the 7th maximum.
    lows, highs = [-5.0, -1.0, -2.0, -3.0, -4.0, -6.0, -7.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert outlier_range(stats_of(samples_with_extremes(lows, highs))) == (-7.0, 7.0)
    # 30 samples: 10% of 30 is 3.0000000000000004 in double precision but 3 in upstream's float32.
    lows = [-float(k) for k in range(30)]
    assert outlier_range(stats_of(samples_with_extremes(lows, [1.0] * 30)))[0] == -26.5
