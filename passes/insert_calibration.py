"""Mark every tensor that full quantization will quantize with a `quant.observe`."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import AnyFloat, ModuleOp, TensorType
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from quantopt.dialects import lite
from quantopt.dialects.quant import ObserveOp

QUANTIZED_OPS: tuple[type[Operation], ...] = (
    lite.Conv2DOp, lite.Conv2DTransposeOp, lite.FullyConnectedOp, lite.MatMulOp,
    lite.AddOp, lite.SubOp, lite.MulOp, lite.DivOp, lite.PReluOp, lite.ActivationOp, lite.ClipOp,
    lite.MaxPoolOp, lite.AvgPoolOp, lite.ReduceOp, lite.SoftmaxOp, lite.ResizeOp, lite.PadOp,
    lite.ReshapeOp, lite.TransposeOp, lite.ConcatOp, lite.SplitOp, lite.SliceOp,
)
"""Ops that run on int8 in a fully quantized model: every `lite` op except the float-only normalisations
(batch_norm, which fold-batchnorm removes, and lrn)."""


def is_float_tensor(value: SSAValue) -> bool:
    return isinstance(value.type, TensorType) and isinstance(value.type.element_type, AnyFloat)


class ConstantValues:
    """Whether a value is known before the model runs: an `arith.constant`, or computed from constants only
    (weights behind `quant.scast` / `quant.dcast` above all). Memoised per value."""

    def __init__(self) -> None:
        self._known: dict[SSAValue, bool] = {}

    def __call__(self, value: SSAValue) -> bool:
        if value not in self._known:
            op = value.owner
            self._known[value] = isinstance(op, Operation) and (
                isinstance(op, arith.ConstantOp) or (bool(op.operands) and all(map(self, op.operands))))
        return self._known[value]


def is_observed(value: SSAValue) -> bool:
    return isinstance(value.owner, ObserveOp) or any(isinstance(use.operation, ObserveOp) for use in value.uses)


def insert_observers(module: ModuleOp) -> list[ObserveOp]:
    """Insert the observers (see `InsertCalibrationPass`); return the new ones in program order."""
    existing = [op.observer_id for op in module.walk() if isinstance(op, ObserveOp)]
    next_id = max(existing, default=-1) + 1
    inserted: list[ObserveOp] = []
    for function in (op for op in module.walk() if isinstance(op, func.FuncOp)):
        constant = ConstantValues()
        block = function.body.block
        for op in list(block.ops):
            if not isinstance(op, QUANTIZED_OPS) or all(map(constant, op.operands)):
                continue
            for value in (*op.operands, *op.results):
                if is_float_tensor(value) and not constant(value) and not is_observed(value):
                    inserted.append(_observe(value, next_id, block))
                    next_id += 1
    return inserted


def _observe(value: SSAValue, observer_id: int, block: Block) -> ObserveOp:
    observer = ObserveOp(value, observer_id)
    if isinstance(value.owner, Operation):
        point = InsertPoint.after(value.owner)
    else:  # a block argument: after the observers of earlier arguments
        first = next((op for op in block.ops if not isinstance(op, ObserveOp)), None)
        point = InsertPoint.before(first) if first is not None else InsertPoint.at_end(block)
    Rewriter.insert_op(observer, point)
    value.replace_uses_with_if(observer.result, lambda use: use.operation is not observer)
    return observer


@dataclass(frozen=True)
class InsertCalibrationPass(ModulePass):
    """
    Guarantees: every float tensor that an op of `QUANTIZED_OPS` reads or writes and that is not known
    before the model runs (graph inputs and activations, not weights or values folded from constants) is
    followed by exactly one `quant.observe` with an `id` unique in the module, and every other use of the
    tensor (the function's return included) reads the observer's result instead. Tensors already observed
    are left alone, so the pass is idempotent. Run it after fold-batchnorm and fuse-activation, so that the
    observed tensors are the ones the int8 kernels exchange.
    """

    name = "insert-calibration"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        insert_observers(op)
