"""The fp32 kernel table: op class to kernel builder, one entry per lite op and quant cast."""

from __future__ import annotations

from quantopt.backends.reference import conv, elementwise, normalization, pool, quant_casts, resize, shape
from quantopt.backends.reference.kernel import ConstantLookup, Kernel, KernelBuilder, unsupported
from quantopt.dialects import lite
from xdsl.dialects.builtin import Float32Type, TensorType
from xdsl.ir import Operation

# Pure data movement works on storage integers as well as on floats.
_ANY_ELEMENT_TYPE = (lite.ReshapeOp, lite.TransposeOp, lite.ConcatOp, lite.SplitOp, lite.SliceOp)


def _float32_only(builder: KernelBuilder) -> KernelBuilder:
    """Reject ops on quantized or non-f32 tensors: they need integer kernels, not these."""

    def build(op: Operation, const: ConstantLookup) -> Kernel:
        for value in (*op.operands, *op.results):
            if not (isinstance(value.type, TensorType) and isinstance(value.type.element_type, Float32Type)):
                raise unsupported(op, f"has a {value.type} operand or result; the fp32 kernels need f32 tensors")
        return builder(op, const)

    return build


FP32_KERNELS: dict[type[Operation], KernelBuilder] = {
    **{op_type: builder if op_type in _ANY_ELEMENT_TYPE else _float32_only(builder)
       for family in (conv, elementwise, pool, shape, normalization, resize)
       for op_type, builder in family.BUILDERS.items()},
    **quant_casts.BUILDERS,
}
