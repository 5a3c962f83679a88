"""How large a model may say its tensors are, checked before anything is allocated.

A corrupt or hostile file can declare dimensions of 2^40, or ask constant folding for a tensor of a billion
elements from a few bytes. Readers check every shape they are about to materialise (`check_tensor`), keep
a running total of constant data per model (`ConstantBudget`), and the importers check every tensor type
of the finished module (`check_module`), so that what a model computes stays within the same bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_RANK = 8
MAX_DIM = 2**31 - 1
MAX_TENSOR_BYTES = 2 << 30
MAX_MODEL_BYTES = 4 << 30
MAX_WINDOW = 1 << 16
"""Pooling windows larger than their input (SAME padding makes any size consistent) are capped here: the
executor visits every tap of a window."""


class LimitError(ValueError):
    """A shape or size beyond the limits; readers report it like any other inconsistent value."""


def gib(nbytes: int) -> str:
    """A size in GiB, or in a larger binary unit when that reads better (`3.73 GiB`, `12 TiB`)."""
    for power, unit in ((30, "GiB"), (40, "TiB"), (50, "PiB"), (60, "EiB")):
        if nbytes < 1024 << power:
            return f"{nbytes / 2**power:.3g} {unit}"
    return f"2^{nbytes.bit_length() - 1} bytes"  # beyond what a float can hold, for dimensions of 400 digits


def check_shape(shape: Sequence[int], what: str = "tensor") -> None:
    if len(shape) > MAX_RANK:
        raise LimitError(f"{what} has rank {len(shape)}, more than the supported {MAX_RANK}")
    for d in shape:
        if not 0 <= d <= MAX_DIM:
            raise LimitError(f"{what} has dimension {d} in shape {list(shape)}, outside [0, {MAX_DIM}]")


def check_tensor(shape: Sequence[int], itemsize: int, what: str = "tensor") -> int:
    """Check a shape and the bytes a tensor of it takes; returns that size."""
    shape = [int(d) for d in shape]
    check_shape(shape, what)
    nbytes = math.prod(shape) * itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise LimitError(f"{what} of shape {shape} would take {gib(nbytes)}, more than the "
                         f"{gib(MAX_TENSOR_BYTES)} a tensor may take")
    return nbytes


class ConstantBudget:
    """The constant data of one model, in bytes, against MAX_MODEL_BYTES."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, nbytes: int, what: str = "constant") -> None:
        if self.used + nbytes > MAX_MODEL_BYTES:
            raise LimitError(f"{what} brings the model's constant data to {gib(self.used + nbytes)}, more than "
                             f"the {gib(MAX_MODEL_BYTES)} a model may hold")
        self.used += nbytes


def itemsize_of(element_type) -> int:
    """Bytes per element of an IR element type (storage width for quantized types; 4 when unknown)."""
    from xdsl.dialects.builtin import IndexType

    if isinstance(element_type, IndexType):
        return 8
    bits = getattr(element_type, "bitwidth", None)
    if not isinstance(bits, int):
        bits = getattr(element_type, "width", 32)
        bits = getattr(bits, "data", bits)
    return max(1, (int(bits) + 7) // 8)


def check_module(module) -> None:
    """The tensor types of all values of a (verified) module and its pooling windows within the limits;
    raises LimitError naming the first op (or block argument) over them."""
    from xdsl.dialects.builtin import TensorType

    from quantopt.dialects import lite

    def check(value, where: str) -> None:
        t = value.type
        if isinstance(t, TensorType):  # a dynamic dimension (-1) counts as 1
            check_tensor([1 if d == -1 else d for d in t.get_shape()], itemsize_of(t.element_type), f"{where}: tensor")

    for op in module.walk():
        if isinstance(op, lite._PoolOp):
            hw = lite.shape_of(op.input)[1:3]
            kernel = op.int_list("kernel")
            if any(k > max(d, MAX_WINDOW) for k, d in zip(kernel, hw)):
                raise LimitError(f"'{op.name}' window {kernel} is larger than its input {list(hw)} and than "
                                 f"{MAX_WINDOW}")
        for region in op.regions:
            for block in region.blocks:
                for k, arg in enumerate(block.args):
                    check(arg, f"argument {k} of '{op.name}'")
        for result in op.results:
            check(result, f"result of '{op.name}'" + (f" '{result.name_hint}'" if result.name_hint else ""))
