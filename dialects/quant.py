"""The `quant` dialect: MLIR's quantized types and the casts between float, quantized and storage values.

Types print exactly as MLIR prints them:

    !quant.uniform<i8:f32, 2.000000e-02:-3>                 per tensor
    !quant.uniform<i8<-127:127>:f32:0, {1.0e-01,2.0e-01:3}>  per axis, narrow storage range
    !quant.calibrated<f32<-9.000000e-01:1.200000e+00>>      calibration result, no scale chosen yet
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseArrayBase,
    Float32Type,
    FloatData,
    IntAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


def format_mlir_float(value: float) -> str:
    """Print a double the way MLIR's AsmPrinter does: `%.6e` when that round-trips, else the shortest exact form."""
    short = f"{value:.6e}"
    if float(short) == value:
        return short
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"


def storage_range(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def _parse_storage(parser: AttrParser) -> tuple[IntegerType, int, int]:
    pos = parser.pos
    spelling = parser.parse_identifier()
    if len(spelling) < 2 or spelling[0] not in "iu" or not spelling[1:].isdigit():
        parser.raise_error(f"expected storage type like i8 or u8, got '{spelling}'", pos)
    width = int(spelling[1:])
    if not 1 <= width <= 32:
        parser.raise_error(f"storage width must be in [1, 32], got {width}", pos)
    signed = spelling[0] == "i"
    lo, hi = storage_range(width, signed)
    if parser.parse_optional_punctuation("<") is not None:
        lo = parser.parse_integer(allow_boolean=False)
        parser.parse_punctuation(":")
        hi = parser.parse_integer(allow_boolean=False)
        parser.parse_punctuation(">")
    storage = IntegerType(width, Signedness.SIGNLESS if signed else Signedness.UNSIGNED)
    return storage, lo, hi


def _parse_scale_zero_point(parser: AttrParser) -> tuple[float, int]:
    scale = float(parser.parse_number())
    zero_point = 0
    if parser.parse_optional_punctuation(":") is not None:
        zero_point = parser.parse_integer(allow_boolean=False)
    return scale, zero_point


class QuantizedType(ParametrizedAttribute, TypeAttribute):
    """Shared storage description: storage integer type, its clamp range and the expressed float type."""

    storage_type: IntegerType
    storage_min: IntAttr
    storage_max: IntAttr
    expressed_type: Attribute

    @property
    def is_signed(self) -> bool:
        return self.storage_type.signedness.data != Signedness.UNSIGNED

    @property
    def width(self) -> int:
        return self.storage_type.width.data

    @property
    def qmin(self) -> int:
        return self.storage_min.data

    @property
    def qmax(self) -> int:
        return self.storage_max.data

    def _print_storage(self, printer: Printer) -> None:
        printer.print_string(("i" if self.is_signed else "u") + str(self.width))
        if (self.qmin, self.qmax) != storage_range(self.width, self.is_signed):
            printer.print_string(f"<{self.qmin}:{self.qmax}>")
        printer.print_string(":")
        printer.print_attribute(self.expressed_type)

    def _verify_storage(self) -> None:
        lo, hi = storage_range(self.width, self.is_signed)
        if not lo <= self.qmin < self.qmax <= hi:
            raise VerifyException(
                f"storage range [{self.qmin}:{self.qmax}] does not fit in "
                f"{'i' if self.is_signed else 'u'}{self.width} or is empty"
            )
        if not isinstance(self.expressed_type, AnyFloat):
            raise VerifyException("expressed type of a quantized type must be a float type")


def _verify_scale_zero_point(scale: float, zero_point: int, qmin: int, qmax: int) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise VerifyException(f"scale must be a positive finite number, got {scale}")
    if not qmin <= zero_point <= qmax:
        raise VerifyException(f"zero point {zero_point} is outside the storage range [{qmin}:{qmax}]")


@irdl_attr_definition
class UniformQuantizedType(QuantizedType):
    """`!quant.uniform`: real = scale * (q - zero_point), per tensor or per slice along `axis`.

    MLIR spells both forms `!quant.uniform`, so one class holds both: `axis` is -1 for per-tensor
    quantization (then there is exactly one scale and zero point).
    """

    name = "quant.uniform"

    axis: IntAttr
    scales: ArrayAttr[FloatData]
    zero_points: ArrayAttr[IntAttr]

    @staticmethod
    def get(
        scales: float | Sequence[float], zero_points: int | Sequence[int], *, axis: int = -1, width: int = 8,
        signed: bool = True, qmin: int | None = None, qmax: int | None = None, expressed: Attribute | None = None,
    ) -> UniformQuantizedType:
        from xdsl.dialects.builtin import f32

        scales = [float(scales)] if isinstance(scales, (int, float)) else [float(s) for s in scales]
        zero_points = [int(zero_points)] * len(scales) if isinstance(zero_points, int) else [int(z) for z in zero_points]
        lo, hi = storage_range(width, signed)
        storage = IntegerType(width, Signedness.SIGNLESS if signed else Signedness.UNSIGNED)
        return UniformQuantizedType(
            storage, IntAttr(lo if qmin is None else qmin), IntAttr(hi if qmax is None else qmax),
            expressed or f32, IntAttr(axis),
            ArrayAttr([FloatData(s) for s in scales]), ArrayAttr([IntAttr(z) for z in zero_points]),
        )

    @property
    def is_per_axis(self) -> bool:
        return self.axis.data >= 0

    @property
    def scale_values(self) -> list[float]:
        return [s.data for s in self.scales.data]

    @property
    def zero_point_values(self) -> list[int]:
        return [z.data for z in self.zero_points.data]

    @property
    def scale(self) -> float:
        assert not self.is_per_axis
        return self.scales.data[0].data

    @property
    def zero_point(self) -> int:
        assert not self.is_per_axis
        return self.zero_points.data[0].data

    def verify(self) -> None:
        self._verify_storage()
        if len(self.scales.data) != len(self.zero_points.data) or not self.scales.data:
            raise VerifyException("quantized type needs as many zero points as scales, at least one")
        if self.axis.data < -1:
            raise VerifyException(f"quantized dimension must be non-negative, got {self.axis.data}")
        if not self.is_per_axis and len(self.scales.data) != 1:
            raise VerifyException("per-tensor quantized type has exactly one scale")
        for s, z in zip(self.scales.data, self.zero_points.data):
            _verify_scale_zero_point(s.data, z.data, self.qmin, self.qmax)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        self._print_storage(printer)
        parts = [
            format_mlir_float(s.data) + (f":{z.data}" if z.data else "")
            for s, z in zip(self.scales.data, self.zero_points.data)
        ]
        if self.is_per_axis:
            printer.print_string(f":{self.axis.data}, {{" + ",".join(parts) + "}>")
        else:
            printer.print_string(", " + parts[0] + ">")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        parser.parse_punctuation("<")
        storage, lo, hi = _parse_storage(parser)
        parser.parse_punctuation(":")
        expressed = parser.parse_type()
        axis = -1
        if parser.parse_optional_punctuation(":") is not None:
            axis = parser.parse_integer(allow_boolean=False, allow_negative=False)
        parser.parse_punctuation(",")
        if axis < 0:
            pairs = [_parse_scale_zero_point(parser)]
        else:
            pairs = parser.parse_comma_separated_list(
                parser.Delimiter.BRACES, lambda: _parse_scale_zero_point(parser)
            )
        parser.parse_punctuation(">")
        return (
            storage, IntAttr(lo), IntAttr(hi), expressed, IntAttr(axis),
            ArrayAttr([FloatData(s) for s, _ in pairs]), ArrayAttr([IntAttr(z) for _, z in pairs]),
        )


@irdl_attr_definition
class CalibratedQuantizedType(ParametrizedAttribute, TypeAttribute):
    """`!quant.calibrated<f32<min:max>>`: an observed float range before a lowering pass picks scales."""

    name = "quant.calibrated"

    expressed_type: Attribute
    min: FloatData
    max: FloatData

    @staticmethod
    def get(lo: float, hi: float, expressed: Attribute | None = None) -> CalibratedQuantizedType:
        from xdsl.dialects.builtin import f32

        return CalibratedQuantizedType(expressed or f32, FloatData(float(lo)), FloatData(float(hi)))

    def verify(self) -> None:
        if not self.min.data <= self.max.data:
            raise VerifyException(f"calibrated min {self.min.data} is greater than max {self.max.data}")

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        printer.print_attribute(self.expressed_type)
        printer.print_string(f"<{format_mlir_float(self.min.data)}:{format_mlir_float(self.max.data)}>>")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        parser.parse_punctuation("<")
        expressed = parser.parse_type()
        parser.parse_punctuation("<")
        lo = float(parser.parse_number())
        parser.parse_punctuation(":")
        hi = float(parser.parse_number())
        parser.parse_punctuation(">")
        parser.parse_punctuation(">")
        return (expressed, FloatData(lo), FloatData(hi))


AnyQuantizedType = UniformQuantizedType


def element_type_of(value_type: Attribute) -> Attribute:
    return value_type.element_type if isinstance(value_type, TensorType) else value_type


def _shape_of(value_type: Attribute) -> tuple[int, ...] | None:
    return tuple(value_type.get_shape()) if isinstance(value_type, TensorType) else None


class _CastOp(IRDLOperation):
    input = operand_def()
    result = result_def()
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, input, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])

    def _check(self, source_kind: str, target_kind: str) -> None:
        src, dst = self.input.type, self.result.type
        if _shape_of(src) != _shape_of(dst):
            raise VerifyException(f"{self.name}: operand and result shapes differ")
        kinds = {"float": AnyFloat, "quantized": AnyQuantizedType, "integer": IntegerType}
        if not isinstance(element_type_of(src), kinds[source_kind]):
            raise VerifyException(f"{self.name}: operand element type must be {source_kind}")
        if not isinstance(element_type_of(dst), kinds[target_kind]):
            raise VerifyException(f"{self.name}: result element type must be {target_kind}")
        for t in (element_type_of(src), element_type_of(dst)):
            if isinstance(t, UniformQuantizedType) and t.is_per_axis:
                shape = _shape_of(src)
                axis = t.axis.data
                if shape is not None and (axis >= len(shape) or shape[axis] != len(t.scales.data)):
                    raise VerifyException(
                        f"{self.name}: per-axis type has {len(t.scales.data)} scales for dimension {axis} "
                        f"of shape {list(shape)}"
                    )


@irdl_op_definition
class QuantizeCastOp(_CastOp):
    """`quant.qcast`: float to quantized (round, clamp)."""

    name = "quant.qcast"

    def verify_(self) -> None:
        self._check("float", "quantized")


@irdl_op_definition
class DequantizeCastOp(_CastOp):
    """`quant.dcast`: quantized to float."""

    name = "quant.dcast"

    def verify_(self) -> None:
        self._check("quantized", "float")


@irdl_op_definition
class StorageCastOp(_CastOp):
    """`quant.scast`: reinterpret between storage integers and quantized values (no arithmetic)."""

    name = "quant.scast"

    def verify_(self) -> None:
        src, dst = element_type_of(self.input.type), element_type_of(self.result.type)
        if isinstance(src, IntegerType):
            self._check("integer", "quantized")
            storage = dst
        else:
            self._check("quantized", "integer")
            storage = src
        integer = src if isinstance(src, IntegerType) else dst
        assert isinstance(storage, QuantizedType) and isinstance(integer, IntegerType)
        if integer.width.data != storage.width:
            raise VerifyException(
                f"quant.scast: storage width {storage.width} does not match integer width {integer.width.data}"
            )


CALIBRATION_PROPERTIES = ("range", "sample_min", "sample_max", "histogram_exp", "histogram")


@irdl_op_definition
class ObserveOp(IRDLOperation):
    """`quant.observe`: the identity on a float tensor that full quantization will quantize.

    `insert-calibration` places one after each such tensor, numbered by `id`; `calibrate` records what
    it saw there over the calibration set, all five properties or none:

    - `range`: `!quant.calibrated<f32<min:max>>`, the extremes over every sample;
    - `sample_min`, `sample_max`: the extremes of each sample, in sample order;
    - `histogram`, `histogram_exp`: counts of the non-zero |x| in equal bins over [0, 2^histogram_exp).

    `lower-calibration` replaces it by a `quant.qcast` / `quant.dcast` pair. Not `Pure`: an observer must
    survive dead-code elimination and CSE until it is lowered.
    """

    name = "quant.observe"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    id = prop_def(IntegerAttr)
    range = opt_prop_def(CalibratedQuantizedType)
    sample_min = opt_prop_def(DenseArrayBase)
    sample_max = opt_prop_def(DenseArrayBase)
    histogram_exp = opt_prop_def(IntegerAttr)
    histogram = opt_prop_def(DenseArrayBase)
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input)"

    def __init__(self, input, id: int):
        from xdsl.dialects.builtin import i64

        super().__init__(operands=[input], result_types=[input.type], properties={"id": IntegerAttr(id, i64)})

    @property
    def observer_id(self) -> int:
        return self.id.value.data

    @property
    def is_calibrated(self) -> bool:
        return self.range is not None

    def verify_(self) -> None:
        if not isinstance(element_type_of(self.input.type), AnyFloat):
            raise VerifyException(f"{self.name}: observes float tensors only, got {self.input.type}")
        if self.observer_id < 0:
            raise VerifyException(f"{self.name}: id must be non-negative, got {self.observer_id}")
        present = [p for p in CALIBRATION_PROPERTIES if self.properties.get(p) is not None]
        if present and len(present) != len(CALIBRATION_PROPERTIES):
            missing = [p for p in CALIBRATION_PROPERTIES if p not in present]
            raise VerifyException(f"{self.name}: calibration properties come together; missing {', '.join(missing)}")
        if present:
            self._verify_statistics()

    def _verify_statistics(self) -> None:
        import numpy as np

        lows, highs, counts = self.sample_min, self.sample_max, self.histogram
        if not (isinstance(lows.elt_type, Float32Type) and isinstance(highs.elt_type, Float32Type)):
            raise VerifyException(f"{self.name}: sample_min and sample_max must be f32 arrays")
        lows, highs = np.frombuffer(lows.data.data, np.float32), np.frombuffer(highs.data.data, np.float32)
        if not lows.size or lows.size != highs.size or np.any(lows > highs):
            raise VerifyException(f"{self.name}: sample_min and sample_max need one ordered pair per sample")
        if (float(lows.min()), float(highs.max())) != (self.range.min.data, self.range.max.data):
            raise VerifyException(f"{self.name}: range does not match the extremes of sample_min and sample_max")
        if not (isinstance(counts.elt_type, IntegerType) and counts.elt_type.width.data == 64):
            raise VerifyException(f"{self.name}: histogram must be an i64 array")
        counts = np.frombuffer(counts.data.data, np.int64)
        if not counts.size or np.any(counts < 0):
            raise VerifyException(f"{self.name}: histogram needs at least one bin and no negative counts")


Quant = Dialect(
    "quant",
    [QuantizeCastOp, DequantizeCastOp, StorageCastOp, ObserveOp],
    [UniformQuantizedType, CalibratedQuantizedType],
)
