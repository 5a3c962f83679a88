"""Running fuzz cases in worker processes and counting what happens.

Each worker is a fresh (spawned) Python with a 2 GiB address-space limit; it makes a case, writes it to its
scratch directory, runs the format's entry point and reports the outcome:

- ok: the input was accepted;
- clean: a user-facing error (QuantOptError, or for textual IR the parse/verify errors quant-opt prints);
- crash: any other exception (its type, message and the innermost quantopt frame are recorded);
- memory: MemoryError, or the worker killed while allocating;
- hang: no answer within the timeout; the worker is killed and replaced.

Workers persist between cases; a new one is started only after a hang or a death. Failing cases are
rebuilt in the parent and saved with their traceback under `out_dir/<format>/`.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
REPO = HARNESS.parents[1]
OUTCOMES = ("ok", "clean", "crash", "hang", "memory")
FAILURES = ("crash", "hang", "memory")
MEMORY_LIMIT = 2 << 30
TIMEOUT = 10.0
MAX_SAVED_PER_SIGNATURE = 3
FORMATS = "fuzz.formats:all_formats"
"""Where workers find the formats: `module:function(big) -> {name: Format}` (tests substitute their own)."""


@dataclass
class Result:
    format: str
    index: int
    outcome: str
    error: str = ""
    where: str = ""
    details: str = ""
    peak_rss: int = 0  # bytes
    seconds: float = 0.0

    @property
    def signature(self) -> tuple[str, str, str]:
        return self.format, self.error.split(":", 1)[0], self.where


@dataclass
class FormatStats:
    counts: Counter = field(default_factory=Counter)
    peak_rss: int = 0
    peak_case: int = -1
    seconds: float = 0.0


@dataclass
class Report:
    stats: dict[str, FormatStats]
    failures: list[Result]
    wall_seconds: float

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def format_table(self) -> str:
        header = f"{'format':8} {'cases':>7} {'ok':>7} {'clean':>7} {'crash':>6} {'hang':>5} {'memory':>6} " \
                 f"{'peak RSS (case)':>17} {'cases/s':>8}"
        lines = [header]
        for name, s in self.stats.items():
            c = s.counts
            cases = sum(c.values())
            rate = cases / s.seconds if s.seconds else 0.0
            lines.append(f"{name:8} {cases:7} {c['ok']:7} {c['clean']:7} {c['crash']:6} {c['hang']:5} "
                         f"{c['memory']:6} {s.peak_rss / 2**20:7.0f} MB {f'({s.peak_case})':>7} {rate:8.1f}")
        total = sum(sum(s.counts.values()) for s in self.stats.values())
        lines.append(f"total {total} cases in {self.wall_seconds:.0f} s ({total / max(self.wall_seconds, 1e-9):.1f}"
                     f" cases/s wall)")
        return "\n".join(lines)


# -- the worker --------------------------------------------------------------------------------------------


def _peak_rss_reset() -> None:
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def _peak_rss() -> int:
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _innermost_project_frame(tb) -> str:
    """`folder/file.py:line (function)` of the innermost frame in quantopt's own code outside the harness."""
    frames = traceback.extract_tb(tb)
    project = [f for f in frames if f.filename.startswith(str(REPO)) and not f.filename.startswith(str(HARNESS))]
    frame = (project or frames or [None])[-1]
    if frame is None:
        return ""
    return f"{Path(frame.filename).relative_to(REPO) if project else frame.filename}:{frame.lineno} ({frame.name})"


def run_case(fmt, path: Path, result: Result) -> None:
    """Run the format's entry point on `path` and fill in the outcome."""
    try:
        fmt.run(path)
        result.outcome = "ok"
    except fmt.clean:
        result.outcome = "clean"
    except KeyboardInterrupt:
        raise
    except BaseException as err:  # noqa: BLE001 - every other exception is a bug to report
        result.outcome = "memory" if isinstance(err, MemoryError) else "crash"
        result.error = f"{type(err).__name__}: {err}"[:300]
        result.where = _innermost_project_frame(err.__traceback__)
        result.details = "".join(traceback.format_exception(err))[-6000:]


def load_formats(registry: str, big: bool) -> dict:
    module, function = registry.split(":")
    return getattr(importlib.import_module(module), function)(big)


def worker_main(conn: Connection, scratch: Path, registry: str, campaign_seed: int, big: bool,
                memory_limit: int) -> None:
    import resource
    import warnings

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    warnings.simplefilter("ignore")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)

    from .seeds import prepare_calibration_dirs

    formats = load_formats(registry, big)
    prepare_calibration_dirs(scratch)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        name, index = task
        fmt = formats[name]
        result = Result(name, index, "ok")
        case = fmt.make_case(campaign_seed, index)
        path = scratch / f"case{case.suffix}"
        path.write_bytes(case.data)
        _peak_rss_reset()
        start = time.perf_counter()
        run_case(fmt, path, result)
        result.seconds = time.perf_counter() - start
        result.peak_rss = _peak_rss()
        conn.send(result)


# -- the pool ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environment(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Worker:
    """A worker process with its scratch directory (removed with it, even when it had to be killed)."""

    def __init__(self, registry: str, campaign_seed: int, big: bool, memory_limit: int, nice: int):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.scratch = Path(tempfile.mkdtemp(prefix="quantopt-fuzz-"))
        # One BLAS thread per worker: the workers themselves are the parallelism.
        with _environment(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"):
            self.process = ctx.Process(target=_niced_worker,
                                       args=(child, self.scratch, registry, campaign_seed, big, memory_limit, nice),
                                       daemon=True)
            self.process.start()
        child.close()
        self.task: tuple[str, int] | None = None
        self.started = 0.0

    def send(self, task: tuple[str, int]) -> None:
        self.task, self.started = task, time.monotonic()
        self.conn.send(task)

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(2)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        self.conn.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _niced_worker(conn: Connection, scratch: Path, registry: str, campaign_seed: int, big: bool, memory_limit: int,
                  nice: int) -> None:
    if nice:
        os.nice(nice)
    worker_main(conn, scratch, registry, campaign_seed, big, memory_limit)


def _death_result(task: tuple[str, int], exitcode: int | None) -> Result:
    """A worker that died without answering: killed while allocating (SIGKILL by the OOM killer, SIGABRT
    from a C++ allocation failure under the limit) counts as memory, any other death as a crash."""
    name, index = task
    sig = -exitcode if exitcode is not None and exitcode < 0 else None
    signame = signal.Signals(sig).name if sig else f"exit status {exitcode}"
    outcome = "memory" if sig in (signal.SIGKILL, signal.SIGABRT) else "crash"
    return Result(name, index, outcome, error=f"worker died ({signame})")


def run_campaign(formats: list[str], per_format: int, *, jobs: int = 1, campaign_seed: int = 0, big: bool = True,
                 out_dir: Path | None = None, timeout: float = TIMEOUT, memory_limit: int = MEMORY_LIMIT,
                 nice: int = 0, progress=None, registry: str = FORMATS) -> Report:
    """Run `per_format` cases of each format on `jobs` workers; save failing cases under `out_dir`."""
    tasks = [(name, i) for i in range(per_format) for name in formats]
    tasks.reverse()  # popped from the end: formats interleaved, indices ascending
    total = len(tasks)
    stats = {name: FormatStats() for name in formats}
    failures: list[Result] = []
    saved: Counter = Counter()
    def new_worker() -> Worker:
        return Worker(registry, campaign_seed, big, memory_limit, nice)

    workers = [new_worker() for _ in range(max(1, jobs))]
    start = time.monotonic()
    done = 0

    def record(result: Result) -> None:
        nonlocal done
        s = stats[result.format]
        s.counts[result.outcome] += 1
        if result.peak_rss > s.peak_rss:
            s.peak_rss, s.peak_case = result.peak_rss, result.index
        s.seconds += result.seconds
        done += 1
        if result.outcome in FAILURES:
            failures.append(result)
            if out_dir is not None and saved[result.signature] < MAX_SAVED_PER_SIGNATURE:
                saved[result.signature] += 1
                save_reproducer(out_dir, result, load_formats(registry, big)[result.format], campaign_seed)
        if progress is not None:
            progress(done, total, result)

    try:
        while tasks or any(w.task for w in workers):
            for w in workers:
                if w.task is None and tasks:
                    w.send(tasks.pop())
            busy = [w for w in workers if w.task is not None]
            deadline = min(w.started for w in busy) + timeout
            ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()))
            for i, w in enumerate(workers):
                if w.task is None:
                    continue
                if w.conn in ready:
                    try:
                        result = w.conn.recv()
                    except (EOFError, OSError):
                        w.process.join()
                        result = _death_result(w.task, w.process.exitcode)
                        w.kill()
                        workers[i] = new_worker()
                    else:
                        w.task = None
                    record(result)
                elif time.monotonic() - w.started > timeout:
                    name, index = w.task
                    w.kill()
                    record(Result(name, index, "hang", error=f"no answer after {timeout:.0f} s", seconds=timeout))
                    workers[i] = new_worker()
    finally:
        for w in workers:
            w.stop()
    return Report(stats, failures, time.monotonic() - start)


def save_reproducer(out_dir: Path, result: Result, fmt, campaign_seed: int) -> Path:
    case = fmt.make_case(campaign_seed, result.index)
    directory = out_dir / result.format
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result.outcome}-{result.index}{case.suffix}"
    path.write_bytes(case.data)
    path.with_suffix(path.suffix + ".txt").write_text(
        f"{result.outcome}: {result.error}\nat {result.where}\ncase: {case.description}\n"
        f"campaign seed {campaign_seed}, index {result.index}\n\n{result.details}")
    return path
