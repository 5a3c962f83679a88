"""The state of a TFLite import: tensor indices bound to SSA values or to constants not yet materialised.

Every activation is an f32 SSA value, quantized tensors included: an int8 (uint8, int16) activation is
held as its dequantized value, already rounded onto its quantization grid by a `quant.qcast` +
`quant.dcast` pair carrying the tensor's scale and zero point (QDQ form). So an already-quantized model
imports as a float graph that reproduces the int8 model's grid, and a quantizer sees every scale.

Constants stay numpy arrays (with their quantization parameters) until an op uses them, so converters can
read parameters (`perm`, `paddings`, ...) directly and re-lay weights out once (`weight(index, perm)`).
Quantized constants materialise as `arith.constant` (integers) -> `quant.scast` -> `quant.dcast` (f32).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import Block, Operation, SSAValue

from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.lite import shape_of
from quantopt.dialects.quant import (
    DequantizeCastOp,
    QuantizeCastOp,
    StorageCastOp,
    UniformQuantizedType,
    storage_range,
)
from quantopt.frontends.tflite_model import NUMPY_TYPES, ConversionError, Model, QuantParams, Tensor
from quantopt.frontends.tflite_sparsity import densify

STORAGE = {np.dtype(np.int8): (8, True), np.dtype(np.uint8): (8, False), np.dtype(np.int16): (16, True),
           np.dtype(np.int32): (32, True)}
"""Storage width and signedness of the integer types that carry quantized values."""


@dataclass(frozen=True)
class Constant:
    """A constant tensor's dense value; `quant` is set when `array` holds quantized integers."""

    array: np.ndarray
    quant: QuantParams | None = None

    def transposed(self, perm: Sequence[int]) -> Constant:
        quant = self.quant
        if quant is not None and quant.per_axis:
            quant = QuantParams(quant.scales, quant.zero_points, list(perm).index(quant.axis))
        return Constant(np.ascontiguousarray(self.array.transpose(perm)), quant)

    def dequantized(self) -> np.ndarray:
        """The float32 values this constant stands for."""
        if self.quant is None:
            return self.array.astype(np.float32)
        shape = [1] * self.array.ndim
        if self.quant.per_axis:
            shape[self.quant.axis] = -1
        scales = self.quant.scales.reshape(shape)
        zero_points = self.quant.zero_points.reshape(shape)
        return ((self.array.astype(np.float64) - zero_points) * scales).astype(np.float32)


def quantized_type(quant: QuantParams, storage: np.dtype) -> UniformQuantizedType:
    storage = np.dtype(storage)
    if storage not in STORAGE:
        raise ConversionError(f"quantized tensors of type {storage} are not supported")
    if not (np.isfinite(quant.scales).all() and (quant.scales > 0).all()):
        raise ConversionError(f"quantization scales must be positive, got {quant.scales.tolist()}")
    width, signed = STORAGE[storage]
    lo, hi = storage_range(width, signed)
    if not ((lo <= quant.zero_points) & (quant.zero_points <= hi)).all():
        raise ConversionError(f"zero points {quant.zero_points.tolist()} exceed the {storage} range")
    return UniformQuantizedType.get(quant.scales.tolist(), quant.zero_points.tolist(), axis=quant.axis,
                                    width=width, signed=signed)


def _sanitize(name: str) -> str | None:
    name = re.sub(r"[^A-Za-z0-9_$.-]", "_", name)
    name = re.sub(r"_\d+$", "", name)  # xDSL drops numeric suffixes anyway
    if not name:
        return None
    return "_" + name if name[0].isdigit() else name


class GraphBuilder:
    """Maps tensor indices to values while the operators of one subgraph are converted in order."""

    def __init__(self, model: Model, block: Block):
        self.model = model
        self.block = block
        self.values: dict[int, SSAValue] = {}
        self.constants: dict[int, Constant] = {}
        self._materialized: dict[tuple[int, tuple[int, ...] | None], SSAValue] = {}

    @property
    def path(self) -> str:
        return self.model.path

    def tensor(self, index: int) -> Tensor:
        if index < 0:
            raise ConversionError("a required input is omitted")
        return self.model.tensors[index]

    def shape(self, index: int) -> tuple[int, ...]:
        if index in self.values:
            return shape_of(self.values[index])
        if index in self.constants:
            return self.constants[index].array.shape
        return self.tensor(index).shape

    def emit(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def emit_value(self, op: Operation) -> SSAValue:
        return self.emit(op).results[0]

    # --- definitions ---------------------------------------------------------------------------------

    def define(self, index: int, value: SSAValue) -> None:
        """Bind an activation; a quantized tensor is first rounded onto its grid."""
        tensor = self.tensor(index)
        if value.name_hint is None:
            value.name_hint = _sanitize(tensor.name)
        if tensor.is_quantized:
            value = self.fake_quant(value, tensor)
            value.name_hint = _sanitize(tensor.name)
        self.values[index] = value

    def define_constant(self, index: int, constant: Constant) -> None:
        self.constants[index] = constant

    def fake_quant(self, value: SSAValue, tensor: Tensor) -> SSAValue:
        qtype = quantized_type(tensor.quant, NUMPY_TYPES[tensor.type])
        shape = shape_of(value)
        quantized = self.emit_value(QuantizeCastOp(value, TensorType(qtype, shape)))
        return self.emit_value(DequantizeCastOp(quantized, lite.tensor(shape)))

    # --- constants -----------------------------------------------------------------------------------

    def is_constant(self, index: int) -> bool:
        if index < 0 or index in self.values:
            return False
        return index in self.constants or self.tensor(index).data is not None

    def constant(self, index: int) -> Constant:
        if index in self.constants:
            return self.constants[index]
        tensor = self.tensor(index)
        if index in self.values or tensor.data is None:
            raise ConversionError(f"input '{tensor.name}' must be a constant")
        array = tensor.data
        if tensor.sparsity is not None:
            array = densify(tensor.data, tensor.sparsity, tensor.shape)
        self.constants[index] = Constant(array, tensor.quant if tensor.is_quantized else None)
        return self.constants[index]

    def ints(self, index: int) -> list[int]:
        """An integer parameter tensor (perm, paddings, shape, axes), flattened."""
        array = self.constant(index).array
        if array.dtype.kind not in "iu":
            raise ConversionError(f"input '{self.tensor(index).name}' must hold integers, got {array.dtype}")
        return [int(v) for v in array.ravel()]

    # --- SSA values ----------------------------------------------------------------------------------

    def value(self, index: int) -> SSAValue:
        """The f32 SSA value of a tensor: an activation, or a constant materialised once."""
        if index in self.values:
            return self.values[index]
        if not self.is_constant(index):
            raise ConversionError(f"tensor '{self.tensor(index).name}' is used before it is computed")
        return self.weight(index)

    def optional_value(self, index: int) -> SSAValue | None:
        return None if index < 0 else self.value(index)

    def weight(self, index: int, perm: Sequence[int] | None = None) -> SSAValue:
        """A constant materialised with its dimensions permuted by `perm` (the quantized axis follows)."""
        key = (index, None if perm is None else tuple(perm))
        if key not in self._materialized:
            constant = self.constant(index)
            if perm is not None:
                constant = constant.transposed(perm)
            value = self._materialize(constant)
            value.name_hint = _sanitize(self.tensor(index).name)
            self._materialized[key] = value
        return self._materialized[key]

    def permuted(self, index: int, perm: Sequence[int]) -> SSAValue:
        """Tensor `index` with dimensions permuted: re-laid at import if constant, else a lite.transpose."""
        if self.is_constant(index):
            return self.weight(index, perm)
        return self.emit_value(lite.TransposeOp(self.value(index), perm))

    def _materialize(self, constant: Constant) -> SSAValue:
        if constant.quant is None:
            if constant.array.dtype.kind != "f":
                raise ConversionError(f"{constant.array.dtype} constants without quantization parameters cannot "
                                      "be used as data")
            return self.emit_value(constant_op(constant.array.astype(np.float32)))
        qtype = quantized_type(constant.quant, constant.array.dtype)
        shape = constant.array.shape
        stored = self.emit_value(constant_op(constant.array))
        quantized = self.emit_value(StorageCastOp(stored, TensorType(qtype, shape)))
        return self.emit_value(DequantizeCastOp(quantized, lite.tensor(shape, f32)))
