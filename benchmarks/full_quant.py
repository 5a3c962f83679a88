"""Full int8 quantization of MobileNetV2 with each activation method, with and without bias correction,
beside onnxruntime's `quantize_static` (QDQ, per-channel int8) on the same calibration inputs.

    python benchmarks/full_quant.py [--count 300] [--calib 100] [--threads 2] [--skip-ort]

Per setting: top-1 agreement with fp32, mean relative error and cosine of the logits over the eval inputs
(ours run on the integer executor), conversion seconds (calibration included) and the peak memory of the
converting process; then the peak memory of calibration at batch_count 20 and 100. fp32 is onnxruntime's
stored logits.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time

import numpy as np

import ort_static
import zoo

MODEL = str(zoo.ZOO / "onnx" / "mobilenet_v2.onnx")
METHODS = ("MAX_MIN", "KL", "REMOVAL_OUTLIER")


def write_calibration_set(directory: str, count: int) -> None:
    for i, x in enumerate(zoo.load_set("mobilenet_v2/calib", count)):
        x.tofile(os.path.join(directory, f"{i:04d}.bin"))


def write_config(path: str, image_dir: str, batch_count: int, method: str, bias_correction: bool,
                 threads: int) -> None:
    with open(path, "w") as f:
        f.write(f"image_path={image_dir}\nbatch_count={batch_count}\nmethod_x={method}\n"
                f"thread_num={threads}\nbias_correction={str(bias_correction).lower()}\n")


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: that survives exec, so a spawned child would
    report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def convert_and_evaluate(config: str, count: int, queue) -> None:
    """In a fresh process, so that peak memory is this conversion's own."""
    from quantopt import Executor
    from quantopt.passes.bias_correction import float_model_for
    from quantopt.passes.calibration_config import read_calibration_config
    from quantopt.tools.metrics import cosine, relative_error
    from quantopt.tools.post_training import quantize_post_training

    start = time.perf_counter()
    settings = read_calibration_config(config)
    module = float_model_for(MODEL)
    float_module = float_model_for(MODEL) if settings.bias_correction else None
    quantize_post_training(module, float_module, settings, 8)
    seconds = time.perf_counter() - start
    memory = peak_rss_mb()
    if not count:
        queue.put((seconds, memory, None))
        return
    inputs = zoo.load_set("mobilenet_v2/eval", count)
    reference = zoo.load_reference("ref/mobilenet_v2/logits_ort.npy")[:count]
    executor = Executor(module)
    logits = np.concatenate([executor.run([x])[0] for x in inputs])
    metrics = (float(np.mean(logits.argmax(1) == reference.argmax(1))),
               float(np.mean([relative_error(o, r) for o, r in zip(logits, reference)])),
               float(np.mean([cosine(o, r) for o, r in zip(logits, reference)])))
    queue.put((seconds, memory, metrics))


def in_fresh_process(config: str, count: int):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=convert_and_evaluate, args=(config, count, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def row(name: str, metrics, seconds: float, memory: float | None) -> str:
    top1, rel, cos = metrics
    mem = f"{memory:>8.0f}" if memory is not None else f"{'-':>8}"
    return f"{name:<34} {100 * top1:>6.1f}% {rel:>8.4f} {cos:>8.5f} {seconds:>9.1f} {mem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="eval inputs")
    parser.add_argument("--calib", type=int, default=100, help="calibration inputs (batch_count)")
    parser.add_argument("--threads", type=int, default=2, help="thread_num and onnxruntime threads")
    parser.add_argument("--skip-ort", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        calib_dir = os.path.join(tmp, "calib")
        os.mkdir(calib_dir)
        write_calibration_set(calib_dir, args.calib)
        print(f"MobileNetV2, {args.calib} calibration inputs, {args.count} eval inputs, fp32 = onnxruntime logits")
        print(f"{'setting':<34} {'top-1':>7} {'rel err':>8} {'cosine':>8} {'convert s':>9} {'peak MB':>8}")
        for method in METHODS:
            for bias_correction in (False, True):
                config = os.path.join(tmp, "calib.cfg")
                write_config(config, calib_dir, args.calib, method, bias_correction, args.threads)
                seconds, memory, metrics = in_fresh_process(config, args.count)
                name = f"ours {method}" + (" + bias correction" if bias_correction else "")
                print(row(name, metrics, seconds, memory), flush=True)
        if not args.skip_ort:
            samples = zoo.load_set("mobilenet_v2/calib", args.calib)
            inputs = zoo.load_set("mobilenet_v2/eval", args.count)
            reference = zoo.load_reference("ref/mobilenet_v2/logits_ort.npy")[:args.count]
            from quantopt.tools.metrics import cosine, relative_error

            for method in ("MinMax", "Percentile", "Entropy"):
                path = os.path.join(tmp, f"ort_{method}.onnx")
                seconds = ort_static.quantize(MODEL, path, samples, method)
                logits = ort_static.run(path, inputs, args.threads).reshape(len(inputs), -1)
                metrics = (float(np.mean(logits.argmax(1) == reference.argmax(1))),
                           float(np.mean([relative_error(o, r) for o, r in zip(logits, reference)])),
                           float(np.mean([cosine(o, r) for o, r in zip(logits, reference)])))
                print(row(f"onnxruntime quantize_static {method}", metrics, seconds, None), flush=True)
        print("calibration peak memory (KL, no bias correction, whole converting process):")
        for batch_count in (20, args.calib):
            config = os.path.join(tmp, "calib.cfg")
            write_config(config, calib_dir, batch_count, "KL", False, args.threads)
            seconds, memory, _ = in_fresh_process(config, 0)
            print(f"  batch_count={batch_count:<4} {memory:8.0f} MB  ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
