"""Weight quantization of MobileNetV2 (or another ONNX/TFLite/MindIR classifier) at 2..16 bits, through
`converter_lite` as a user runs it: the `.ms` file is written, read back and run on the eval set.

    python benchmarks/weight_quant.py [--model M] [--set mobilenet_v2/eval] [--reference ref/mobilenet_v2/logits_ort.npy]
                                      [--count 300] [--bits 2 ... 16] [--quantWeightSize 0] [--quantWeightChannel 0]

Prints per bit width: file size relative to the float `.ms`, the quantized layers' bytes relative to their
float bytes (ideal b/32), top-1 agreement with fp32, mean relative error ‖q−f‖/‖f‖ of the outputs, cosine,
and conversion seconds. fp32 is the stored reference (onnxruntime) when given, else our float executor.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import zoo
from quantopt import Executor
from quantopt.backends.ms.flatbuf import load_graph
from quantopt.backends.ms.reader import read_ms
from quantopt.tools.converter_lite import FLAGS, convert
from quantopt.tools.metrics import cosine, relative_error
from quantopt.tools.model_format import sniff_format


def quantized_layer_ratio(path: str) -> float:
    """Bytes of the quantized weight tensors over their float32 bytes."""
    with open(path, "rb") as f:
        graph = load_graph(f.read(), path)
    stored = elements = 0
    for t in graph.tensors:
        if t.quant_params and t.node_type == 0 and t.data:
            stored += len(t.data)
            elements += int(np.prod(t.dims))
    return stored / (4 * elements) if elements else float("nan")


def evaluate(model_path: str, inputs: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    executor = Executor(read_ms(model_path))
    outputs = np.stack([executor.run([x])[0].reshape(reference.shape[1:]) for x in inputs])
    top1 = float(np.mean(outputs.reshape(len(outputs), -1).argmax(1) == reference.reshape(len(reference), -1).argmax(1)))
    rel = float(np.mean([relative_error(o, r) for o, r in zip(outputs, reference)]))
    cos = float(np.mean([cosine(o, r) for o, r in zip(outputs, reference)]))
    return top1, rel, cos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(zoo.ZOO / "onnx" / "mobilenet_v2.onnx"))
    parser.add_argument("--set", default="mobilenet_v2/eval")
    parser.add_argument("--reference", default="ref/mobilenet_v2/logits_ort.npy",
                        help="zoo-relative fp32 outputs of --model on --set ('' to run our float executor)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--bits", type=int, nargs="+", default=list(range(2, 17)))
    parser.add_argument("--quantWeightSize", type=int, default=0, help="converter_lite flag (default 0: no size floor)")
    parser.add_argument("--quantWeightChannel", type=int, default=0,
                        help="converter_lite flag (default 0: no channel floor; converter_lite's own default is 16)")
    args = parser.parse_args()

    inputs = zoo.load_set(args.set, args.count)
    fmk = sniff_format(args.model)
    defaults = {f.name: f.default for f in FLAGS}
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(defaults, fmk=fmk, modelFile=args.model, quantWeightSize=args.quantWeightSize,
                    quantWeightChannel=args.quantWeightChannel)
        float_summary = convert(dict(base, outputFile=os.path.join(tmp, "fp32")), log=lambda *_: None)
        if args.reference:
            reference = zoo.load_reference(args.reference)[:args.count]
        else:
            executor = Executor(read_ms(float_summary["output"]))
            reference = np.stack([executor.run([x])[0] for x in inputs])
        print(f"model {os.path.basename(args.model)}, {len(inputs)} inputs of {args.set}, "
              f"float .ms {float_summary['size']} bytes")
        print(f"{'bits':>4} {'size':>7} {'q-layers':>9} {'(b/32)':>7} {'top-1':>7} {'mean rel err':>12} "
              f"{'cosine':>8} {'convert s':>9}")
        for bits in args.bits:
            start = time.perf_counter()
            summary = convert(dict(base, outputFile=os.path.join(tmp, f"wq{bits}"), quantType="WeightQuant",
                                   bitNum=bits), log=lambda *_: None)
            seconds = time.perf_counter() - start
            top1, rel, cos = evaluate(summary["output"], inputs, reference)
            print(f"{bits:>4} {100 * summary['size'] / float_summary['size']:>6.1f}% "
                  f"{100 * quantized_layer_ratio(summary['output']):>8.2f}% {100 * bits / 32:>6.2f}% "
                  f"{100 * top1:>6.1f}% {rel:>12.4f} {cos:>8.5f} {seconds:>9.2f}", flush=True)


if __name__ == "__main__":
    main()
