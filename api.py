"""The small public API: import any supported model file, run a module on numpy inputs."""

from __future__ import annotations

import os

from xdsl.dialects.builtin import ModuleOp

from quantopt import textual_ir
from quantopt.errors import QuantOptError

textual_ir.use_linear_string_lexing()  # for every parse in a process that uses quantopt


def import_model(path: str, batch_size: int = 1) -> ModuleOp:
    """Import a model file into our IR, choosing the frontend by file extension."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise QuantOptError(path, "no such file")
    if ext == ".onnx":
        from quantopt.frontends.onnx import import_onnx

        return import_onnx(path, batch_size=batch_size)
    if ext == ".tflite":
        from quantopt.frontends.tflite import import_tflite

        return import_tflite(path)
    if ext == ".mindir":
        from quantopt.frontends.mindir import import_mindir

        return import_mindir(path)
    if ext == ".ms":
        from quantopt.backends.ms.reader import read_ms

        return read_ms(path)
    if ext == ".mlir":
        return _parse_textual_ir(path)
    raise QuantOptError(path, f"unsupported model format '{ext or '(none)'}'", "expected .onnx, .tflite, .mindir, .ms or .mlir")


def _parse_textual_ir(path: str) -> ModuleOp:
    with open(path, "rb") as f:
        text = textual_ir.decode(f.read(), path)
    return textual_ir.parse_module(text, path)
