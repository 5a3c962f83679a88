"""`onnx.backend.base.Backend` on our ONNX frontend and reference executor, so onnx's own BackendTest
suite can check both against the reference outputs that ship with onnx."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from quantopt.backends.reference.executor import Executor
from quantopt.frontends.onnx import import_onnx_model


class QuantOptRep(BackendRep):
    def __init__(self, executor: Executor):
        self.executor = executor

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        return tuple(self.executor.run(list(inputs)))


class QuantOptBackend(Backend):
    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> QuantOptRep:
        super().prepare(model, device, **kwargs)
        return QuantOptRep(Executor(import_onnx_model(model, model.graph.name or "model")))

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        raise NotImplementedError("quant-opt runs whole models; node tests go through prepare()")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"
