"""The state of a MindIR import: node outputs bound to values, and the layout of each activation.

A MindIR name is bound to a `Tensor` (an SSA value), a constant (numpy array, Python scalar, tuple, None),
a `TupleValue` (MakeTuple, multi-output ops) or the side-effect token `MONAD`.

MindIR activations are NCHW, `lite` wants NHWC. A 4-D `Tensor` may be held *channels-last*: its SSA value
is the NHWC transpose of the MindIR tensor. Converters ask for the layout they need (`plain` or `nhwc`)
and the builder converts once per value. When C == 1 or H == W == 1 both layouts list the elements in the
same order, and a reshape stands in for the transpose.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from xdsl.ir import Block, Operation, SSAValue

from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op
from quantopt.dialects.lite import shape_of
from quantopt.frontends.mindir_values import MONAD, ConversionError, attribute_value, declared_shape
from quantopt.frontends.proto import mind_ir_pb2 as pb

TO_NHWC = (0, 2, 3, 1)
TO_NCHW = (0, 3, 1, 2)
NHWC_AXIS = TO_NCHW  # NCHW axis a is held at position NHWC_AXIS[a] of a channels-last value

REFERENCE_PREFIX = "REF::"
_REQUIRED = object()


def same_order_in_both_layouts(nchw_shape: Sequence[int]) -> bool:
    _, c, h, w = nchw_shape
    return c == 1 or h * w == 1


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ConversionError(f"axis {axis} out of range for rank {rank}")
    return axis % rank


@dataclass
class Tensor:
    """A non-constant MindIR tensor: its SSA value, and whether that value is the NHWC form of NCHW data."""

    value: SSAValue
    channels_last: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape MindSpore sees."""
        held = shape_of(self.value)
        return tuple(held[p] for p in TO_NCHW) if self.channels_last else held


@dataclass(frozen=True)
class TupleValue:
    """The value of MakeTuple, or of an op with several outputs (read with TupleGetItem)."""

    items: tuple


@dataclass
class MindirNode:
    """A NodeProto with its primitive resolved: the op type, and the attributes of the primitive (decoded
    on first use, so that plumbing nodes with exotic attributes never need decoding)."""

    proto: pb.NodeProto
    op_type: str
    attribute_protos: Sequence[pb.AttributeProto] = ()
    model_dir: str | None = None

    @cached_property
    def attrs(self) -> dict[str, Any]:
        return {a.name: attribute_value(a, self.model_dir) for a in self.attribute_protos
                if a.name not in ("input_names", "output_names")}

    @property
    def name(self) -> str:
        return self.proto.name or self.output

    @property
    def inputs(self) -> list[str]:
        return list(self.proto.input)

    @property
    def output(self) -> str:
        return self.proto.output[0] if self.proto.output else ""

    @property
    def declared_shape(self) -> tuple[int, ...] | None:
        for attr in self.proto.attribute:
            if attr.name == "shape" or attr.ref_attr_name.startswith("shape:"):
                return declared_shape(attr)
        return None


def primitive_table(model: pb.ModelProto) -> dict[str, pb.PrimitiveProto]:
    return {p.name: p for p in model.primitives}


def wrap_node(proto: pb.NodeProto, primitives: dict[str, pb.PrimitiveProto], model_dir: str | None) -> MindirNode:
    """Resolve `REF::<name>` through the primitive table (2.x); older files name the primitive directly
    and keep its attributes on the node, next to the output shape. A reference to anything else (a call of
    a sub-graph) keeps its `REF::` op type, which no converter accepts."""
    op_type = proto.op_type
    primitive = primitives.get(op_type.removeprefix(REFERENCE_PREFIX)) if op_type.startswith(REFERENCE_PREFIX) else None
    if primitive is not None:
        return MindirNode(proto, primitive.op_type, primitive.attribute, model_dir)
    attrs = [a for a in proto.attribute if a.name and a.name != "shape" and not a.ref_attr_name.startswith("shape:")]
    return MindirNode(proto, op_type, attrs, model_dir)


def sanitize(name: str) -> str | None:
    """An SSA name hint from a MindIR name: drop the graph prefix and the node counter."""
    name = name.split(":")[1] if name.count(":") >= 1 else name
    name = re.sub(r"[^A-Za-z0-9_$.-]", "_", name)
    name = re.sub(r"_\d+$", "", name)  # xDSL strips numeric suffixes anyway
    if not name:
        return None
    return "_" + name if name[0].isdigit() else name


class GraphBuilder:
    """Appends lite ops to a block and keeps the MindIR name -> value environment.

    Layout helpers take bound values (what `get` returns), so that tuple items work like named values."""

    def __init__(self, path: str, block: Block, consumers: Counter, model_dir: str | None = None):
        self.path = path
        self.model_dir = model_dir  # where external weight files live
        self.block = block
        self.values: dict[str, Any] = {}
        self.consumers = consumers  # how many live nodes (and graph outputs) read each name
        self._other_layout: dict[SSAValue, SSAValue] = {}
        self._materialized: dict[tuple[int, bool], tuple[Any, SSAValue]] = {}
        self._hints: dict[int, str] = {}  # id of a parameter's array -> the parameter's name

    # -- environment ---------------------------------------------------------------------------------------

    def bind(self, name: str, value: Any) -> None:
        if name in self.values:
            raise ConversionError(f"'{name}' is defined twice")
        if isinstance(value, Tensor) and value.value.name_hint is None:
            value.value.name_hint = sanitize(name)
        self.values[name] = value

    def bind_parameter(self, name: str, array: np.ndarray) -> None:
        self.bind(name, array)
        self._hints[id(array)] = name

    def hint(self, value: Any) -> str | None:
        """The name of the parameter `value` is, for naming the constants made from it."""
        return self._hints.get(id(value))

    def get(self, name: str) -> Any:
        if name not in self.values:
            raise ConversionError(f"input '{name}' is not defined before its use")
        return self.values[name]

    @staticmethod
    def const(value: Any, what: str) -> Any:
        if isinstance(value, (Tensor, TupleValue)) or value is MONAD or value is None:
            raise ConversionError(f"{what} must be a constant")
        return value

    @staticmethod
    def array(value: Any, what: str) -> np.ndarray:
        """A constant as float32 data."""
        try:
            return np.asarray(GraphBuilder.const(value, what), dtype=np.float32)
        except (ValueError, TypeError) as e:  # ragged or deeply nested tuples, strings, types
            raise ConversionError(f"{what} is not a numeric tensor: {value!r:.60}") from e

    @staticmethod
    def shape(value: Any) -> tuple[int, ...]:
        return value.shape if isinstance(value, Tensor) else np.shape(GraphBuilder.const(value, "the operand"))

    @staticmethod
    def is_channels_last(value: Any) -> bool:
        return isinstance(value, Tensor) and value.channels_last

    # -- emitting ------------------------------------------------------------------------------------------

    def emit(self, op: Operation) -> Operation:
        op.verify()
        self.block.add_op(op)
        return op

    def constant(self, array: np.ndarray, hint: str | None = None) -> SSAValue:
        value = self.emit(constant_op(np.asarray(array, dtype=np.float32))).results[0]
        value.name_hint = sanitize(hint) if hint else None
        return value

    def materialize(self, value: Any, channels_last: bool = False) -> SSAValue:
        """A constant as an arith.constant (once per constant and layout), in MindIR layout or (4-D) NHWC."""
        key = (id(value), channels_last)
        if key not in self._materialized:
            array = self.array(value, "the operand")
            # the entry keeps `value` alive, so its id cannot be reused by another constant
            array = array.transpose(TO_NHWC) if channels_last else array
            self._materialized[key] = (value, self.constant(array, self.hint(value)))
        return self._materialized[key][1]

    def reshape(self, value: SSAValue, shape: Sequence[int]) -> SSAValue:
        if shape_of(value) == tuple(shape):
            return value
        return self.emit(lite.ReshapeOp(value, shape)).output

    def transpose(self, value: SSAValue, perm: Sequence[int]) -> SSAValue:
        if list(perm) == list(range(len(perm))):
            return value
        return self.emit(lite.TransposeOp(value, perm)).output

    # -- layouts -------------------------------------------------------------------------------------------

    def _relayout(self, value: SSAValue, perm: Sequence[int], nchw_shape: Sequence[int]) -> SSAValue:
        if value not in self._other_layout:
            shape = tuple(shape_of(value)[p] for p in perm)
            converted = (self.reshape(value, shape) if same_order_in_both_layouts(nchw_shape)
                         else self.transpose(value, perm))
            self._other_layout[value] = converted
            self._other_layout[converted] = value
        return self._other_layout[value]

    def plain(self, value: Any) -> SSAValue:
        """The tensor in MindIR layout."""
        if not isinstance(value, Tensor):
            return self.materialize(value)
        return self._relayout(value.value, TO_NCHW, value.shape) if value.channels_last else value.value

    def nhwc(self, value: Any) -> SSAValue:
        """A 4-D NCHW tensor as NHWC."""
        shape = self.shape(value)
        if len(shape) != 4:
            raise ConversionError(f"expected a 4-D NCHW tensor, got shape {list(shape)}")
        if not isinstance(value, Tensor):
            return self.materialize(value, channels_last=True)
        return value.value if value.channels_last else self._relayout(value.value, TO_NHWC, shape)

    def row_major(self, value: Any) -> SSAValue:
        """A value whose elements are in MindIR order, whatever its shape: the input of a reshape."""
        if self.is_channels_last(value) and same_order_in_both_layouts(value.shape):
            return value.value
        return self.plain(value)

    def nhwc_broadcast(self, value: Any) -> SSAValue:
        """An operand of a 4-D elementwise op held channels-last, broadcast-compatible with NHWC."""
        shape = self.shape(value)
        if len(shape) == 4:
            return self.nhwc(value)
        if not isinstance(value, Tensor) and math.prod(shape) == 1:
            return self.materialize(value)
        shape4 = (1,) * (4 - len(shape)) + tuple(shape)
        if not isinstance(value, Tensor):
            return self.constant(self.array(value, "the operand").reshape(shape4).transpose(TO_NHWC))
        reshaped = self.reshape(self.row_major(value), shape4)
        if same_order_in_both_layouts(shape4):
            return self.reshape(reshaped, tuple(shape4[p] for p in TO_NHWC))
        return self.transpose(reshaped, TO_NHWC)


def arg(b: GraphBuilder, node: MindirNode, index: int, attr: str, default: Any = _REQUIRED) -> Any:
    """An op argument that 2.x files pass as constant input `index` and older files as attribute `attr`."""
    if index < len(node.inputs):
        value = b.get(node.inputs[index])
        if isinstance(value, (Tensor, TupleValue)) or value is MONAD:
            raise ConversionError(f"argument '{attr}' must be a constant")
        return value
    if attr in node.attrs:
        return node.attrs[attr]
    if default is _REQUIRED:
        raise ConversionError(f"missing argument '{attr}'")
    return default
