"""Fidelity measures between a model's outputs and reference outputs."""

from __future__ import annotations

import numpy as np


def mslite_mean_bias(output: np.ndarray, reference: np.ndarray) -> float:
    """MindSpore Lite benchmark's "mean bias" of one tensor: the mean, over the elements outside
    atol + rtol * |ref| (1e-8 + 1e-5 |ref|), of |out - ref| / |ref| (or |out - ref| when ref is 0 and the
    error exceeds 1e-5). A fraction, not a percentage."""
    out = output.astype(np.float64).ravel()
    ref = reference.astype(np.float64).ravel()
    err = np.abs(out - ref)
    off = err > 1e-8 + 1e-5 * np.abs(ref)
    zero_ref = np.abs(ref) < np.finfo(np.float32).eps
    counted = off & (~zero_ref | (err > 1e-5))
    if not counted.any():
        return 0.0
    rel = np.where(zero_ref, err, err / (np.abs(ref) + np.finfo(np.float32).tiny))
    return float(rel[counted].mean())


def relative_error(output: np.ndarray, reference: np.ndarray) -> float:
    """‖out − ref‖ / ‖ref‖ over one sample."""
    ref = reference.astype(np.float64).ravel()
    return float(np.linalg.norm(output.astype(np.float64).ravel() - ref) / max(np.linalg.norm(ref), 1e-30))


def cosine(output: np.ndarray, reference: np.ndarray) -> float:
    a, b = output.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else float(np.array_equal(a, b))
