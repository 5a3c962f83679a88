"""Fixed-point requantization, the integer arithmetic every int8 kernel ends with.

An integer kernel accumulates in units of its inputs' scales (a convolution sums (x - zp_x)(w - zp_w) + bias
in units of s_x * s_w[c]) and must express the result in units of the output scale s_y: multiply by the real
multiplier s_x * s_w[c] / s_y, round, add zp_y, clamp to the storage range. As in MindSpore Lite's nnacl
(`MultiplyByQuantizedMultiplier`, the gemmlowp / TFLite scheme), the real multiplier is a Q31 number and a
power of two,

    real = M * 2^(shift - 31),  M in [2^30, 2^31)                                   (`quantize_multiplier`)

and the product is two integer roundings:

    h = SaturatingRoundingDoublingHighMul(acc * 2^left, M) = floor((acc * 2^left * M + 2^30) / 2^31)
    y = RoundingDivideByPOT(h, right)                      = h / 2^right rounded half away from zero

with left = max(shift, 0), right = max(-shift, 0). The high multiply rounds ties toward +infinity: the C code
adds 2^30 (or 1 - 2^30 when the product is negative) and truncates toward zero, and both cases equal the
single floor above (as NEON `vqrdmulh` computes it). Its saturation case, INT32_MIN * INT32_MIN, cannot occur
because M > 0. Accumulators are int32, as in nnacl: a sum beyond the int32 range (possible only past
~33,000 products of 8-bit values) saturates, and so does `acc * 2^left`, where C overflows. Two roundings
can make y differ by one from round(acc * real); that is the defined behaviour and the tests check it
against exact rationals.

numpy computes everything in int64 (|acc * M| < 2^62), in blocks of rows that stay in cache.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from quantopt.backends.reference.parallel import build_threads, run_split

Array = np.ndarray

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_BLOCK_ELEMENTS = 1 << 15  # int64 elements per block: 256 KB, within L2


def quantize_multiplier(real: float) -> tuple[int, int]:
    """(M, shift) with real ~= M * 2^(shift - 31), M in [2^30, 2^31): the 53-bit mantissa of `real`
    rounded half up to 31 bits (nnacl's QuantizeMultiplier), carrying into the exponent when it rounds up
    to 2^31."""
    if not (math.isfinite(real) and real > 0):
        raise ValueError(f"requantization multiplier must be positive and finite, got {real}")
    mantissa, exponent = math.frexp(real)  # real = mantissa * 2^exponent, mantissa in [0.5, 1)
    multiplier = math.floor(mantissa * (1 << 31) + 0.5)  # exact: mantissa * 2^31 < 2^31 has 22 fraction bits
    if multiplier == 1 << 31:
        multiplier, exponent = 1 << 30, exponent + 1
    if exponent > 30:
        raise ValueError(f"requantization multiplier {real} is too large for Q31 fixed point")
    return multiplier, exponent


def round_half_away(x: Array | float) -> Array:
    """Round to nearest, ties away from zero (C's `round`)."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


@dataclass(frozen=True)
class FixedPointMultiplier:
    """Multiplication by real multipliers (one, or an array broadcasting against the accumulator) in the
    fixed-point arithmetic above."""

    multiplier: Array  # M, int64
    left: Array  # left shift, int64 (saturating)
    right: Array  # rounding right shift, int64

    @staticmethod
    def from_real(real) -> FixedPointMultiplier:
        real = np.asarray(real, np.float64)
        pairs = [quantize_multiplier(float(r)) for r in real.ravel()]
        multiplier = np.array([m for m, _ in pairs], np.int64).reshape(real.shape)
        shift = np.array([s for _, s in pairs], np.int64).reshape(real.shape)
        # A right shift of 62 already rounds every |h| < 2^31 to 0; larger ones would overflow int64 shifts.
        return FixedPointMultiplier(multiplier, np.maximum(shift, 0), np.minimum(np.maximum(-shift, 0), 62))

    def apply(self, acc: Array) -> Array:
        """acc (int64, any integers) times the multiplier, in place when `acc` is int64 and owns its data."""
        acc = np.asarray(acc, np.int64)
        np.clip(acc, INT32_MIN, INT32_MAX, out=acc)
        if self.left.any():
            np.left_shift(acc, self.left, out=acc)
            np.clip(acc, INT32_MIN, INT32_MAX, out=acc)
        np.multiply(acc, self.multiplier, out=acc)
        np.add(acc, 1 << 30, out=acc)
        np.right_shift(acc, 31, out=acc)
        if self.right.any():
            # h / 2^e rounded half away from zero = floor((h + 2^(e-1) - [h < 0]) / 2^e) for e >= 1.
            negative = acc < 0
            if not self.right.all():
                negative &= self.right > 0
            np.add(acc, (np.int64(1) << self.right) >> 1, out=acc)
            np.subtract(acc, negative, out=acc)
            np.right_shift(acc, self.right, out=acc)
        return acc


_scratch = threading.local()


def _int64_blocks(size: int) -> tuple[Array, Array]:
    """Two int64 buffers of `size` private to this thread, reused by every call in it."""
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None or buffers[0].size < size:
        buffers = _scratch.buffers = (np.empty(max(size, _BLOCK_ELEMENTS), np.int64),
                                      np.empty(max(size, _BLOCK_ELEMENTS), np.int64))
    return buffers[0][:size], buffers[1][:size]


def _row_repeat(rows: int, channels: int) -> int:
    """How many channel vectors to lay side by side: numpy's inner loop over a broadcast operand is as long
    as that operand, so per-channel constants are tiled to ~2048 elements (a divisor of `rows`)."""
    repeat = max(1, min(rows, 2048 // max(channels, 1)))
    while rows % repeat:
        repeat -= 1
    return repeat


def _tiled(vector: Array, repeat: int) -> Array:
    return np.tile(vector, repeat) if vector.ndim == 1 and repeat > 1 else vector


_FOLDED_MAX_RIGHT_SHIFT = 22  # keeps the folded constant below 2^62 for zero points within 8 bits


@dataclass(frozen=True)
class _Plan:
    """The constants of one accumulator shape, laid out for `Requantizer.run_block`."""

    width: int  # columns of the 2-D view: channels x repeat
    multiplier: Array
    right: Array
    offset: Array | None  # K of the folded form, None for the general one
    scale: FixedPointMultiplier


class Requantizer:
    """Accumulators -> output storage integers: fixed-point multiply, + zero point, clamp to [lo, hi].

    The multiplier is one value or one per channel (the last axis); `lo`/`hi` are the storage range,
    narrowed by a fused relu / relu6.

    When no multiplier needs a left shift and every right shift e is at least 1 (multipliers below 1/2,
    the usual case), the steps fold into fewer passes, with h = floor((acc M + 2^30) / 2^31):

        RoundingDivideByPOT(h, e) + zp = floor((h + 2^(e-1) - [h < 0] + zp 2^e) / 2^e)
                                       = (((acc M + K) >> 31) - [acc < 0]) >> e,  K = 2^30 + 2^31 (2^(e-1) + zp 2^e)

    [acc < 0] may stand for [h < 0]: they differ only when acc M = -2^30, where h = 0 and subtracting 1
    before the shift by e >= 1 leaves the result unchanged.

    Large accumulators are split into blocks of rows that stay in cache, shared between threads when the
    requantizer is built for kernel threads (see `parallel`; at batch 1 one thread is faster).
    """

    def __init__(self, scale: FixedPointMultiplier, zero_point: int, lo: int, hi: int, dtype):
        self.scale, self.zero_point, self.lo, self.hi = scale, int(zero_point), int(lo), int(hi)
        self.dtype = np.dtype(dtype)
        self._plans: dict[tuple[int, ...], _Plan] = {}
        self._threads = build_threads()

    @staticmethod
    def create(real, zero_point: int, lo: int, hi: int, dtype) -> Requantizer:
        return Requantizer(FixedPointMultiplier.from_real(real), zero_point, lo, hi, dtype)

    @property
    def folds(self) -> bool:
        right = self.scale.right
        return (not self.scale.left.any() and bool(right.min() >= 1) and int(right.max()) <= _FOLDED_MAX_RIGHT_SHIFT
                and abs(self.zero_point) <= 1 << 8)

    def _plan(self, shape: tuple[int, ...]) -> _Plan:
        plan = self._plans.get(shape)
        if plan is None:
            channels = shape[-1] if shape else 1
            repeat = _row_repeat(math.prod(shape) // max(channels, 1), channels)
            scale = self.scale
            multiplier, right = _tiled(scale.multiplier, repeat), _tiled(scale.right, repeat)
            offset = None
            if self.folds:
                half = (np.int64(1) << right) >> 1
                offset = (np.int64(1) << 30) + ((half + (np.int64(self.zero_point) << right)) << 31)
                if right.ndim and (right == right.flat[0]).all():
                    right = right.flat[0]
            plan = self._plans[shape] = _Plan(channels * repeat, multiplier, right, offset,
                                              FixedPointMultiplier(multiplier, _tiled(scale.left, repeat), right))
        return plan

    def __call__(self, acc: Array) -> Array:
        """acc: integer-valued array (int or exactly-integer float) whose last axis is the channel axis."""
        plan = self._plan(acc.shape)
        out = np.empty(acc.shape, self.dtype)
        flat_in, flat_out = acc.reshape(-1, plan.width), out.reshape(-1, plan.width)
        rows = flat_in.shape[0]
        step = max(1, _BLOCK_ELEMENTS // plan.width)
        blocks = -(-rows // step)

        def work(first: int, last: int) -> None:
            for block in range(first, last):
                start = block * step
                self._run_block(plan, flat_in[start:start + step], flat_out[start:start + step])

        run_split(work, blocks, self._threads if blocks >= 4 * self._threads else 1)
        return out

    def _run_block(self, plan: _Plan, acc: Array, out: Array) -> None:
        size = acc.size
        block, sign = _int64_blocks(size)
        narrow = sign.view(np.int32)[:size].reshape(acc.shape)  # shares sign's memory
        block, sign = block.reshape(acc.shape), sign.reshape(acc.shape)
        # Conversions through int32 where values fit run several times faster than direct ones: float32
        # accumulators are below 2^24 (see int8_conv), and folded results below 2^30 + 2^8.
        if acc.dtype == np.float32:
            np.copyto(narrow, acc, casting="unsafe")
            np.copyto(block, narrow)
        else:
            np.copyto(block, np.clip(acc, INT32_MIN, INT32_MAX), casting="unsafe")
        if plan.offset is not None:
            np.right_shift(block, 63, out=sign)  # -1 where acc < 0, else 0
            np.multiply(block, plan.multiplier, out=block)
            np.add(block, plan.offset, out=block)
            np.right_shift(block, 31, out=block)
            np.add(block, sign, out=block)
            np.right_shift(block, plan.right, out=block)
            np.copyto(narrow, block, casting="unsafe")
            np.clip(narrow, self.lo, self.hi, out=narrow)
            np.copyto(out, narrow, casting="unsafe")
        else:
            plan.scale.apply(block)
            np.add(block, self.zero_point, out=block)
            np.clip(block, self.lo, self.hi, out=out, casting="unsafe")


def activation_bounds(activation: str, scale: float, zero_point: int, qmin: int, qmax: int) -> tuple[int, int]:
    """The clamp range of a fused activation in the quantized domain: relu clamps below at q(0) = zp,
    relu6 also above at q(6) = zp + round(6 / scale) (rounded half away from zero, like nnacl's
    CalculateActivationRangeQuantized), both within the storage range."""
    if activation == "none":
        return qmin, qmax
    lo = max(qmin, zero_point)
    if activation == "relu":
        return lo, qmax
    if activation == "relu6":
        return lo, max(lo, min(qmax, zero_point + int(round_half_away(6.0 / scale))))
    raise ValueError(f"unknown fused activation '{activation}'")
