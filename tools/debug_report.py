"""Per-layer accuracy report: the float and the quantized module side by side on the same inputs.

    rows, outputs = layer_report(float_module, quant_module, samples)

Both modules run on the reference executor with `capturing_kernels`, so every lite op's result is seen in
both runs under its layer name (the output tensor's name, `layer_name(op)`); int8 results are dequantized
with their type's scale and zero point. Per layer and over all samples:

- `cosine`: mean over samples of the cosine similarity of quantized and float values;
- `mean_rel_error`: mean over samples of ‖q − f‖ / ‖f‖;
- `sqnr_db`: 10·log10(Σf² / Σ(q − f)²) over all samples (capped at 300 dB when they agree exactly);
- `float_min` / `float_max`: range of the float tensor;
- `clip_rate`: fraction of float values outside the range the quantized output type represents,
  [(qmin − zp)·scale, (qmax − zp)·scale] (empty when the layer's output is not quantized);
- `scale`, `zero_point`, `bits`: the output's quantized type (per tensor), empty if none;
- `weight_bits`: bits of the layer's quantized weight, empty if its weight is float or it has none;
- `isolated_rel_error` / `isolated_sqnr_db`: the model outputs' mean relative error and SQNR when only this
  layer (its weight and its result) is quantized and everything else runs in float (tools/layer_sensitivity.py),
  over the first `isolated_samples` samples; empty for layers with nothing quantized.

The cumulative metrics show where the error is; the isolated ones show which layer causes it, so the report
ranks layers worst first by isolated error: the top rows are the skip_quant_node candidates.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from quantopt.dialects import quant

MAX_SQNR_DB = 300.0


@dataclass
class LayerRow:
    layer: str
    op: str
    cosine: float
    mean_rel_error: float
    sqnr_db: float
    float_min: float
    float_max: float
    clip_rate: float | None
    scale: float | None
    zero_point: int | None
    bits: int | None
    weight_bits: int | None
    isolated_rel_error: float | None = None
    isolated_sqnr_db: float | None = None


@dataclass
class OutputRow:
    output: int
    cosine: float
    mean_rel_error: float
    sqnr_db: float


LAYER_COLUMNS = [f.name for f in fields(LayerRow)]
OUTPUT_COLUMNS = [f.name for f in fields(OutputRow)]


class _Accumulator:
    """Running sums for the metrics of one tensor."""

    def __init__(self) -> None:
        self.signal = self.noise = 0.0
        self.cosines: list[float] = []
        self.rel_errors: list[float] = []
        self.min, self.max = math.inf, -math.inf
        self.clipped = self.count = 0

    def add(self, quantized: np.ndarray, reference: np.ndarray, clip_range: tuple[float, float] | None) -> None:
        from quantopt.tools.metrics import cosine, relative_error

        q, f = quantized.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
        self.signal += float(f @ f)
        self.noise += float((q - f) @ (q - f))
        self.cosines.append(cosine(q, f))
        self.rel_errors.append(relative_error(q, f))
        if f.size:
            self.min, self.max = min(self.min, float(f.min())), max(self.max, float(f.max()))
        if clip_range is not None:
            lo, hi = clip_range
            self.clipped += int(np.count_nonzero((f < lo) | (f > hi)))
        self.count += f.size

    def metrics(self) -> tuple[float, float, float]:
        return float(np.mean(self.cosines)), float(np.mean(self.rel_errors)), sqnr_db(self.signal, self.noise)


def sqnr_db(signal: float, noise: float) -> float:
    if noise <= 0:
        return MAX_SQNR_DB if signal > 0 else 0.0
    if signal <= 0:
        return -MAX_SQNR_DB
    return min(10 * math.log10(signal / noise), MAX_SQNR_DB)


def quantized_output_type(op: Operation) -> quant.UniformQuantizedType | None:
    """The per-tensor type of the layer's output: its own result type, or that of the qcast reading it."""
    result = op.results[0]
    qtype = quant.element_type_of(result.type)
    if isinstance(qtype, quant.UniformQuantizedType):
        return None if qtype.is_per_axis else qtype
    for use in result.uses:
        if isinstance(use.operation, quant.QuantizeCastOp):
            qtype = quant.element_type_of(use.operation.result.type)
            if isinstance(qtype, quant.UniformQuantizedType) and not qtype.is_per_axis:
                return qtype
    return None


def bits_of(qtype: quant.UniformQuantizedType) -> int:
    return int(qtype.qmax - qtype.qmin).bit_length()


def _weight_bits(op: Operation) -> int | None:
    from quantopt.passes.weight_quant import weight_operand

    found = weight_operand(op)
    if found is None:
        return None
    value = found[0]
    owner = value.owner
    if isinstance(owner, quant.DequantizeCastOp):
        value = owner.input
    qtype = quant.element_type_of(value.type)
    return bits_of(qtype) if isinstance(qtype, quant.UniformQuantizedType) else None


@dataclass
class _LayerInfo:
    op: str
    qtype: quant.UniformQuantizedType | None
    weight_bits: int | None


def _layer_infos(module: ModuleOp) -> dict[str, _LayerInfo]:
    from quantopt.backends.reference.capture import result_names

    infos = {}
    for op in module.walk():
        if op.dialect_name() == "lite" and op.results:
            name = result_names(op)[0]
            if name is not None:
                infos[name] = _LayerInfo(op.name, quantized_output_type(op), _weight_bits(op))
    return infos


class _CapturingRun:
    """An executor whose `run` also returns every named lite tensor of the run, as float32."""

    def __init__(self, module: ModuleOp):
        from quantopt.backends.reference.capture import capturing_kernels
        from quantopt.backends.reference.executor import Executor

        self.tensors: dict[str, np.ndarray] = {}
        self.executor = Executor(module, kernels=capturing_kernels(self._record))
        self.tensors.clear()  # values of ops folded at construction

    def _record(self, name: str, op: Operation, value: np.ndarray) -> None:
        self.tensors[name] = value

    def run(self, inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        self.tensors = {}
        outputs = self.executor.run(inputs)
        return outputs, self.tensors


def layer_report(float_module: ModuleOp, quant_module: ModuleOp, samples: Iterable[Sequence[np.ndarray]],
                 isolated_samples: int = 10, progress=None) -> tuple[list[LayerRow], list[OutputRow]]:
    """Per-layer rows in graph order (layers present in both modules) and one row per model output."""
    from quantopt.tools.layer_sensitivity import isolated_errors

    samples = list(samples)
    isolated = isolated_errors(float_module, quant_module, samples[:isolated_samples], progress) \
        if isolated_samples > 0 else {}
    infos = _layer_infos(quant_module)
    float_names = set(_layer_infos(float_module))
    names = [n for n in infos if n in float_names]
    float_run, quant_run = _CapturingRun(float_module), _CapturingRun(quant_module)
    layers = {name: _Accumulator() for name in names}
    outputs: list[_Accumulator] = []
    clip_ranges = {name: _representable_range(infos[name].qtype) for name in names}
    for inputs in samples:
        float_outputs, float_tensors = float_run.run(inputs)
        quant_outputs, quant_tensors = quant_run.run(inputs)
        for name in names:
            if name in float_tensors and name in quant_tensors:
                layers[name].add(quant_tensors[name], float_tensors[name], clip_ranges[name])
        while len(outputs) < len(float_outputs):
            outputs.append(_Accumulator())
        for acc, q, f in zip(outputs, quant_outputs, float_outputs):
            acc.add(np.asarray(q, np.float32), np.asarray(f, np.float32), None)
    rows = []
    for name in names:
        acc = layers[name]
        if not acc.cosines:
            continue
        info = infos[name]
        cos, rel, sqnr = acc.metrics()
        qtype = info.qtype
        rows.append(LayerRow(name, info.op, cos, rel, sqnr, acc.min, acc.max,
                             acc.clipped / acc.count if qtype is not None and acc.count else None,
                             qtype.scale if qtype is not None else None,
                             qtype.zero_point if qtype is not None else None,
                             bits_of(qtype) if qtype is not None else None, info.weight_bits,
                             isolated[name].rel_error if name in isolated else None,
                             isolated[name].sqnr_db if name in isolated else None))
    output_rows = [OutputRow(i, *acc.metrics()) for i, acc in enumerate(outputs) if acc.cosines]
    return rows, output_rows


def _representable_range(qtype: quant.UniformQuantizedType | None) -> tuple[float, float] | None:
    if qtype is None:
        return None
    return (qtype.qmin - qtype.zero_point) * qtype.scale, (qtype.qmax - qtype.zero_point) * qtype.scale


def worst_first(rows: Sequence[LayerRow]) -> list[LayerRow]:
    """Largest isolated error first (layers without one last), ties and the rest by cumulative SQNR."""
    return sorted(rows, key=lambda r: (r.isolated_rel_error is None, -(r.isolated_rel_error or 0.0), r.sqnr_db))


# -- files and terminal --------------------------------------------------------------------------------------


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_csv(path: str, rows: Sequence[LayerRow | OutputRow], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            values = asdict(row)
            writer.writerow([_cell(values[c]) for c in columns])


def print_table(rows: Sequence[LayerRow], outputs: Sequence[OutputRow], limit: int = 15, console=None) -> None:
    """The `limit` worst layers (`worst_first`), then the outputs, as rich tables."""
    from rich.console import Console
    from rich.table import Table

    import sys

    console = console or (Console() if sys.stdout.isatty() else Console(width=160))
    table = Table(title=f"worst {min(limit, len(rows))} of {len(rows)} layers by isolated error "
                        "(model output error with only that layer quantized)")
    for column, justify in (("layer", "left"), ("op", "left"), ("isolated err", "right"),
                            ("isolated dB", "right"), ("SQNR dB", "right"), ("cosine", "right"),
                            ("rel err", "right"), ("float min", "right"), ("float max", "right"),
                            ("clip %", "right"), ("scale", "right"), ("zp", "right"), ("bits", "right"),
                            ("w bits", "right")):
        table.add_column(column, justify=justify, overflow="fold" if column == "layer" else "ellipsis")
    for r in worst_first(rows)[:limit]:
        table.add_row(r.layer, r.op.removeprefix("lite."),
                      "" if r.isolated_rel_error is None else f"{r.isolated_rel_error:.4f}",
                      "" if r.isolated_sqnr_db is None else f"{r.isolated_sqnr_db:.1f}",
                      f"{r.sqnr_db:.1f}", f"{r.cosine:.5f}",
                      f"{r.mean_rel_error:.4f}", f"{r.float_min:.3g}", f"{r.float_max:.3g}",
                      "" if r.clip_rate is None else f"{100 * r.clip_rate:.3f}",
                      _cell(r.scale), _cell(r.zero_point), _cell(r.bits), _cell(r.weight_bits))
    console.print(table)
    summary = Table(title="model outputs")
    for column in ("output", "SQNR dB", "cosine", "rel err"):
        summary.add_column(column, justify="right")
    for o in outputs:
        summary.add_row(str(o.output), f"{o.sqnr_db:.1f}", f"{o.cosine:.5f}", f"{o.mean_rel_error:.4f}")
    console.print(summary)


# -- the whole debug directory ---------------------------------------------------------------------------------


def config_samples(config, module: ModuleOp):
    """The input arrays of each calibration sample of `config`, one sample at a time."""
    from quantopt.passes.calibrate import model_inputs
    from quantopt.passes.calibration_config import list_calibration_samples, read_sample

    inputs = model_inputs(module)
    for files in list_calibration_samples(config, inputs):
        yield read_sample(files, inputs)


def write_debug_dir(directory: str, float_module: ModuleOp, quant_module: ModuleOp, config,
                    tensor: str | None = None, bits: int = 8, log=print, console=None,
                    isolated_samples: int = 10) -> list[LayerRow]:
    """layers.csv, outputs.csv, sqnr_per_layer.png and histogram_<tensor>.png (the worst layer by default),
    and the terminal table. Returns the layer rows."""
    from quantopt.errors import QuantOptError
    from quantopt.tools import debug_plots

    rows, outputs = layer_report(float_module, quant_module, config_samples(config, float_module),
                                 isolated_samples=isolated_samples)
    if not rows:
        raise QuantOptError(None, "accuracy report: no layer of the quantized model matches a float layer by name "
                                  "(both must come from the same model, imported and fused the same way)")
    if tensor is not None and tensor not in {r.layer for r in rows}:
        raise QuantOptError(None, f"accuracy report: tensor {tensor!r} (--debugTensor): no such layer in the report "
                                  "(names are output tensor names, as layers.csv lists them)")
    os.makedirs(directory, exist_ok=True)
    write_csv(os.path.join(directory, "layers.csv"), rows, LAYER_COLUMNS)
    write_csv(os.path.join(directory, "outputs.csv"), outputs, OUTPUT_COLUMNS)
    print_table(rows, outputs, console=console)
    debug_plots.plot_sqnr(rows, os.path.join(directory, "sqnr_per_layer.png"))
    tensor = tensor or worst_first(rows)[0].layer
    stats = debug_plots.tensor_stats(float_module, config_samples(config, float_module), tensor)
    path = os.path.join(directory, f"histogram_{debug_plots.file_safe(tensor)}.png")
    debug_plots.plot_histogram(stats, tensor, path, bits)
    log(f"debug report: {len(rows)} layers -> {directory}/layers.csv, outputs.csv, sqnr_per_layer.png, "
        f"{os.path.basename(path)}")
    return rows
