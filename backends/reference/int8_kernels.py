"""The int8 kernel table, and the executor's default table: fp32 kernels for float ops, int8 kernels for
lite ops on `!quant.uniform` tensors (what `lower-to-int8` produces)."""

from __future__ import annotations

from quantopt.backends.reference import int8_conv, int8_elementwise, int8_pool, int8_shape
from quantopt.backends.reference.kernel import ConstantLookup, Kernel, KernelBuilder
from quantopt.backends.reference.kernels_fp32 import FP32_KERNELS
from quantopt.dialects.quant import UniformQuantizedType, element_type_of
from xdsl.ir import Operation

INT8_KERNELS: dict[type[Operation], KernelBuilder] = {
    **int8_conv.BUILDERS, **int8_elementwise.BUILDERS, **int8_pool.BUILDERS, **int8_shape.BUILDERS,
}


def is_integer_op(op: Operation) -> bool:
    """A lite op computing on quantized values: its results are `!quant.uniform` tensors."""
    return any(isinstance(element_type_of(r.type), UniformQuantizedType) for r in op.results)


def _by_element_type(int8_builder: KernelBuilder, fp32_builder: KernelBuilder | None) -> KernelBuilder:
    def build(op: Operation, const: ConstantLookup) -> Kernel:
        if is_integer_op(op) or fp32_builder is None:
            return int8_builder(op, const)
        return fp32_builder(op, const)

    return build


KERNELS: dict[type[Operation], KernelBuilder] = {
    **FP32_KERNELS,
    **{op_type: _by_element_type(builder, FP32_KERNELS.get(op_type)) for op_type, builder in INT8_KERNELS.items()},
}
