"""The state of an ONNX import: ONNX tensor names bound to constants or SSA values, and their layout.

ONNX activations are NCHW, `lite` wants NHWC. A 4-D value may be held *channels-last*: its SSA value is the
NHWC transpose of the ONNX tensor. Converters ask for the layout they need (`plain` or `nhwc`) and the
builder inserts the transpose once per value. When C == 1 or H == W == 1 the two layouts have the same
element order, and a reshape stands in for the transpose.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from xdsl.ir import Block, Operation, SSAValue

from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.lite import shape_of
from quantopt.limits import ConstantBudget, check_tensor

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
NHWC_AXIS = TO_NCHW  # NCHW axis a is held at position NHWC_AXIS[a] in a channels-last value


class ConversionError(Exception):
    """Raised by converters; the import loop adds the file, op type and node name to the message."""


def same_order_in_both_layouts(nchw_shape: Sequence[int]) -> bool:
    """NCHW and NHWC list the elements in the same order when C or H·W is 1."""
    _, c, h, w = nchw_shape
    return c == 1 or h * w == 1


def nhwc_shape(nchw_shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(nchw_shape[p] for p in TO_NHWC)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < rank:  # a scalar has no axis
        raise ConversionError(f"{what} {axis} out of range for rank {rank}")
    return axis % rank


@dataclass
class OnnxNode:
    """A NodeProto with its attributes decoded, a stable name and the model's opset."""

    proto: onnx.NodeProto
    name: str
    opset: int
    attrs: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def wrap(proto: onnx.NodeProto, index: int, opset: int) -> OnnxNode:
        attrs = {}
        for a in proto.attribute:
            value = onnx.helper.get_attribute_value(a)
            attrs[a.name] = value.decode(errors="replace") if isinstance(value, bytes) else value
        return OnnxNode(proto, proto.name or f"{proto.op_type}_{index}", opset, attrs)

    @property
    def op_type(self) -> str:
        return self.proto.op_type

    @property
    def inputs(self) -> list[str]:
        return list(self.proto.input)

    @property
    def outputs(self) -> list[str]:
        return list(self.proto.output)

    def input(self, index: int) -> str:
        """The name of input `index`, '' when it is absent (optional inputs may be omitted or empty)."""
        return self.proto.input[index] if index < len(self.proto.input) else ""

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def ints(self, name: str, default: Sequence[int] | None = None) -> list[int] | None:
        value = self.attrs.get(name)
        return [int(v) for v in value] if value is not None else (None if default is None else list(default))

    def reject_attr(self, name: str, allowed: Any, default: Any = None) -> None:
        """Fail unless attribute `name` (or its default) equals `allowed`."""
        value = self.attrs.get(name, default)
        if value != allowed:
            raise ConversionError(f"unsupported {name}={value!r}")


@dataclass
class Tensor:
    """A non-constant ONNX tensor: its SSA value, and whether that value is the NHWC form of a 4-D tensor."""

    value: SSAValue
    channels_last: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        held = shape_of(self.value)
        return tuple(held[p] for p in TO_NCHW) if self.channels_last else held


def _sanitize(name: str) -> str | None:
    name = re.sub(r"[^A-Za-z0-9_$.-]", "_", name)
    name = re.sub(r"_\d+$", "", name)  # xDSL strips numeric suffixes anyway
    if not name:
        return None
    return "_" + name if name[0].isdigit() else name


class GraphBuilder:
    """Appends lite ops to a block and keeps the ONNX name -> constant / Tensor environment."""

    def __init__(self, path: str, block: Block):
        self.path = path
        self.block = block
        self.constants: dict[str, np.ndarray] = {}
        self.tensors: dict[str, Tensor] = {}
        self.used: set[str] = set()  # names read by the nodes that reach a graph output
        self.budget = ConstantBudget()
        self._counted: dict[int, np.ndarray] = {}  # id -> array whose memory the budget has counted
        self._other_layout: dict[tuple[SSAValue, tuple[int, ...]], SSAValue] = {}
        self._materialized: dict[tuple[str, bool], SSAValue] = {}

    # -- environment ---------------------------------------------------------------------------------------

    def is_const(self, name: str) -> bool:
        return name in self.constants

    def const(self, name: str) -> np.ndarray | None:
        """The constant bound to `name`, None for absent inputs ('') and non-constant tensors."""
        return self.constants.get(name) if name else None

    def require_const(self, name: str, what: str) -> np.ndarray:
        array = self.const(name)
        if array is None:
            raise ConversionError(f"{what} must be a constant")
        return array

    def scalar(self, name: str, what: str) -> np.generic:
        """The one value of a constant input (a scalar or a one-element tensor)."""
        array = self.require_const(name, what)
        if array.size != 1:
            raise ConversionError(f"{what} must hold one value, got shape {list(array.shape)}")
        return array.reshape(-1)[0]

    def shape(self, name: str) -> tuple[int, ...]:
        if name in self.constants:
            return tuple(self.constants[name].shape)
        return self.tensor(name).shape

    def is_channels_last(self, name: str) -> bool:
        return name in self.tensors and self.tensors[name].channels_last

    def tensor(self, name: str) -> Tensor:
        if name in self.tensors:
            return self.tensors[name]
        if name in self.constants:
            return Tensor(self.materialize(name))
        raise ConversionError(f"tensor '{name}' is not defined before its use")

    def define(self, name: str, value: SSAValue, channels_last: bool = False) -> None:
        if name in self.tensors or name in self.constants:
            raise ConversionError(f"tensor '{name}' is defined twice")
        if value.name_hint is None:
            value.name_hint = _sanitize(name)
        self.tensors[name] = Tensor(value, channels_last)

    def define_const(self, name: str, array: np.ndarray) -> None:
        array = np.asarray(array)
        check_tensor(array.shape, array.dtype.itemsize, f"constant '{name}'")
        memory = array
        while isinstance(memory.base, np.ndarray):  # a view (reshape, identity) shares a counted constant's memory
            memory = memory.base
        if id(memory) not in self._counted:
            self.budget.take(memory.nbytes, f"constant '{name}'")
            self._counted[id(memory)] = memory  # kept alive, so that its id stays its own
        self.constants[name] = array

    def alias(self, name: str, source: str) -> None:
        """Bind `name` to whatever `source` is bound to (Identity, Dropout, Cast to float)."""
        if source in self.constants:
            self.constants[name] = self.constants[source]
        else:
            self.tensors[name] = self.tensor(source)

    # -- emitting ------------------------------------------------------------------------------------------

    def emit(self, op: Operation) -> Operation:
        op.verify()
        self.block.add_op(op)
        return op

    def constant(self, array: np.ndarray, name: str = "") -> SSAValue:
        """`array` as an f32 arith.constant, named after the ONNX tensor `name` it was derived from."""
        array = np.asarray(array)
        if array.dtype.kind != "f":
            raise ConversionError(f"a {array.dtype} constant cannot be used as float data")
        value = self.emit(constant_op(np.asarray(array, np.float32))).results[0]
        value.name_hint = _sanitize(name)
        return value

    def materialize(self, name: str, channels_last: bool = False) -> SSAValue:
        """The constant `name` as an arith.constant, in ONNX layout or (4-D only) permuted to NHWC."""
        key = (name, channels_last)
        if key not in self._materialized:
            array = self.constants[name]
            self._materialized[key] = self.constant(array.transpose(TO_NHWC) if channels_last else array, name)
        return self._materialized[key]

    def reshape(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        if shape_of(value) == tuple(shape):
            return value
        return self.emit(lite.ReshapeOp(value, shape)).output

    def transpose(self, value: SSAValue, perm: Sequence[int]) -> SSAValue:
        if list(perm) == list(range(len(perm))):
            return value
        return self.emit(lite.TransposeOp(value, perm)).output

    # -- layouts -------------------------------------------------------------------------------------------

    def _relayout(self, value: SSAValue, perm: tuple[int, ...], nchw_shape: Sequence[int]) -> SSAValue:
        """`value` permuted by TO_NCHW or TO_NHWC, emitted once per value and direction."""
        if (value, perm) not in self._other_layout:
            shape = tuple(shape_of(value)[p] for p in perm)
            converted = (self.reshape(value, shape) if same_order_in_both_layouts(nchw_shape)
                         else self.transpose(value, perm))
            self._other_layout[(value, perm)] = converted
            self._other_layout[(converted, TO_NCHW if perm == TO_NHWC else TO_NHWC)] = value
        return self._other_layout[(value, perm)]

    def plain(self, name: str) -> SSAValue:
        """The tensor in ONNX layout."""
        if name in self.constants:
            return self.materialize(name)
        t = self.tensor(name)
        return self._relayout(t.value, TO_NCHW, t.shape) if t.channels_last else t.value

    def nhwc(self, name: str) -> SSAValue:
        """A 4-D NCHW tensor as NHWC."""
        shape = self.shape(name)
        if len(shape) != 4:
            raise ConversionError(f"expected a 4-D NCHW tensor, '{name}' has shape {list(shape)}")
        if name in self.constants:
            return self.materialize(name, channels_last=True)
        t = self.tensor(name)
        return t.value if t.channels_last else self._relayout(t.value, TO_NHWC, shape)

    def row_major(self, name: str) -> SSAValue:
        """A value whose elements are in ONNX order, whatever its shape: the input of a reshape."""
        t = self.tensor(name)
        if t.channels_last and same_order_in_both_layouts(t.shape):
            return t.value
        return self.plain(name)

    def nhwc_broadcast(self, name: str) -> SSAValue:
        """An operand of a 4-D elementwise op held channels-last, broadcast-compatible with NHWC."""
        shape = self.shape(name)
        if math.prod(shape) == 1 and name in self.constants:
            return self.materialize(name)
        if len(shape) == 4:
            return self.nhwc(name)
        shape4 = (1,) * (4 - len(shape)) + tuple(shape)
        if name in self.constants:
            return self.constant(self.constants[name].reshape(shape4).transpose(TO_NHWC), name)
        value = self.reshape(self.row_major(name), shape4)
        if same_order_in_both_layouts(shape4):
            return self.reshape(value, nhwc_shape(shape4))
        return self.transpose(value, TO_NHWC)

