"""Threads: who parallelises a run, a small shared pool for kernels that split their work, and control
of numpy's BLAS threads.

numpy releases the GIL in its loops and in BLAS calls, so Python threads can share the cores, but
handing work to another thread costs tens of microseconds (a futex wake-up, slow on virtual machines),
so only large pieces of work are worth splitting. Hence two ways to run, chosen per executor:

- BLAS threads: matrix products run on BLAS's own threads, every other kernel on the calling thread.
  Right for small work per op (one image of MobileNetV2): OpenBLAS's workers spin between calls and
  pick up the next product at once.
- kernel threads: numpy's bundled OpenBLAS is held at one thread while the executor runs, and kernels
  split matrix products (by blocks of rows, given their bias and activation while still in cache) and
  depthwise convolutions (by image or by bands of rows) between our threads. Right for large work per
  op (a batch of images): OpenBLAS's spinning workers would otherwise steal the cores from the
  elementwise kernels that follow a product. Needs the BLAS library's thread control, which is found
  for numpy's bundled OpenBLAS only.

The thread count defaults to the machine's cores; set it with `set_num_threads` or QUANTOPT_NUM_THREADS.
Kernels fix how they split their work when they are built, under `kernel_threads`.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_threads = max(1, int(os.environ.get("QUANTOPT_NUM_THREADS", "0")) or (os.cpu_count() or 1))
_building_threads = 1
_pool: ThreadPoolExecutor | None = None
_pool_workers = 0


def num_threads() -> int:
    """The thread count for a run."""
    return _threads


def set_num_threads(count: int) -> None:
    global _threads
    if count < 1:
        raise ValueError("thread count must be >= 1")
    _threads = count


def build_threads() -> int:
    """How many threads the kernel being built may split its work between."""
    return _building_threads


@contextmanager
def kernel_threads(count: int) -> Iterator[None]:
    """Build kernels that split their work between `count` threads (1: they do not split it)."""
    global _building_threads
    previous, _building_threads = _building_threads, count
    try:
        yield
    finally:
        _building_threads = previous


def run_split(work: Callable[[int, int], None], count: int, threads: int) -> None:
    """Call work(start, stop) on consecutive parts of range(count), one part per thread."""
    parts = min(threads, count)
    if parts <= 1:
        work(0, count)
        return
    global _pool, _pool_workers
    if _pool_workers < parts - 1:  # kernels built for more threads than the pool has (it only grows)
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool_workers = max(parts, _threads) - 1
        _pool = ThreadPoolExecutor(max_workers=_pool_workers, thread_name_prefix="quantopt-kernel")
    bounds = [count * k // parts for k in range(parts + 1)]
    futures = [_pool.submit(work, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    work(bounds[0], bounds[1])
    for f in futures:
        f.result()


def _find_blas_threads() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    import numpy

    libs = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "64_"),
                               ("openblas_", "")):
            setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None


_blas = _find_blas_threads()


def can_own_blas_threads() -> bool:
    return _blas is not None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold numpy's BLAS at one thread for the duration (process-wide: BLAS has no per-thread setting)."""
    if _blas is None:
        yield
        return
    setter, getter = _blas
    previous = getter()
    setter(1)
    try:
        yield
    finally:
        setter(previous)
