"""Lower the QDQ ("fake-quant") form to integer ops on quantized tensors (MindSpore Lite full quantization).

Before, every quantized activation is a `quant.qcast` / `quant.dcast` pair and weights are dequantized
integer constants, so the graph computes in float:

    %q  = quant.qcast %x : tensor<1x8x8x4xf32> to tensor<1x8x8x4x!quant.uniform<i8:f32, 2.0e-02>>
    %d  = quant.dcast %q : ... to tensor<1x8x8x4xf32>
    %ws = quant.scast %w : tensor<8x1x1x4xi8> to tensor<8x1x1x4x!quant.uniform<i8:f32:0, {...}>>
    %wd = quant.dcast %ws : ... to tensor<8x1x1x4xf32>
    %y  = lite.conv2d %d, %wd, %b : (...) -> tensor<1x8x8x8xf32>
    %yq = quant.qcast %y : tensor<1x8x8x8xf32> to tensor<1x8x8x8x!quant.uniform<i8:f32, 5.0e-02:-3>>

After, the same lite op computes on the quantized values: its operands are `%q`, `%ws` and an int32 bias
in units of s_x * s_w[c], and its result has the type `%yq` had, which it replaces:

    %bs = quant.scast %bi : tensor<8xi32> to tensor<8x!quant.uniform<i32:f32:0, {...}>>
    %yq = lite.conv2d %q, %ws, %bs : (...) -> tensor<1x8x8x8x!quant.uniform<i8:f32, 5.0e-02:-3>>

The integer semantics of each op (int32 accumulation, fixed-point requantization, clamps) are defined by
the reference executor's int8 kernels (backends/reference/int8_*.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass

from quantopt.backends.reference.requantize import INT32_MAX, INT32_MIN, round_half_away
from quantopt.dialects import lite, quant
from quantopt.dialects.constant import constant_op, constant_value
from quantopt.passes.weight_quant import layer_name

_ACTIVATION, _WEIGHT, _BIAS = "activation", "weight", "bias"

_POINTWISE = (lite.ActivationOp, lite.ClipOp, lite.SoftmaxOp, lite.MaxPoolOp, lite.AvgPoolOp, lite.ReshapeOp,
              lite.TransposeOp, lite.SliceOp, lite.SplitOp, lite.PadOp, lite.ResizeOp)
_FUSING = (lite.Conv2DOp, lite.FullyConnectedOp, lite.MatMulOp, lite.AddOp, lite.SubOp, lite.MulOp,
           lite.MaxPoolOp, lite.AvgPoolOp)


@dataclass
class LoweringDecision:
    op_name: str
    layer: str
    lowered: bool
    reason: str


class _Skip(Exception):
    """Why an op stays in float."""


def _int8_value(value: SSAValue, what: str) -> SSAValue:
    """The per-tensor quantized value (of at most 8 bits) that a `quant.dcast` feeding `value` reads."""
    cast = value.owner
    if isinstance(cast, quant.DequantizeCastOp):
        qtype = quant.element_type_of(cast.input.type)
        if isinstance(qtype, quant.UniformQuantizedType) and not qtype.is_per_axis and qtype.width <= 8:
            return cast.input
        raise _Skip(f"{what} is not a dequantized per-tensor int8 value")
    if constant_value(value) is not None:
        raise _Skip(f"{what} is a float constant")
    raise _Skip(f"{what} is float (not quantized: the result of a skipped layer or of a float op)")


def _quantized_weight(value: SSAValue, channel_axis: int) -> SSAValue | None:
    """The `quant.scast` of integer constants behind a `quant.dcast` (the weight-quant chain), if quantized
    per tensor or along `channel_axis`; None when `value` is not such a chain."""
    cast = value.owner
    if not isinstance(cast, quant.DequantizeCastOp) or not isinstance(cast.input.owner, quant.StorageCastOp):
        return None
    if constant_value(cast.input.owner.input) is None:
        return None
    qtype = quant.element_type_of(cast.input.type)
    rank = len(lite.shape_of(value))
    if qtype.is_per_axis and qtype.axis.data != channel_axis % rank:
        raise _Skip(f"weight is quantized along axis {qtype.axis.data}, not per output channel")
    return cast.input


def _float_constant(value: SSAValue) -> np.ndarray | None:
    """A float constant, or the real values of a dequantized integer constant."""
    data = constant_value(value)
    if data is not None:
        return data.astype(np.float64) if data.dtype.kind == "f" else None
    cast = value.owner
    if isinstance(cast, quant.DequantizeCastOp) and isinstance(cast.input.owner, quant.StorageCastOp):
        stored = constant_value(cast.input.owner.input)
        qtype = quant.element_type_of(cast.input.type)
        if stored is not None and not qtype.is_per_axis:
            return (stored.astype(np.float64) - qtype.zero_point) * qtype.scale
    return None


def _int32_bias(value: SSAValue, input_value: SSAValue, weight: SSAValue, anchor: Operation) -> SSAValue:
    """The float bias as int32 constants in units of s_x * s_w[c], zero point 0, rounded half away from
    zero (as MindSpore Lite quantizes biases), inserted before `anchor`."""
    real = _float_constant(value)
    if real is None:
        raise _Skip("bias is not a constant")
    x_type = quant.element_type_of(input_value.type)
    w_type = quant.element_type_of(weight.type)
    scales = x_type.scale * np.broadcast_to(np.asarray(w_type.scale_values), real.shape)
    stored = np.clip(round_half_away(real / scales), INT32_MIN, INT32_MAX).astype(np.int32)
    axis = 0 if w_type.is_per_axis else -1
    qtype = quant.UniformQuantizedType.get(scales if w_type.is_per_axis else float(scales[0]), 0, axis=axis,
                                           width=32)
    data = constant_op(stored)
    cast = quant.StorageCastOp(data.result, TensorType(qtype, real.shape))
    if value.name_hint:
        data.result.name_hint, cast.result.name_hint = f"{value.name_hint}_i32", f"{value.name_hint}_q"
    anchor.parent_block().insert_ops_before([data, cast], anchor)
    return cast.result


def _operand_roles(op: Operation) -> list[tuple[SSAValue, str, int]]:
    """(operand, role, output-channel axis of a weight) for every operand of a lowerable op, in order."""
    if isinstance(op, lite.Conv2DOp | lite.FullyConnectedOp):
        roles = [(op.operands[0], _ACTIVATION, 0), (op.operands[1], _WEIGHT, 0)]
        return roles + ([(op.bias, _BIAS, 0)] if op.bias is not None else [])
    if isinstance(op, lite.MatMulOp):
        rank = len(lite.shape_of(op.rhs))
        axis = rank - 2 if op.bool_prop("transpose_b") else rank - 1
        rhs_role = _WEIGHT if _quantized_weight(op.rhs, axis) is not None else _ACTIVATION
        return [(op.lhs, _ACTIVATION, 0), (op.rhs, rhs_role, axis)]
    if isinstance(op, lite.AddOp | lite.SubOp | lite.MulOp | lite.ConcatOp):
        return [(v, _ACTIVATION, 0) for v in op.operands]
    if isinstance(op, lite.ResizeOp) and op.str_prop("mode") != "nearest":
        raise _Skip("linear resize has no int8 kernel")
    if isinstance(op, _POINTWISE):
        return [(op.operands[0], _ACTIVATION, 0)]
    raise _Skip("no int8 kernel")


def _result_types(op: Operation) -> list[TensorType]:
    """The quantized type of each result: that of the `quant.qcast` ops using it, which must be its only users
    (the first of them when they differ)."""
    types = []
    for result in op.results:
        users = [use.operation for use in result.uses]
        if not users:
            raise _Skip("a result is unused")
        for user in users:
            qtype = quant.element_type_of(user.results[0].type) if isinstance(user, quant.QuantizeCastOp) else None
            if not isinstance(qtype, quant.UniformQuantizedType) or qtype.is_per_axis or qtype.width > 8:
                raise _Skip(f"a result is used by {user.name}, not by a per-tensor int8 quant.qcast")
        first = users[0]
        for user in users[1:]:
            if user.is_before_in_block(first):
                first = user
        types.append(first.results[0].type)
    return types


def _replace_results(old: Operation, new: Operation) -> None:
    """Let `new`'s results stand for the `quant.qcast` of `old`'s results. A qcast to another type than the one
    `new` produces keeps reading a float: the integer result, dequantized (a requantization through float)."""
    for old_result, new_result in zip(old.results, new.results):
        new_result.name_hint = old_result.name_hint
        for use in list(old_result.uses):
            qcast = use.operation
            if qcast.results[0].type == new_result.type:
                qcast.results[0].replace_all_uses_with(new_result)
                qcast.parent_block().erase_op(qcast)
            else:
                dequantized = quant.DequantizeCastOp(new_result, old_result.type)
                qcast.parent_block().insert_op_before(dequantized, qcast)
                qcast.operands = [dequantized.result]


def _erase_if_dead(values: Sequence[SSAValue]) -> None:
    """Erase the casts and constants that produced `values` once nothing reads them, following chains."""
    pending = list(values)
    while pending:
        value = pending.pop()
        op = value.owner
        if not isinstance(op, Operation) or op.parent is None or any(r.uses for r in op.results):
            continue
        if isinstance(op, quant.DequantizeCastOp | quant.StorageCastOp | quant.QuantizeCastOp | arith.ConstantOp):
            pending.extend(op.operands)
            op.parent_block().erase_op(op)


def _lower(op: Operation) -> Operation:
    result_types = _result_types(op)
    operands, dead = [], []
    for index, (value, role, axis) in enumerate(_operand_roles(op)):
        if role == _ACTIVATION:
            operands.append(_int8_value(value, f"operand #{index}"))
        elif role == _WEIGHT:
            weight = _quantized_weight(value, axis)
            if weight is None:
                raise _Skip("weight is not quantized (no weight-quant chain)")
            operands.append(weight)
        else:
            operands.append(_int32_bias(value, operands[0], operands[1], op))
        dead.append(value)
    lowered = type(op).create(operands=operands, result_types=result_types, properties=dict(op.properties),
                              attributes=dict(op.attributes))
    op.parent_block().insert_op_before(lowered, op)
    _replace_results(op, lowered)
    op.parent_block().erase_op(op)
    _erase_if_dead(dead)
    return lowered


def _fused_activation(op: Operation) -> str | None:
    if isinstance(op, lite.ActivationOp) and op.str_prop("type") in ("relu", "relu6"):
        return op.str_prop("type")
    if isinstance(op, lite.ClipOp) and op.float_prop("min") == 0.0 and op.float_prop("max") in (6.0, float("inf")):
        return "relu6" if op.float_prop("max") == 6.0 else "relu"
    return None


def _fold_activation(op: Operation) -> bool:
    """An integer relu / relu6 whose input is the only use of an integer op with no fused activation becomes
    that op's activation, the op producing the activation's result type directly (one requantization, the
    clamp bounds in the quantized domain). Returns whether it folded."""
    activation = _fused_activation(op)
    producer = op.operands[0].owner
    if activation is None or not isinstance(producer, _FUSING) or producer.str_prop("activation") != "none":
        return False
    if not _is_integer(producer) or not producer.results[0].has_one_use():
        return False
    fused = type(producer).create(operands=producer.operands, result_types=[op.results[0].type],
                                  properties={**producer.properties, "activation": StringAttr(activation)},
                                  attributes=dict(producer.attributes))
    producer.parent_block().insert_op_before(fused, producer)
    fused.results[0].name_hint = op.results[0].name_hint
    op.results[0].replace_all_uses_with(fused.results[0])
    op.parent_block().erase_op(op)
    producer.parent_block().erase_op(producer)
    return True


def _is_integer(op: Operation) -> bool:
    return any(isinstance(quant.element_type_of(r.type), quant.UniformQuantizedType) for r in op.results)


def _drop_float_round_trips(module: ModuleOp) -> None:
    """qcast(dcast(q)) to q's own type is q."""
    for op in list(module.walk()):
        if isinstance(op, quant.QuantizeCastOp) and op.parent is not None:
            source = op.input.owner
            if isinstance(source, quant.DequantizeCastOp) and source.input.type == op.result.type:
                op.result.replace_all_uses_with(source.input)
                op.parent_block().erase_op(op)
                _erase_if_dead([source.result])


def _keep_results_float(op: Operation) -> None:
    """Drop the fake-quant pairs on `op`'s results: its users read the float values, so those that would
    have run on int8 stay float too (there is no int8 value for them to read)."""
    for result in op.results:
        for use in list(result.uses):
            qcast = use.operation
            if not isinstance(qcast, quant.QuantizeCastOp):
                continue
            dcasts = [u.operation for u in qcast.result.uses]
            if all(isinstance(d, quant.DequantizeCastOp) for d in dcasts):
                for dcast in dcasts:
                    dcast.result.replace_all_uses_with(result)
                    dcast.parent_block().erase_op(dcast)
                qcast.parent_block().erase_op(qcast)


def lower_to_int8(module: ModuleOp, skip: Collection[str] = ()) -> list[LoweringDecision]:
    """Lower in place; return one decision per lite op, in graph order (the converter prints them). Ops whose
    `layer_name` is in `skip` stay float, and so do their results (no fake-quant pair is left on them)."""
    decisions: list[LoweringDecision] = []
    lowered_ops: dict[Operation, LoweringDecision] = {}
    for op in list(module.walk()):
        if op.dialect_name() != "lite":
            continue
        decision = LoweringDecision(op.name, layer_name(op), True, "")
        if decision.layer in skip:
            decision.lowered, decision.reason = False, "in the skip list (skip_quant_node)"
            decisions.append(decision)
            _keep_results_float(op)
            continue
        try:
            lowered_ops[_lower(op)] = decision
        except _Skip as why:
            decision.lowered, decision.reason = False, str(why)
        decisions.append(decision)
    _drop_float_round_trips(module)
    for op, decision in lowered_ops.items():
        if op.parent is not None and _fold_activation(op):
            decision.reason = "folded into its producer as a fused activation"
    return decisions


def format_summary(decisions: Sequence[LoweringDecision]) -> str:
    lowered = sum(d.lowered for d in decisions)
    lines = [f"lower-to-int8: {lowered} of {len(decisions)} ops run on int8"]
    lines += [f"  float: {d.op_name} {d.layer}: {d.reason}" for d in decisions if not d.lowered]
    return "\n".join(lines)


@dataclass(frozen=True)
class LowerToInt8Pass(ModulePass):
    """
    Guarantees: every lite op whose activation operands are all `quant.dcast` of per-tensor quantized values
    (at most 8 bits), whose weights (conv2d filter, fully_connected weight, constant matmul rhs) come from the
    weight-quant chain quantized per tensor or per output channel, whose bias (if any) is constant, and whose
    results are used only by per-tensor int8 `quant.qcast` ops, and for which an int8 kernel exists (conv2d,
    fully_connected, matmul, add, sub, mul, max/avg pool, concat, reshape, transpose, slice, split, pad,
    nearest resize, activation, clip, softmax), computes on quantized tensors instead: it reads the quantized
    values directly (weights as `quant.scast` of integers, the bias as int32 in units of s_x * s_w[c] with zero
    point 0) and produces the qcast's type, replacing the qcast. A relu / relu6 on the only use of such an op
    is folded into it. `quant.qcast(quant.dcast(q))` to q's own type becomes q. Every other op stays float
    behind its casts. The ops named in `skip` (comma-separated output tensor names, `layer_name`) stay float
    and so do their results: their fake-quant pairs are dropped, so the ops reading them run in float as
    well (the isolated error of the debug report measures exactly what this gives back). `lower_to_int8`
    returns why each op stays float. Unused casts and constants are erased.
    """

    name = "lower-to-int8"

    skip: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lower_to_int8(op, frozenset(n.strip() for n in self.skip.split(",") if n.strip()))
