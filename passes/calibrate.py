"""Run the model over the calibration set and record, at each `quant.observe`, the statistics of its tensor.

The reference executor runs `func.func @main` once per sample; each observer is compiled to an identity
kernel that feeds its tensor to a `TensorStats` while the tensor is still in cache (no activation is kept).
With `thread_num` N > 1 the samples are split into N consecutive chunks run by worker processes, whose
statistics are merged in chunk order: the result is identical to a single pass (see `calibration_stats`).
Workers are forked where the platform allows it (they inherit the module: nothing to print or parse);
otherwise they are spawned and re-parse the module from its generic text.
"""

from __future__ import annotations

import io
import multiprocessing
import queue as queue_module
import time
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import BytesAttr, DenseArrayBase, IntegerAttr, ModuleOp, TensorType, f32, i64
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from quantopt.dialects.quant import CalibratedQuantizedType, ObserveOp
from quantopt.errors import QuantOptError
from quantopt.passes.calibration_config import (
    CalibrationConfig,
    InputSpec,
    list_calibration_samples,
    read_calibration_config,
    read_sample,
)
from quantopt.passes.calibration_stats import NonFiniteValueError, TensorStats, merge_all

Progress = Callable[[int, int], None]
"""Called with (samples done, samples in all) after each sample."""


@dataclass
class CalibrationResult:
    stats: dict[int, TensorStats]  # by observer id
    samples: int
    times: dict[str, float] = field(default_factory=dict)  # seconds per stage


# -- the observer kernel ---------------------------------------------------------------------------------


def observing_kernels(collected: dict[int, TensorStats]) -> dict[type[Operation], Callable]:
    """The fp32 kernel table plus `quant.observe` as an identity that adds its tensor to `collected`."""
    from quantopt.backends.reference.kernel import Kernel
    from quantopt.backends.reference.kernels_fp32 import FP32_KERNELS

    def build_observer(op: ObserveOp, const) -> Kernel:
        stats = collected.setdefault(op.observer_id, TensorStats())

        def observe(x: np.ndarray) -> np.ndarray:
            try:
                stats.add(x)
            except NonFiniteValueError as err:
                raise QuantOptError(None, f"calibration: observed tensor {op.observer_id} "
                                          f"({op.input.name_hint or 'unnamed'}): {err}") from None
            return x

        return Kernel(observe, [op.input], returns_view=True)

    return {**FP32_KERNELS, ObserveOp: build_observer}


def model_inputs(module: ModuleOp) -> list[InputSpec]:
    from quantopt.backends.reference.executor import find_main
    from quantopt.backends.reference.quant_casts import dtype_of

    specs = []
    for arg in find_main(module).args:
        if not isinstance(arg.type, TensorType):
            raise QuantOptError(None, f"calibration: model input of type {arg.type} is not a tensor")
        specs.append(InputSpec(arg.name_hint, tuple(arg.type.get_shape()), dtype_of(arg.type.element_type)))
    return specs


def observers_of(module: ModuleOp) -> list[ObserveOp]:
    from quantopt.backends.reference.executor import find_main

    observers = [op for op in find_main(module).body.walk() if isinstance(op, ObserveOp)]
    ids = [op.observer_id for op in observers]
    if len(set(ids)) != len(ids):
        raise QuantOptError(None, "calibration: quant.observe ids are not unique; run insert-calibration on the "
                                  "module without observers")
    return observers


# -- running the samples ---------------------------------------------------------------------------------


def collect_statistics(module: ModuleOp, samples: Sequence[Sequence[str]], inputs: Sequence[InputSpec],
                       tick: Callable[[], None] = lambda: None, threads: int | None = None) -> dict[int, TensorStats]:
    """Statistics of every observer over `samples`, in this process."""
    from quantopt.backends.reference.executor import Executor

    collected: dict[int, TensorStats] = {}
    executor = Executor(module, kernels=observing_kernels(collected), threads=threads)
    for files in samples:
        executor.run(read_sample(files, inputs))
        tick()
    return collected


def _worker(index: int, module: ModuleOp | str, samples, inputs, queue) -> None:
    """Calibrate one chunk in a worker process; report each sample, then the statistics or the error."""
    from quantopt.backends.reference.parallel import single_threaded_blas

    try:
        if isinstance(module, str):  # spawned: parse the module's text
            from xdsl.parser import Parser

            from quantopt.context import make_context

            module = Parser(make_context(), module).parse_module()
        with single_threaded_blas():  # the other workers have the other cores
            stats = collect_statistics(module, samples, inputs, lambda: queue.put(("sample", index, None)),
                                       threads=1)
        queue.put(("done", index, stats))
    except QuantOptError as err:
        queue.put(("error", index, err.message))
    except Exception as err:  # noqa: BLE001 - reported to the parent, which raises it
        queue.put(("error", index, f"internal error in calibration worker: {type(err).__name__}: {err}"))


def collect_in_workers(module: ModuleOp, samples: Sequence[Sequence[str]], inputs: Sequence[InputSpec],
                       workers: int, tick: Callable[[], None], start_method: str | None = None
                       ) -> dict[int, TensorStats]:
    """Statistics over `samples` split into `workers` consecutive chunks, each run by its own process."""
    method = start_method or ("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    context = multiprocessing.get_context(method)
    source: ModuleOp | str = module if method == "fork" else _generic_text(module)
    bounds = [len(samples) * k // workers for k in range(workers + 1)]
    queue = context.Queue()
    processes = [context.Process(target=_worker, args=(k, source, list(samples[bounds[k]:bounds[k + 1]]),
                                                       list(inputs), queue), daemon=True)
                 for k in range(workers)]
    for process in processes:
        process.start()
    parts: dict[int, dict[int, TensorStats]] = {}
    silent_checks = 0
    try:
        while len(parts) < workers:
            try:
                kind, index, content = queue.get(timeout=1.0)
            except queue_module.Empty:
                # A worker that died without a word (killed, out of memory) gets two more seconds for its
                # last message to arrive before the calibration fails.
                dead = [k for k, p in enumerate(processes) if k not in parts and not p.is_alive()]
                silent_checks = silent_checks + 1 if dead else 0
                if silent_checks > 2:
                    raise QuantOptError(None, f"calibration worker {dead[0]} exited with status "
                                              f"{processes[dead[0]].exitcode} before reporting") from None
                continue
            if kind == "sample":
                tick()
            elif kind == "done":
                parts[index] = content
            else:
                raise QuantOptError(None, content.removeprefix("error: "))
    finally:
        for process in processes:
            if process.is_alive() and len(parts) < workers:
                process.terminate()
            process.join()
    return merge_all(parts[k] for k in range(workers))


def _generic_text(module: ModuleOp) -> str:
    from xdsl.printer import Printer

    stream = io.StringIO()
    Printer(stream=stream, print_generic_format=True).print_op(module)
    return stream.getvalue()


# -- the API and the pass ----------------------------------------------------------------------------------


def calibrate_module(module: ModuleOp, config: CalibrationConfig | str, progress: Progress | None = None,
                     start_method: str | None = None) -> CalibrationResult:
    """Run the calibration set of `config` through `module` (which `insert-calibration` prepared), record
    each observer's statistics in the IR and return them. `progress(done, total)` follows each sample."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    if isinstance(config, str):
        config = read_calibration_config(config)
    observers = observers_of(module)
    if not observers:
        raise QuantOptError(None, "calibration: the module has no quant.observe ops; run insert-calibration first")
    inputs = model_inputs(module)
    samples = list_calibration_samples(config, inputs)
    times["list samples"] = time.perf_counter() - start

    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(samples))

    stage = time.perf_counter()
    workers = min(config.thread_num, len(samples))
    if workers > 1:
        stats = collect_in_workers(module, samples, inputs, workers, tick, start_method)
    else:
        stats = collect_statistics(module, samples, inputs, tick)
    times["run samples"] = time.perf_counter() - stage

    stage = time.perf_counter()
    for observer in observers:
        if observer.observer_id in stats:
            record_statistics(observer, stats[observer.observer_id])
    times["record"] = time.perf_counter() - stage
    return CalibrationResult(stats, len(samples), times)


def record_statistics(observer: ObserveOp, stats: TensorStats) -> None:
    """Write `stats` into the observer's properties (replacing earlier ones)."""
    properties = {
        "range": CalibratedQuantizedType.get(stats.min, stats.max),
        "sample_min": DenseArrayBase(f32, BytesAttr(np.asarray(stats.sample_min, np.float32).tobytes())),
        "sample_max": DenseArrayBase(f32, BytesAttr(np.asarray(stats.sample_max, np.float32).tobytes())),
        "histogram_exp": IntegerAttr(stats.exponent or 0, i64),
        "histogram": DenseArrayBase(i64, BytesAttr(stats.histogram.astype("<i8").tobytes())),
    }
    observer.properties.update(properties)


def statistics_of(observer: ObserveOp) -> TensorStats:
    """The statistics recorded in an observer's properties."""
    if not observer.is_calibrated:
        raise QuantOptError(None, f"quant.observe {observer.observer_id} has no statistics; run calibrate first")
    stats = TensorStats()
    stats.min, stats.max = observer.range.min.data, observer.range.max.data
    stats.sample_min = array("f", np.frombuffer(observer.sample_min.data.data, "<f4"))
    stats.sample_max = array("f", np.frombuffer(observer.sample_max.data.data, "<f4"))
    stats.histogram = np.frombuffer(observer.histogram.data.data, "<i8").astype(np.int64)
    stats.exponent = observer.histogram_exp.value.data if stats.histogram.any() else None
    return stats


@dataclass(frozen=True)
class CalibratePass(ModulePass):
    """
    Guarantees: every `quant.observe` in `@main` carries the statistics of its tensor over the calibration
    set named by the config file `config` (see `calibration_config`): `range` (min and max),
    `sample_min` / `sample_max` (one pair per sample) and a 2048-bin histogram of the non-zero |x| over
    [0, 2^histogram_exp). The statistics do not depend on `thread_num`. Reads `.bin` samples only; no
    activation is kept in memory.
    """

    name = "calibrate"

    config: str

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        calibrate_module(op, self.config)


def stats_by_id(module: ModuleOp) -> Mapping[int, TensorStats]:
    """The recorded statistics of every calibrated observer in the module, by id."""
    return {op.observer_id: statistics_of(op) for op in module.walk() if isinstance(op, ObserveOp) and op.is_calibrated}
