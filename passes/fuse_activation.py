"""Fuse relu / relu6 into the op that produces their input, as MindSpore Lite's fusion ops carry them."""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from quantopt.dialects import lite

# Ops whose MindSpore Lite primitive has an activation_type field.
_FUSING_OPS = (lite.Conv2DOp, lite.Conv2DTransposeOp, lite.FullyConnectedOp, lite.MatMulOp, lite.AddOp,
               lite.SubOp, lite.MulOp, lite.DivOp, lite.MaxPoolOp, lite.AvgPoolOp)


def _fusable_activation(op) -> str | None:
    if isinstance(op, lite.ActivationOp) and op.str_prop("type") in ("relu", "relu6"):
        return op.str_prop("type")
    if isinstance(op, lite.ClipOp) and op.float_prop("min") == 0.0:
        if op.float_prop("max") == 6.0:
            return "relu6"
        if op.float_prop("max") == float("inf"):
            return "relu"
    return None


class FuseActivationIntoProducer(RewritePattern):
    def match_and_rewrite(self, op, rewriter: PatternRewriter) -> None:
        activation = _fusable_activation(op)
        if activation is None:
            return
        producer = op.operands[0].owner
        if not isinstance(producer, _FUSING_OPS) or producer.str_prop("activation") != "none":
            return
        if not producer.results[0].has_one_use():
            return
        # On quantized tensors an activation may requantize to another scale: only fuse a pure clamp.
        if producer.results[0].type != op.results[0].type:
            return
        producer.properties["activation"] = StringAttr(activation)
        rewriter.handle_operation_modification(producer)
        rewriter.replace(op, [], [producer.results[0]])


@dataclass(frozen=True)
class FuseActivationPass(ModulePass):
    """
    Guarantees: every relu or relu6 (as `lite.activation`, or `lite.clip` to [0, 6] / [0, inf)) whose
    input is the only use of a conv, transposed conv, fully connected, matmul, add/sub/mul/div or pooling
    result with no activation yet is removed and recorded in that producer's `activation` property.
    """

    name = "fuse-activation"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseActivationIntoProducer()])).rewrite_module(op)
