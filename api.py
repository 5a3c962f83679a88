"""The small public API: import any supported model file, run a module on numpy inputs."""

from __future__ import annotations

import os

from xdsl.dialects.builtin import ModuleOp

from quantopt.errors import QuantOptError


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
        from quantopt.context import make_context
        from xdsl.parser import Parser

        with open(path) as f:
            module = Parser(make_context(), f.read(), path).parse_module()
        module.verify()
        return module
    raise QuantOptError(path, f"unsupported model format '{ext or '(none)'}'", "expected .onnx, .tflite, .mindir, .ms or .mlir")


def Executor(module_or_path, **kwargs):  # noqa: N802 - a factory that reads like the class it returns
    from quantopt.backends.reference.executor import Executor as _Executor

    return _Executor(module_or_path, **kwargs)
