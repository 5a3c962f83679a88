"""What a kernel builder hands the executor, and helpers the fp32 kernel families share.

A builder looks at one op once, at executor construction, and returns a `Kernel`: a closure over
everything it could decode or precompute (properties, constant weights already transposed or tiled),
plus the SSA values the closure takes at run time. Running a step is then one Python call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from quantopt.dialects.lite import shape_of
from quantopt.errors import QuantOptError
from xdsl.ir import Operation, SSAValue

Array = np.ndarray
ConstantLookup = Callable[[SSAValue], "Array | None"]
"""The compile-time value of an SSA value, or None when it is only known at run time."""


@dataclass(frozen=True)
class Kernel:
    """`fn(*inputs)` computes the op's result (a tuple for several results).

    `in_place` optionally computes the same result into the storage of `inputs[in_place_input]`; the
    executor uses it when that input dies at this step and no other value shares its buffer.
    `returns_view` marks kernels whose result may share memory with an input (reshape, slice, split).
    """

    fn: Callable[..., Array | tuple[Array, ...]]
    inputs: Sequence[SSAValue]
    in_place: Callable[..., Array] | None = None
    in_place_input: int = 0
    returns_view: bool = False


KernelBuilder = Callable[[Operation, ConstantLookup], Kernel]


def unsupported(op: Operation, what: str) -> QuantOptError:
    return QuantOptError(None, f"reference executor: {op.name} {what}")


def out_shape(op: Operation, index: int = 0) -> tuple[int, ...]:
    return shape_of(op.results[index])


def fused_activation(name: str) -> Callable[[Array], Array] | None:
    """The in-place epilogue for a fusable activation, or None for "none"."""
    if name == "none":
        return None
    if name == "relu":
        return lambda y: np.maximum(y, 0.0, out=y)
    if name == "relu6":
        return lambda y: np.clip(y, 0.0, 6.0, out=y)
    raise QuantOptError(None, f"reference executor: unknown fused activation '{name}'")


def with_activation(fn: Callable[..., Array], activation: str) -> Callable[..., Array]:
    epilogue = fused_activation(activation)
    if epilogue is None:
        return fn
    return lambda *args: epilogue(fn(*args))


_scratch = threading.local()


def scratch(shape: Sequence[int], slot: int = 0) -> Array:
    """A float32 buffer of `shape` private to this thread and reused by every kernel call in it.

    Its contents are undefined and it is only valid until the next call with the same slot. Reuse
    matters: a fresh multi-megabyte allocation page-faults on every call.
    """
    size = 1
    for d in shape:
        size *= int(d)
    buffers = getattr(_scratch, "buffers", None)
    if buffers is None:
        buffers = _scratch.buffers = {}
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = buffers[slot] = np.empty(size, np.float32)
    return buffer[:size].reshape(shape)
