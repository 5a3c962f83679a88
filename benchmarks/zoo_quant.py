"""Weight quantization (8 bit) and full quantization (KL) of every zoo model through `converter_lite`,
each `.ms` read back and run: fidelity against the float model over the model's eval set.

    python benchmarks/zoo_quant.py [--count 20] [--calib 20]

Per model and mode: file size relative to the float `.ms`, mean relative error ‖q−f‖/‖f‖ and cosine of all
outputs (concatenated per sample), top-1 agreement for classifiers, and conversion seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import zoo
from quantopt import Executor
from quantopt.backends.ms.reader import read_ms
from quantopt.tools.converter_lite import FLAGS, convert
from quantopt.tools.metrics import cosine, relative_error

MODELS = [  # (fmk, zoo path, calibration set, eval set, classifier)
    ("ONNX", "onnx/mobilenet_v2.onnx", "mobilenet_v2/calib", "mobilenet_v2/eval", True),
    ("TFLITE", "tflite/mobilenet_v2.tflite", "mobilenet_v2/calib", "mobilenet_v2/eval", True),
    ("MINDIR", "mindir/mobilenet_v2.mindir", "mobilenet_v2/calib", "mobilenet_v2/eval", True),
    ("MINDIR", "mindir/lenet.mindir", "lenet/calib", "lenet/eval", True),
    ("TFLITE", "tflite/face_detection_short_range.tflite", "face_detection_short_range/calib",
     "face_detection_short_range/eval", False),
    ("TFLITE", "tflite/selfie_segmentation.tflite", "selfie_segmentation/calib", "selfie_segmentation/eval", False),
]


def run_all(path: str, inputs: np.ndarray) -> list[list[np.ndarray]]:
    executor = Executor(read_ms(path))
    return [executor.run([x]) for x in inputs]


def fidelity(quantized, reference, classifier: bool) -> tuple[float, float, float]:
    flat = lambda outs: np.concatenate([o.ravel() for o in outs])  # noqa: E731
    rel = float(np.mean([relative_error(flat(q), flat(r)) for q, r in zip(quantized, reference)]))
    cos = float(np.mean([cosine(flat(q), flat(r)) for q, r in zip(quantized, reference)]))
    top1 = float(np.mean([q[0].argmax() == r[0].argmax() for q, r in zip(quantized, reference)])) if classifier \
        else float("nan")
    return rel, cos, top1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="eval inputs per model")
    parser.add_argument("--calib", type=int, default=20, help="calibration inputs per model")
    args = parser.parse_args()
    defaults = {f.name: f.default for f in FLAGS}
    print(f"{'model':<40} {'mode':<6} {'size':>6} {'rel err':>8} {'cosine':>8} {'top-1':>6} {'convert s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for fmk, relative, calib_set, eval_set, classifier in MODELS:
            model = str(zoo.ZOO / relative)
            calib_dir = os.path.join(tmp, calib_set.replace("/", "_"))
            if not os.path.isdir(calib_dir):
                os.mkdir(calib_dir)
                for i, x in enumerate(zoo.load_set(calib_set, args.calib)):
                    x.tofile(os.path.join(calib_dir, f"{i:04d}.bin"))
            config = os.path.join(tmp, "calib.cfg")
            with open(config, "w") as f:
                f.write(f"image_path={calib_dir}\nbatch_count={args.calib}\nmethod_x=KL\nthread_num=2\n")
            base = dict(defaults, fmk=fmk, modelFile=model)
            name = os.path.basename(relative)
            float_summary = convert(dict(base, outputFile=os.path.join(tmp, "fp32")), log=lambda *_: None)
            inputs = zoo.load_set(eval_set, args.count)
            reference = run_all(float_summary["output"], inputs)
            for mode, extra in (("wq8", dict(quantType="WeightQuant", bitNum=8)),
                                ("kl", dict(quantType="PostTraining", bitNum=8, configFile=config))):
                start = time.perf_counter()
                summary = convert(dict(base, outputFile=os.path.join(tmp, mode), **extra), log=lambda *_: None)
                seconds = time.perf_counter() - start
                rel, cos, top1 = fidelity(run_all(summary["output"], inputs), reference, classifier)
                size = summary["size"] / float_summary["size"]
                top = f"{100 * top1:>5.1f}%" if classifier else f"{'-':>6}"
                print(f"{name:<40} {mode:<6} {100 * size:>5.1f}% {rel:>8.4f} {cos:>8.5f} {top} {seconds:>9.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
