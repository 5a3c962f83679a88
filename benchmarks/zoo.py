"""Locating ../shared/zoo and loading its input sets and reference outputs, for benchmarks and tests."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ZOO = Path(__file__).resolve().parents[2] / "shared" / "zoo"


def available() -> bool:
    return (ZOO / "make_bins.py").is_file()


def load_set(name: str, count: int | None = None) -> np.ndarray:
    """float32 [N, *sample shape]: sample i as `make_bins.py` writes it (batch dim of 1 kept)."""
    if str(ZOO) not in sys.path:
        sys.path.insert(0, str(ZOO))
    import make_bins

    x = make_bins.load(name, count=count)
    return x.reshape(x.shape[0], 1, *x.shape[1:])


def load_reference(relative: str, key: str | None = None) -> np.ndarray:
    path = ZOO / relative
    if path.suffix == ".npz":
        with np.load(path) as data:
            return data[key] if key else data[list(data.keys())[0]]
    return np.load(path)
