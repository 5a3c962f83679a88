"""Kernel tables that also hand each lite op's tensors to a callback while the model runs.

`capturing_kernels(record)` wraps every lite op's kernel so that after it runs, `record(name, op, value)` is
called once per named result, `value` being a float32 copy (quantized results are dequantized with their
type's scale and zero point, so float and int8 runs compare directly). Names are `layer_name(op)` for the
first result and the result's name hint for the others: the frontend's tensor names, which the float and
the quantized module share. With `inputs=True` the callback gets the op's first operand instead (the
activation a layer reads), under the layer's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from xdsl.ir import Operation

from quantopt.backends.reference.int8_kernels import KERNELS
from quantopt.backends.reference.kernel import Kernel, KernelBuilder
from quantopt.backends.reference.quant_casts import dequantize
from quantopt.dialects.quant import UniformQuantizedType, element_type_of

Record = Callable[[str, Operation, np.ndarray], None]


def result_names(op: Operation) -> list[str | None]:
    if not op.results:
        return []
    first = op.attributes.get("name")
    names = [first.data if first is not None else op.results[0].name_hint]
    return names + [r.name_hint for r in op.results[1:]]


def as_float(value: np.ndarray, value_type) -> np.ndarray:
    qtype = element_type_of(value_type)
    if isinstance(qtype, UniformQuantizedType):
        return dequantize(value, qtype)
    return np.array(value, np.float32, copy=True)


def _wrap(builder: KernelBuilder, record: Record, inputs: bool) -> KernelBuilder:
    def build(op: Operation, const) -> Kernel:
        kernel = builder(op, const)
        fn = kernel.fn
        names = result_names(op)
        if inputs:
            if not names or names[0] is None or not kernel.inputs:
                return kernel
            first_type = kernel.inputs[0].type

            def run_recording_input(*args):
                record(names[0], op, as_float(args[0], first_type))
                return fn(*args)

            return Kernel(run_recording_input, kernel.inputs, returns_view=kernel.returns_view)

        types = [r.type for r in op.results]

        def run_recording_results(*args):
            result = fn(*args)
            values = result if len(types) > 1 else (result,)
            for name, value, value_type in zip(names, values, types):
                if name is not None:
                    record(name, op, as_float(value, value_type))
            return result

        # No in-place variant: a later kernel must not overwrite what was recorded before it is copied.
        return Kernel(run_recording_results, kernel.inputs, returns_view=kernel.returns_view)

    return build


def capturing_kernels(record: Record, inputs: bool = False,
                      base: Mapping[type[Operation], KernelBuilder] = KERNELS) -> dict[type[Operation], KernelBuilder]:
    """`base` with every lite op's kernel recording its results (or first operand, see the module docstring)."""
    return {op_type: (_wrap(builder, record, inputs) if op_type.name.startswith("lite.") else builder)
            for op_type, builder in base.items()}
