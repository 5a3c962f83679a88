"""Fold inference batch norm into the convolution or fully connected layer that feeds it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from quantopt.dialects import lite
from quantopt.dialects.constant import constant_op, constant_value, erase_dead_constants

_FOLDABLE = (lite.Conv2DOp, lite.Conv2DTransposeOp, lite.FullyConnectedOp)


class FoldBatchNormIntoProducer(RewritePattern):
    """
    y = gamma * (W*x + b - mean) / sqrt(var + eps) + beta
      = (W * s) * x + ((b - mean) * s + beta),   s = gamma / sqrt(var + eps)

    Output channels are the filter's first axis for every foldable op.
    """

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: lite.BatchNormOp, rewriter: PatternRewriter) -> None:
        producer = op.input.owner
        if not isinstance(producer, _FOLDABLE) or producer.str_prop("activation") != "none":
            return
        if not producer.output.has_one_use():
            return
        weight = constant_value(producer.operands[1])
        params = [constant_value(v) for v in (op.scale, op.offset, op.mean, op.variance)]
        bias = constant_value(producer.bias) if producer.bias is not None else None
        if weight is None or any(p is None for p in params) or (producer.bias is not None and bias is None):
            return
        if weight.dtype != np.float32:
            return
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        scale = gamma / np.sqrt(var + op.float_prop("epsilon"))
        new_weight = (weight.astype(np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(np.float32)
        old_bias = np.zeros_like(mean) if bias is None else bias.astype(np.float64)
        new_bias = ((old_bias - mean) * scale + beta).astype(np.float32)
        w_const, b_const = constant_op(new_weight), constant_op(new_bias)
        new_operands = list(producer.operands)
        new_operands[1] = w_const.result
        if producer.bias is None:
            new_operands.append(b_const.result)
        else:
            new_operands[2] = b_const.result
        fused = producer.__class__.create(
            operands=new_operands, result_types=[r.type for r in producer.results],
            properties=dict(producer.properties), attributes=dict(producer.attributes),
        )
        dead = [producer.operands[1], *([producer.bias] if producer.bias is not None else []),
                op.scale, op.offset, op.mean, op.variance]
        rewriter.replace(producer, [w_const, b_const, fused])
        rewriter.replace(op, [], [fused.results[0]])
        erase_dead_constants(rewriter, dead)


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """
    Guarantees: every `lite.batch_norm` whose input is the only use of a conv2d, conv2d_transpose or
    fully_connected result with constant float weights, constant statistics and no fused activation is
    gone; the producer carries the scaled weights and a (possibly new) bias. Other batch norms stay.
    """

    name = "fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FoldBatchNormIntoProducer()])).rewrite_module(op)
