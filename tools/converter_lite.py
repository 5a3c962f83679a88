"""`converter_lite`: MindSpore Lite's converter command line on quant-opt.

    converter_lite --fmk=ONNX --modelFile=m.onnx --outputFile=m_wq --quantType=WeightQuant --bitNum=8
"""

from __future__ import annotations

import os
import sys
import time

from quantopt.errors import QuantOptError
from quantopt.tools.cli import run_tool
from quantopt.tools.flags import Flag, parse_flags, usage
from quantopt.tools.model_format import FORMATS, check_format

INT_MAX = 2**31 - 1
FLAGS = [
    Flag("fmk", "framework of the input model", choices=FORMATS, required=True),
    Flag("modelFile", "input model", required=True),
    Flag("outputFile", "output model path; .ms is appended", required=True),
    Flag("quantType", "quantization to apply; without it the model is converted in float",
         choices=("WeightQuant", "PostTraining")),
    Flag("bitNum", "bits of quantized weights (WeightQuant 1..16, or 0: mixed bits per layer, needs --configFile; "
                   "PostTraining 1..8)", int_range=(0, 16), default=8),
    Flag("quantWeightSize", "WeightQuant: skip weights with fewer elements", int_range=(0, INT_MAX), default=0),
    Flag("quantWeightChannel", "WeightQuant: skip conv weights with at most this many channels",
         int_range=(0, INT_MAX), default=16),
    Flag("configFile", "quantization config file (PostTraining calibration settings)"),
    Flag("debugDir", "write a per-layer accuracy report of the quantized model against the float one on the "
                     "calibration set (layers.csv, outputs.csv, PNG plots) into this directory"),
    Flag("debugTensor", "with --debugDir: the layer whose activation histogram is plotted (default: the worst)"),
]

# Weight quantization choices the MindSpore Lite flags do not expose (see WeightQuantPass). Per-channel
# scales and zero points come from one grid for the whole model (scale at most ~4% above its own), so that
# channels share QuantParam tables: a table costs 24 bytes, about what 3x3 depthwise filters save per channel
# by being quantized, so without sharing they had to stay float. Layers with a single weight per channel
# still gain nothing and stay float. The smallest layers, together 0.5% of the weights, stay float: they carry
# a share of the output error far above their share of the bytes. Rounding is balanced per channel.
MIN_CHANNEL_ELEMENTS = 2
BALANCE_ROUNDING = True
SHARE_TOLERANCE = 0.04
FLOAT_FRACTION = 0.005

FMK_CODES = {"ONNX": 2, "MINDIR": 3, "TFLITE": 4}


def convert(values: dict, log=print) -> dict:
    model, fmk = values["modelFile"], values["fmk"]
    check_format(model, fmk)
    output = values["outputFile"] + ".ms"
    if values["configFile"] is not None and not os.path.isfile(values["configFile"]):
        raise QuantOptError(values["configFile"], "no such file")
    if values["quantType"] == "PostTraining" and values["configFile"] is None:
        raise QuantOptError(None, "--quantType=PostTraining needs --configFile (the calibration set)")
    if values["debugDir"] is not None:
        if values["quantType"] is None:
            raise QuantOptError(None, "--debugDir needs --quantType (it compares the quantized model with the float one)")
        if values["configFile"] is None:
            raise QuantOptError(None, "--debugDir needs --configFile: the report runs the calibration set "
                                      "(image_path) through both models")
    if values["quantType"] == "WeightQuant" and values["bitNum"] == 0 and values["configFile"] is None:
        raise QuantOptError(None, "--bitNum=0 (mixed-bit weight quantization) needs --configFile: the bits "
                                  "of each layer are searched on its calibration set")
    from quantopt.api import import_model
    from quantopt.backends.ms.writer import encode_ms, write_ms
    from quantopt.context import make_context
    from quantopt.passes.fold_batchnorm import FoldBatchNormPass
    from quantopt.passes.fuse_activation import FuseActivationPass

    times = {}
    start = time.perf_counter()
    module = import_model(model)
    times["import"] = time.perf_counter() - start
    ctx = make_context()
    stage = time.perf_counter()
    FoldBatchNormPass().apply(ctx, module)
    FuseActivationPass().apply(ctx, module)
    times["optimize"] = time.perf_counter() - stage
    fmk_code = _fmk_code(module, fmk)
    float_module = None
    if values["debugDir"] is not None:
        from quantopt.passes.bias_correction import float_model_for

        float_module = float_model_for(model)
    float_size = len(encode_ms(module, fmk_type=fmk_code, file=output))
    decisions, post_training, mixed_bits = [], None, None
    if values["quantType"] == "WeightQuant":
        decisions, mixed_bits = _weight_quantize(module, values, times)
    elif values["quantType"] == "PostTraining":
        post_training = _full_quantize(module, model, values, times)
    stage = time.perf_counter()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    write_ms(module, output, fmk_type=fmk_code)
    times["write"] = time.perf_counter() - stage
    debug_rows = None
    if float_module is not None:
        from quantopt.passes.calibration_config import read_calibration_config
        from quantopt.tools.debug_report import write_debug_dir

        stage = time.perf_counter()
        debug_rows = write_debug_dir(values["debugDir"], float_module, module,
                                     read_calibration_config(values["configFile"]), values["debugTensor"],
                                     log=log)
        times["debug report"] = time.perf_counter() - stage
    summary = {"output": output, "float_size": float_size, "size": os.path.getsize(output),
               "decisions": decisions, "post_training": post_training, "mixed_bits": mixed_bits,
               "debug_rows": debug_rows, "seconds": time.perf_counter() - start, "times": times}
    _print_summary(summary, values, log)
    return summary


def _fmk_code(module, fmk: str) -> int:
    if fmk != "MS":
        return FMK_CODES[fmk]
    attr = module.attributes.get("ms.fmk_type")
    return attr.value.data if attr is not None else FMK_CODES["ONNX"]


def _weight_quantize(module, values: dict, times: dict) -> tuple[list, list | None]:
    """(decisions, chosen bits per layer with --bitNum=0 else None)."""
    from quantopt.passes.calibration_config import read_calibration_config, warn
    from quantopt.passes.weight_quant import WeightQuantPass, quantize_weights, unknown_layers

    config = read_calibration_config(values["configFile"]) if values["configFile"] is not None else None
    skip = config.skip_quant_node if config is not None else ()
    unknown = unknown_layers(module, skip)
    if unknown:
        warn(f"skip_quant_node: no layer named {', '.join(unknown)} (names are output tensor names, as the "
             "--debugDir report lists them)")
    options = WeightQuantPass(bits=values["bitNum"] or 8, min_size=values["quantWeightSize"],
                              min_channel=values["quantWeightChannel"],
                              min_channel_elements=MIN_CHANNEL_ELEMENTS, balance_rounding=BALANCE_ROUNDING,
                              share_tolerance=SHARE_TOLERANCE, float_fraction=FLOAT_FRACTION,
                              skip=",".join(skip))
    stage = time.perf_counter()
    if values["bitNum"] == 0:
        from quantopt.passes.mixed_bit import SEARCH_SAMPLES, quantize_weights_mixed
        from quantopt.tools.debug_report import config_samples

        samples = [s for _, s in zip(range(SEARCH_SAMPLES), config_samples(config, module))]
        decisions, chosen = quantize_weights_mixed(module, samples, config.mean_error_threshold, options)
        times["mixed-bit weight-quant"] = time.perf_counter() - stage
        return decisions, chosen
    decisions = quantize_weights(module, options)
    times["weight-quant"] = time.perf_counter() - stage
    return decisions, None


def _full_quantize(module, model: str, values: dict, times: dict):
    from quantopt.passes.bias_correction import float_model_for
    from quantopt.passes.calibration_config import read_calibration_config
    from quantopt.tools.post_training import quantize_post_training

    config = read_calibration_config(values["configFile"])
    float_module = float_model_for(model) if config.bias_correction else None
    with _progress_bar(config.batch_count) as progress:
        summary = quantize_post_training(module, float_module, config, values["bitNum"], progress=progress)
    times.update(summary.times)
    return summary


class _progress_bar:
    """A tqdm bar over the calibration set on a terminal; silent otherwise."""

    def __init__(self, total: int):
        self.total, self.bar = total, None

    def __enter__(self):
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc="calibration", unit="sample", file=sys.stderr, leave=False)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.total = total
            self.bar.update(done - self.bar.n)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _print_summary(summary: dict, values: dict, log) -> None:
    decisions = summary["decisions"]
    if values["quantType"] == "WeightQuant":
        quantized = [d for d in decisions if d.quantized]
        bits = f"{values['bitNum']} bits" if values["bitNum"] else "mixed bits"
        log(f"weight quantization: {bits}, {len(quantized)} of {len(decisions)} layers quantized")
        if summary["mixed_bits"] is not None:
            _print_mixed_bits(summary["mixed_bits"], values, log)
        reasons: dict[str, int] = {}
        for d in decisions:
            if not d.quantized:
                key = d.reason.split(" ", 1)[1] if d.reason[:1].isdigit() else d.reason
                reasons[key] = reasons.get(key, 0) + 1
        for reason, count in sorted(reasons.items()):
            log(f"  skipped {count}: {reason}")
    if summary["post_training"] is not None:
        _print_post_training(summary["post_training"], log)
    ratio = summary["size"] / summary["float_size"] if summary["float_size"] else 1.0
    log(f"size: float .ms {summary['float_size']} bytes -> {summary['size']} bytes ({100 * ratio:.1f}%)")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in summary["times"].items())
    log(f"wrote {summary['output']} in {summary['seconds']:.2f}s ({stages})")
    log("CONVERT RESULT SUCCESS:0")


def _print_mixed_bits(chosen: list, values: dict, log) -> None:
    from quantopt.passes.calibration_config import read_calibration_config
    from quantopt.passes.mixed_bit import bits_histogram

    threshold = read_calibration_config(values["configFile"]).mean_error_threshold
    histogram = ", ".join(f"{bits}b: {count}" for bits, count in bits_histogram(chosen).items())
    log(f"  mixed bits (mean_error_threshold {threshold:g}, largest layers first): {histogram}")
    for c in chosen:
        log(f"    {c.layer}: {c.bits} bits ({c.elements} weights, model output error then {c.error:.4f})")


def _print_post_training(pt, log) -> None:
    from quantopt.passes.lower_to_int8 import format_summary

    log(f"full quantization: {pt.bits} bits, activations {pt.method} over {pt.samples} calibration samples, "
        f"{pt.observers} tensors observed")
    log(f"  weights: {sum(d.quantized for d in pt.weight_layers)} layers quantized per channel")
    if pt.bias_corrections:
        log(f"  bias correction: {len(pt.bias_corrections)} layers")
    log("  " + format_summary(pt.lowering).replace("\n", "\n  "))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        values = parse_flags(argv, FLAGS, "converter_lite")
        if values is None:
            print(usage("converter_lite", __doc__.strip().splitlines()[0], FLAGS))
            return 0
        if values["quantType"] == "PostTraining" and not 1 <= values["bitNum"] <= 8:
            raise QuantOptError(None, f"--bitNum={values['bitNum']}: must be in [1, 8] for PostTraining")
        if values["quantType"] is None and values["bitNum"] == 0:
            raise QuantOptError(None, "--bitNum=0 (mixed bits) is only for --quantType=WeightQuant")
        convert(values)
        return 0

    return run_tool(body)


if __name__ == "__main__":
    sys.exit(main())
