"""quant-opt: a post-training quantization compiler on xDSL.

Public API shared by tools and tests:

    module = quantopt.import_model("model.onnx")      # any supported format, by extension
    outputs = quantopt.Executor(module).run([x])        # numpy in, numpy out
"""

from quantopt.api import import_model
from quantopt.backends.reference.executor import Executor

__all__ = ["Executor", "import_model"]
