"""Reference executor vs onnxruntime on ImageNet MobileNetV2, batch 1 and 8, same thread count.

    python benchmarks/executor_speed.py [--threads 2] [--rounds 40] [--batches 1 8] [--model PATH]

Prints the median milliseconds per image of both, their ratio, and the largest difference between their
outputs. Each measurement runs in a fresh process: onnxruntime's and OpenBLAS's worker threads keep
spinning for a while after a call, and in a shared process they steal the cores from the other runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

DEFAULT_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "zoo", "onnx",
                             "mobilenet_v2.onnx")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="BLAS, kernel and onnxruntime intra-op threads")
    parser.add_argument("--rounds", type=int, default=40, help="timed runs per runtime and batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--measure", choices=["ours", "ort"], help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    return parser.parse_args()


def measure(args: argparse.Namespace) -> None:
    """Child process: time one runtime at one batch size, save the timings and the output."""
    import time

    import numpy as np
    import onnx

    model = onnx.load(args.model)
    for value in (*model.graph.input, *model.graph.output):  # the zoo model's batch of 1 becomes symbolic
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    x = np.random.default_rng(0).random((args.batch, 3, 224, 224), dtype=np.float32)
    if args.measure == "ours":
        from quantopt.backends.reference.executor import Executor
        from quantopt.frontends.onnx import import_onnx

        executor = Executor(import_onnx(model, batch_size=args.batch))

        def run():
            return executor.run([x])[0]
    else:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run():
            return session.run(None, {name: x})[0]

    output = run()
    for _ in range(2):
        run()
    seconds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    np.savez(args.output, seconds=np.asarray(seconds), output=output)


def spawn(args: argparse.Namespace, runtime: str, batch: int, path: str):
    import numpy as np

    # Thread counts are read when the libraries load, so they go in the child's environment.
    env = dict(os.environ, **{var: str(args.threads) for var in
                              ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "QUANTOPT_NUM_THREADS")})
    subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", runtime, "--batch", str(batch),
                    "--threads", str(args.threads), "--rounds", str(args.rounds), "--model", args.model,
                    "--output", path], env=env, check=True)
    with np.load(path) as data:
        return float(np.median(data["seconds"])) * 1e3 / batch, data["output"]


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs busy over `seconds` (other jobs skew the comparison), from /proc/stat."""
    import time

    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except OSError:
        return None
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def main() -> int:
    args = parse_args()
    if args.measure:
        measure(args)
        return 0
    busy = cpu_busy()
    if busy is not None and busy > 0.1:
        print(f"warning: {busy:.0%} of the CPUs were busy before the run; timings are unreliable")
    print(f"{os.path.basename(args.model)}, {args.threads} thread(s), median of {args.rounds} runs")
    print(f"{'batch':>5} {'ours ms/img':>12} {'ort ms/img':>11} {'ratio':>6} {'max |diff|':>11}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batches:
            ours_ms, ours_out = spawn(args, "ours", batch, os.path.join(tmp, "ours.npz"))
            ort_ms, ort_out = spawn(args, "ort", batch, os.path.join(tmp, "ort.npz"))
            diff = float(abs(ours_out - ort_out).max())
            results[batch] = {"ours_ms": ours_ms, "ort_ms": ort_ms, "ratio": ours_ms / ort_ms, "max_diff": diff}
            print(f"{batch:>5} {ours_ms:>12.2f} {ort_ms:>11.2f} {ours_ms / ort_ms:>6.2f} {diff:>11.2e}", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
