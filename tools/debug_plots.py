"""PNG plots of the accuracy report (matplotlib, Agg backend): SQNR per layer, and one tensor's activation
histogram with the clipping thresholds of each calibration method."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from quantopt.passes.calibration_stats import TensorStats

METHOD_COLOURS = {"MAX_MIN": "tab:red", "KL": "tab:green", "REMOVAL_OUTLIER": "tab:purple"}
METHOD_STYLES = {"MAX_MIN": (3.0, "-"), "KL": (1.5, "-"), "REMOVAL_OUTLIER": (1.5, ":")}  # coinciding lines stay visible


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def file_safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "tensor"


def plot_sqnr(rows: Sequence, path: str) -> None:
    """Bar chart of each layer's SQNR in graph order."""
    plt = _pyplot()
    width = max(8.0, min(40.0, 0.18 * len(rows)))
    fig, ax = plt.subplots(figsize=(width, 5))
    values = [r.sqnr_db for r in rows]
    worst = min(values)
    colours = ["tab:red" if v == worst else "tab:blue" for v in values]
    ax.bar(range(len(rows)), values, color=colours)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r.layer for r in rows], rotation=90, fontsize=5 if len(rows) > 40 else 8)
    ax.set_xlabel("layer (output tensor, graph order)")
    ax.set_ylabel("SQNR (dB)")
    ax.set_title("SQNR of each layer's output, quantized vs float")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def tensor_stats(module: ModuleOp, samples: Iterable[Sequence[np.ndarray]], tensor: str) -> TensorStats:
    """Calibration statistics (`TensorStats`) of one named float tensor over `samples`."""
    from quantopt.backends.reference.capture import capturing_kernels
    from quantopt.backends.reference.executor import Executor

    stats = TensorStats()
    recording = [False]

    def record(name, op, value):
        if recording[0] and name == tensor:
            stats.add(value)

    executor = Executor(module, kernels=capturing_kernels(record))
    recording[0] = True
    for inputs in samples:
        executor.run(inputs)
    return stats


def method_thresholds(stats: TensorStats, bits: int = 8) -> dict[str, tuple[float, float]]:
    """Real-value clip bounds (lo, hi) of each activation method on `stats`."""
    from quantopt.passes.lower_calibration import activation_params

    bounds = {}
    for method in METHOD_COLOURS:
        params = activation_params(stats, method, bits)
        bounds[method] = ((params.qmin - params.zero_point) * params.scale,
                          (params.qmax - params.zero_point) * params.scale)
    return bounds


def plot_histogram(stats: TensorStats, tensor: str, path: str, bits: int = 8) -> None:
    """Histogram of |x| (log counts) with each method's clip bounds as vertical lines (|lo| dashed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5))
    if stats.exponent is not None:
        edges = np.arange(stats.histogram.size + 1) * stats.bin_width
        last = int(np.nonzero(stats.histogram)[0].max()) + 1
        ax.stairs(stats.histogram[:last], edges[:last + 1], fill=True, color="tab:blue", alpha=0.6,
                  label="|x| counts")
        ax.set_yscale("log")
        for method, (lo, hi) in method_thresholds(stats, bits).items():
            colour = METHOD_COLOURS[method]
            width, style = METHOD_STYLES[method]
            ax.axvline(hi, color=colour, linewidth=width, linestyle=style, label=f"{method} hi = {hi:.3g}")
            if lo < 0 and not np.isclose(-lo, hi):
                ax.axvline(-lo, color=colour, linewidth=1.0, linestyle="--", label=f"{method} |lo| = {-lo:.3g}")
    ax.set_xlabel("|activation value|")
    ax.set_ylabel("count (log scale)")
    ax.set_title(f"{tensor}: activation histogram over {stats.samples} samples, range "
                 f"[{stats.min:.3g}, {stats.max:.3g}], {bits}-bit thresholds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
