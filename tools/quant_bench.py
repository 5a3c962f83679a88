"""`quant-bench`: run a model on raw input files, MindSpore Lite `benchmark` style.

    quant-bench --modelFile=m.ms --inDataFile=a.bin[,b.bin] [--benchmarkDataFile=ref.out] [--accuracyThreshold=0.5]
    quant-bench --modelFile=m_wq.ms --compareModel=m.onnx --evalDir=DIR
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np

from quantopt.errors import QuantOptError
from quantopt.tools.cli import run_tool
from quantopt.tools.flags import Flag, parse_flags, usage
from quantopt.tools.metrics import cosine, mslite_mean_bias, relative_error

FLAGS = [
    Flag("modelFile", "model to run (.onnx, .tflite, .mindir, .ms, .mlir)", required=True),
    Flag("inDataFile", "comma-separated raw input files, one per model input"),
    Flag("benchmarkDataFile", "reference outputs: per output a line 'name rank d0 d1 ...' then its values"),
    Flag("accuracyThreshold", "largest mean bias accepted, in percent", default="0.5"),
    Flag("compareModel", "float model to compare against over --evalDir"),
    Flag("evalDir", "directory of .bin inputs (one subdirectory per model input for multi-input models)"),
]


def read_input_files(paths: list[str], input_types) -> list[np.ndarray]:
    from quantopt.dialects.constant import numpy_dtype

    if len(paths) != len(input_types):
        raise QuantOptError(None, f"model has {len(input_types)} inputs, got {len(paths)} input files")
    arrays = []
    for path, t in zip(paths, input_types):
        shape, dtype = tuple(t.get_shape()), numpy_dtype(t.element_type)
        if not os.path.isfile(path):
            raise QuantOptError(path, "no such file")
        size, expected = os.path.getsize(path), math.prod(shape) * dtype.itemsize
        if size != expected:
            raise QuantOptError(path, f"has {size} bytes, input of shape {list(shape)} needs {expected}")
        arrays.append(np.fromfile(path, dtype=np.uint8).view(dtype).reshape(shape))
    return arrays


def read_benchmark_data(path: str) -> dict[str, np.ndarray]:
    if not os.path.isfile(path):
        raise QuantOptError(path, "no such file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.split() for line in f if line.strip()]
    except UnicodeDecodeError as err:
        raise QuantOptError(path, "not a text file", f"byte {err.start} is not UTF-8") from None
    if len(lines) % 2:
        raise QuantOptError(path, "expected pairs of lines: 'name rank dims...' then values")
    out = {}
    for i in range(0, len(lines), 2):
        head, values = lines[i], lines[i + 1]
        try:
            rank = int(head[1])
            shape = tuple(int(d) for d in head[2:2 + rank])
            data = np.array([float(v) for v in values], np.float32)
        except (ValueError, IndexError):
            raise QuantOptError(path, "malformed header or values", f"line {i + 1}") from None
        if len(shape) != rank or min(shape, default=0) < 0:
            raise QuantOptError(path, f"malformed shape: rank {rank}, dimensions {list(shape)}", f"line {i + 1}")
        if data.size != math.prod(shape):
            raise QuantOptError(path, f"{head[0]} has {data.size} values for shape {list(shape)}", f"line {i + 2}")
        out[head[0]] = data.reshape(shape)
    return out


def list_eval_samples(eval_dir: str, n_inputs: int) -> list[list[str]]:
    """Input files per sample: `.bin` files sorted by name; with several inputs, one subdirectory per
    input (sorted by name) and files paired in sorted order."""
    if not os.path.isdir(eval_dir):
        raise QuantOptError(eval_dir, "no such directory")
    if n_inputs == 1:
        dirs = [eval_dir]
    else:
        dirs = sorted(os.path.join(eval_dir, d) for d in os.listdir(eval_dir)
                      if os.path.isdir(os.path.join(eval_dir, d)))
        if len(dirs) != n_inputs:
            raise QuantOptError(eval_dir, f"needs {n_inputs} subdirectories, one per model input, found {len(dirs)}")
    files = [sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".bin")) for d in dirs]
    count = min(len(f) for f in files)
    if count == 0:
        raise QuantOptError(eval_dir, "no .bin files")
    return [[f[i] for f in files] for i in range(count)]


def _function(module):
    from xdsl.dialects.func import FuncOp

    return next(op for op in module.body.ops if isinstance(op, FuncOp))


def run_benchmark(values: dict) -> int:
    from quantopt import Executor, import_model

    module = import_model(values["modelFile"])
    inputs_t = _function(module).function_type.inputs.data
    executor = Executor(module)
    if values["compareModel"]:
        return compare_models(executor, values, inputs_t)
    if not values["inDataFile"]:
        raise QuantOptError(None, "give --inDataFile (or --compareModel with --evalDir)")
    outputs = executor.run(read_input_files(values["inDataFile"].split(","), inputs_t))
    for i, out in enumerate(outputs):
        flat = out.ravel()
        print(f"output {i}: shape {list(out.shape)}, first values {' '.join(f'{v:g}' for v in flat[:10])}")
    if not values["benchmarkDataFile"]:
        return 0
    refs = list(read_benchmark_data(values["benchmarkDataFile"]).items())
    if len(refs) != len(outputs):
        raise QuantOptError(values["benchmarkDataFile"], f"has {len(refs)} outputs, model has {len(outputs)}")
    biases = []
    for (name, ref), out in zip(refs, outputs):
        if ref.size != out.size:
            raise QuantOptError(values["benchmarkDataFile"], f"{name} has {ref.size} values, output has {out.size}")
        biases.append(mslite_mean_bias(out, ref.reshape(out.shape)))
        print(f"Mean bias of tensor {name}: {biases[-1] * 100:.6f}%")
    total = float(np.mean(biases))
    print(f"Mean bias of all tensors: {total * 100:.6f}%")
    threshold = float(values["accuracyThreshold"])
    if total * 100 > threshold:
        print(f"error: mean bias {total * 100:.6f}% is above the accuracy threshold {threshold}%", file=sys.stderr)
        return 1
    return 0


def compare_models(executor, values: dict, inputs_t) -> int:
    from quantopt import Executor, import_model

    if not values["evalDir"]:
        raise QuantOptError(None, "--compareModel needs --evalDir")
    reference = Executor(import_model(values["compareModel"]))
    rel, cos, top1 = [], [], []
    for files in list_eval_samples(values["evalDir"], len(inputs_t)):
        inputs = read_input_files(files, inputs_t)
        outs, refs = executor.run(inputs), reference.run(inputs)
        out = np.concatenate([o.ravel() for o in outs])
        ref = np.concatenate([r.ravel() for r in refs])
        rel.append(relative_error(out, ref))
        cos.append(cosine(out, ref))
        top1.append(int(np.argmax(outs[0])) == int(np.argmax(refs[0])))
    print(f"samples: {len(rel)}")
    print(f"mean relative error: {np.mean(rel):.6f}")
    print(f"mean cosine similarity: {np.mean(cos):.6f}")
    print(f"top-1 agreement: {100 * np.mean(top1):.2f}%")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv

    def body() -> int:
        values = parse_flags(argv, FLAGS, "quant-bench")
        if values is None:
            print(usage("quant-bench", __doc__.strip().splitlines()[0], FLAGS))
            return 0
        return run_benchmark(values)

    return run_tool(body)


if __name__ == "__main__":
    sys.exit(main())
