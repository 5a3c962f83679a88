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


def plot_sqnr(rows: Sequence, path: str, highlight: int = 5) -> None:
    """Bars of each layer's SQNR in graph order: cumulative (quantized run vs float run at that tensor) and,
    beside it, isolated (model outputs with only that layer quantized). The `highlight` layers with the
    largest isolated error, the skip_quant_node candidates, are drawn in red."""
    import numpy as np

    plt = _pyplot()
    width = max(8.0, min(40.0, 0.22 * len(rows)))
    fig, ax = plt.subplots(figsize=(width, 5.5))
    x = np.arange(len(rows))
    from matplotlib.patches import Patch

    ax.bar(x - 0.2, [r.sqnr_db for r in rows], width=0.4, color="tab:blue")
    legend = [Patch(color="tab:blue", label="cumulative SQNR at the layer")]
    isolated = [r.isolated_sqnr_db for r in rows]
    if any(v is not None for v in isolated):
        ranked = sorted((i for i, r in enumerate(rows) if r.isolated_rel_error is not None),
                        key=lambda i: -rows[i].isolated_rel_error)
        worst = set(ranked[:highlight])
        values = [np.nan if v is None else v for v in isolated]
        colours = ["tab:red" if i in worst else "tab:orange" for i in range(len(rows))]
        ax.bar(x + 0.2, values, width=0.4, color=colours)
        legend += [Patch(color="tab:orange", label="isolated SQNR of the model outputs (only this layer quantized)"),
                   Patch(color="tab:red", label=f"the {len(worst)} largest isolated errors (skip candidates)")]
    ax.set_xticks(x)
    ax.set_xticklabels([r.layer for r in rows], rotation=90, fontsize=5 if len(rows) > 40 else 8)
    ax.set_xlabel("layer (output tensor, graph order)")
    ax.set_ylabel("SQNR (dB)")
    ax.set_title("Per-layer SQNR, quantized vs float")
    top = max([r.sqnr_db for r in rows] + [v for v in isolated if v is not None])
    ax.set_ylim(top=top * 1.35 if top > 0 else 1.0)  # room for the legend above the bars
    ax.legend(handles=legend, loc="upper right", fontsize=8)
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
    ax.set_title(f"{tensor}\nactivation histogram over {stats.samples} samples, range "
                 f"[{stats.min:.3g}, {stats.max:.3g}], {bits}-bit thresholds", fontsize=10, wrap=True)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
