"""The `--debugDir` report of `converter_lite` as a pass, for quant-opt pipelines."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass


@dataclass(frozen=True)
class AccuracyReportPass(ModulePass):
    """
    Guarantees: the IR is left unchanged. Runs the quantized module it is applied to and the float model
    `float-model` (imported, batch norms folded, activations fused, as the quantization pipeline starts from
    it) side by side over the calibration set of the config file `config`, and writes the per-layer report to
    the directory `dir`: layers.csv (cumulative and isolated error per layer, see tools/debug_report.py),
    outputs.csv, sqnr_per_layer.png and the activation histogram of `tensor` (default: the layer with the
    largest isolated error). The worst layers are printed to stderr, keeping stdout for the IR. Layers are
    matched by name, so both modules must come from the same model through the same frontend.
    """

    name = "accuracy-report"

    config: str
    float_model: str
    dir: str
    tensor: str = ""
    isolated_samples: int = 10

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from rich.console import Console

        from quantopt.passes.bias_correction import float_model_for
        from quantopt.passes.calibration_config import read_calibration_config
        from quantopt.tools.debug_report import write_debug_dir

        write_debug_dir(self.dir, float_model_for(self.float_model), op, read_calibration_config(self.config),
                        self.tensor or None, log=lambda *_: None, console=Console(stderr=True, width=160),
                        isolated_samples=self.isolated_samples)
