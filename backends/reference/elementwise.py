"""Pointwise kernels: broadcasting arithmetic, activations, clip, prelu.

Each activation is written as `f(x, out)` correct even when `out is x`, so the executor can run it in the
storage of an input that dies at this step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from quantopt.backends.reference.kernel import Array, ConstantLookup, Kernel, fused_activation, out_shape, unsupported
from quantopt.dialects import lite

_F32 = np.float32


def _sigmoid(x: Array, out: Array) -> Array:
    # exp(-|x|) never overflows; 1 / (1 + e) and e / (1 + e) keep full relative precision on both tails.
    e = np.exp(-np.abs(x))
    numerator = np.where(x >= 0, _F32(1.0), e)
    np.add(e, _F32(1.0), out=e)
    return np.divide(numerator, e, out=out)


def _hsigmoid(x: Array, out: Array) -> Array:
    gate = np.add(x, _F32(3.0))
    np.clip(gate, 0.0, 6.0, out=gate)
    return np.multiply(gate, _F32(1.0 / 6.0), out=out)


def _erf(x: Array) -> Array:
    """Abramowitz & Stegun 7.1.26 in float64: absolute error below 1.5e-7, under float32 resolution near 1."""
    z = np.abs(x.astype(np.float64))
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return np.copysign(1.0 - poly * np.exp(-z * z), x)


def activation_function(kind: str, alpha: float = 0.0, beta: float = 0.0) -> Callable[[Array, Array], Array]:
    alpha, beta = _F32(alpha), _F32(beta)
    if kind == "relu":
        return lambda x, out: np.maximum(x, _F32(0.0), out=out)
    if kind == "relu6":
        return lambda x, out: np.clip(x, 0.0, 6.0, out=out)
    if kind == "sigmoid":
        return _sigmoid
    if kind == "tanh":
        return lambda x, out: np.tanh(x, out=out)
    if kind == "hsigmoid":
        return _hsigmoid
    if kind == "hswish":
        return lambda x, out: np.multiply(x, _hsigmoid(x, np.empty_like(x)), out=out)
    if kind == "leaky_relu":
        return lambda x, out: np.multiply(x, np.where(x >= 0, _F32(1.0), alpha), out=out)
    if kind == "hard_sigmoid":
        def hard_sigmoid(x: Array, out: Array) -> Array:
            np.multiply(x, alpha, out=out)
            np.add(out, beta, out=out)
            return np.clip(out, 0.0, 1.0, out=out)
        return hard_sigmoid
    if kind == "elu":
        def elu(x: Array, out: Array) -> Array:
            negative = np.expm1(np.minimum(x, _F32(0.0)))
            np.multiply(negative, alpha, out=negative)
            np.copyto(out, np.where(x > 0, x, negative))
            return out
        return elu
    if kind == "gelu":
        def gelu(x: Array, out: Array) -> Array:
            cdf = 0.5 * (1.0 + _erf(x * (1.0 / math.sqrt(2.0))))
            return np.multiply(x, cdf, out=out, casting="same_kind")
        return gelu
    if kind == "abs":
        return lambda x, out: np.abs(x, out=out)
    if kind == "softplus":
        return lambda x, out: np.logaddexp(x, _F32(0.0), out=out)
    if kind == "swish":
        return lambda x, out: np.multiply(x, _sigmoid(x, np.empty_like(x)), out=out)
    raise KeyError(kind)


def _unary_kernel(op, f: Callable[[Array, Array], Array]) -> Kernel:
    return Kernel(lambda x: f(x, np.empty_like(x)), [op.input], in_place=lambda x: f(x, x))


def build_activation(op: lite.ActivationOp, const: ConstantLookup) -> Kernel:
    try:
        f = activation_function(op.str_prop("type"), op.float_prop("alpha"), op.float_prop("beta"))
    except KeyError:
        raise unsupported(op, f"has unknown activation type '{op.str_prop('type')}'") from None
    return _unary_kernel(op, f)


def build_clip(op: lite.ClipOp, const: ConstantLookup) -> Kernel:
    lo, hi = _F32(op.float_prop("min")), _F32(op.float_prop("max"))
    return _unary_kernel(op, lambda x, out: np.clip(x, lo, hi, out=out))


def build_prelu(op: lite.PReluOp, const: ConstantLookup) -> Kernel:
    def prelu(x: Array, slope: Array, out: Array) -> Array:
        return np.multiply(x, np.where(x >= 0, _F32(1.0), slope), out=out)

    return Kernel(lambda x, s: prelu(x, s, np.empty_like(x)), [op.input, op.slope],
                  in_place=lambda x, s: prelu(x, s, x))


_BINARY_UFUNCS = {lite.AddOp: np.add, lite.SubOp: np.subtract, lite.MulOp: np.multiply, lite.DivOp: np.divide}


def build_binary(op, const: ConstantLookup) -> Kernel:
    ufunc = _BINARY_UFUNCS[type(op)]
    epilogue = fused_activation(op.str_prop("activation")) or (lambda y: y)
    shape = out_shape(op)
    in_place, donor = None, 0
    for donor, operand in enumerate((op.lhs, op.rhs)):
        if lite.shape_of(operand) == shape:
            in_place = lambda a, b, i=donor: epilogue(ufunc(a, b, out=(a, b)[i]))
            break

    def fresh(a: Array, b: Array) -> Array:
        return epilogue(np.asarray(ufunc(a, b), dtype=_F32))

    return Kernel(fresh, [op.lhs, op.rhs], in_place=in_place, in_place_input=donor)


BUILDERS = {
    lite.ActivationOp: build_activation,
    lite.ClipOp: build_clip,
    lite.PReluOp: build_prelu,
    **{op_type: build_binary for op_type in _BINARY_UFUNCS},
}
