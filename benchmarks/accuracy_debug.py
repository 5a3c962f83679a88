"""Finding and fixing accuracy loss on MobileNetV2: (a) the per-layer report of full int8 quantization and
the effect of keeping its worst layers in float, (b) mixed-bit weight quantization at several thresholds.

    python benchmarks/accuracy_debug.py [--count 300] [--calib 100] [--worst 5] [--part a b]

(a) MAX_MIN, no bias correction: the report over the calibration set, its worst layers by SQNR, then
top-1 agreement / mean relative error / cosine of the int8 executor's logits against onnxruntime's fp32
logits over the eval inputs, before and after re-converting with those layers in `skip_quant_node`.
(b) `--bitNum=0` with mean_error_threshold 0.01 .. 0.08: `.ms` size against the float `.ms` and uniform
8-bit weight quantization, the same fidelity measures (the `.ms` read back and run), and the bits histogram.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import zoo
from quantopt import Executor
from quantopt.tools.metrics import cosine, relative_error

MODEL = str(zoo.ZOO / "onnx" / "mobilenet_v2.onnx")
THRESHOLDS = (0.01, 0.02, 0.04, 0.08)


def write_calibration_set(directory: str, count: int) -> None:
    for i, x in enumerate(zoo.load_set("mobilenet_v2/calib", count)):
        x.tofile(os.path.join(directory, f"{i:04d}.bin"))


def fidelity(executor: Executor, inputs: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    logits = np.concatenate([executor.run([x])[0].reshape(1, -1) for x in inputs])
    return (float(np.mean(logits.argmax(1) == reference.argmax(1))),
            float(np.mean([relative_error(o, r) for o, r in zip(logits, reference)])),
            float(np.mean([cosine(o, r) for o, r in zip(logits, reference)])))


def full_int8(config_path: str):
    from quantopt.passes.bias_correction import float_model_for
    from quantopt.passes.calibration_config import read_calibration_config
    from quantopt.tools.post_training import quantize_post_training

    module = float_model_for(MODEL)
    quantize_post_training(module, None, read_calibration_config(config_path), 8)
    return module


def part_a(tmp: str, calib_dir: str, args, inputs, reference) -> None:
    from quantopt.passes.bias_correction import float_model_for
    from quantopt.passes.calibration_config import read_calibration_config
    from quantopt.tools.debug_report import config_samples, layer_report, print_table, worst_first

    config = os.path.join(tmp, "maxmin.cfg")
    with open(config, "w") as f:
        f.write(f"image_path={calib_dir}\nbatch_count={args.calib}\nmethod_x=MAX_MIN\nbias_correction=false\n")
    quantized = full_int8(config)
    float_module = float_model_for(MODEL)
    start = time.perf_counter()
    rows, outputs = layer_report(float_module, quantized, config_samples(read_calibration_config(config), float_module))
    print(f"(a) report over {args.calib} calibration samples: {len(rows)} layers in {time.perf_counter() - start:.1f}s")
    print_table(rows, outputs, limit=15)
    worst = [r.layer for r in worst_first(rows)[:args.worst]]
    before = fidelity(Executor(quantized), inputs, reference)
    skip_config = os.path.join(tmp, "maxmin_skip.cfg")
    with open(skip_config, "w") as f:
        f.write(f"image_path={calib_dir}\nbatch_count={args.calib}\nmethod_x=MAX_MIN\nbias_correction=false\n"
                f"skip_quant_node={','.join(worst)}\n")
    after = fidelity(Executor(full_int8(skip_config)), inputs, reference)
    print(f"skip_quant_node={','.join(worst)}")
    print(f"{'MobileNetV2 int8 MAX_MIN':<40} {'top-1':>7} {'rel err':>8} {'cosine':>8}")
    for name, (top1, rel, cos) in ((f"all layers int8", before), (f"worst {args.worst} layers float", after)):
        print(f"{name:<40} {100 * top1:>6.1f}% {rel:>8.4f} {cos:>8.5f}", flush=True)


def convert_quietly(values: dict) -> dict:
    from quantopt.tools.converter_lite import FLAGS, convert

    full = {flag.name: flag.default for flag in FLAGS}
    full.update(values)
    return convert(full, log=lambda *_: None)


def part_b(tmp: str, calib_dir: str, args, inputs, reference) -> None:
    from quantopt.backends.ms.reader import read_ms
    from quantopt.passes.mixed_bit import bits_histogram

    base = {"fmk": "ONNX", "modelFile": MODEL, "quantType": "WeightQuant"}
    uniform = convert_quietly({**base, "outputFile": os.path.join(tmp, "wq8"), "bitNum": 8})
    float_size, uniform_size = uniform["float_size"], uniform["size"]
    print(f"(b) mixed-bit weight quantization; float .ms {float_size} bytes, uniform 8-bit {uniform_size} bytes")
    rows = [("uniform 8-bit", uniform_size, fidelity(Executor(read_ms(uniform["output"])), inputs, reference),
             "", uniform["seconds"], None)]
    for threshold in THRESHOLDS:
        config = os.path.join(tmp, f"mixed_{threshold}.cfg")
        with open(config, "w") as f:
            f.write(f"image_path={calib_dir}\nbatch_count={args.calib}\nmean_error_threshold={threshold}\n")
        summary = convert_quietly({**base, "outputFile": os.path.join(tmp, f"mixed_{threshold}"), "bitNum": 0,
                                   "configFile": config})
        histogram = " ".join(f"{b}b:{n}" for b, n in bits_histogram(summary["mixed_bits"]).items())
        rows.append((f"mixed, threshold {threshold}", summary["size"],
                     fidelity(Executor(read_ms(summary["output"])), inputs, reference), histogram,
                     summary["seconds"], summary["mixed_bits"][-1].error if summary["mixed_bits"] else None))
    print("search err: the error bound the search kept under the threshold, on the first 16 calibration samples;")
    print("top-1 / rel err / cosine: on the eval inputs")
    print(f"{'setting':<26} {'bytes':>9} {'vs float':>8} {'vs 8-bit':>8} {'search err':>10} {'top-1':>7} "
          f"{'rel err':>8} {'cosine':>8} {'convert s':>9}  bits histogram")
    for name, size, (top1, rel, cos), histogram, seconds, search in rows:
        searched = "" if search is None else f"{search:.4f}"
        print(f"{name:<26} {size:>9} {100 * size / float_size:>7.1f}% {100 * size / uniform_size:>7.1f}% "
              f"{searched:>10} {100 * top1:>6.1f}% {rel:>8.4f} {cos:>8.5f} {seconds:>9.1f}  {histogram}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="eval inputs")
    parser.add_argument("--calib", type=int, default=100, help="calibration inputs")
    parser.add_argument("--worst", type=int, default=5, help="layers kept in float in (a)")
    parser.add_argument("--part", nargs="+", default=["a", "b"], choices=["a", "b"])
    args = parser.parse_args()
    inputs = zoo.load_set("mobilenet_v2/eval", args.count)
    reference = zoo.load_reference("ref/mobilenet_v2/logits_ort.npy")[:args.count]
    with tempfile.TemporaryDirectory() as tmp:
        calib_dir = os.path.join(tmp, "calib")
        os.mkdir(calib_dir)
        write_calibration_set(calib_dir, args.calib)
        if "a" in args.part:
            part_a(tmp, calib_dir, args, inputs, reference)
        if "b" in args.part:
            part_b(tmp, calib_dir, args, inputs, reference)


if __name__ == "__main__":
    main()
