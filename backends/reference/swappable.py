"""An fp32 kernel table whose kernels for chosen layers can be swapped after the model is compiled.

Searches that rerun a model many times with one layer changed (the isolated error of the accuracy report,
the mixed-bit search) compile the model once with `SwappableKernels(select).table()`; each selected layer's
kernel then calls whatever function `use(name, fn)` last set for it, and `kernel_with_weight` rebuilds just
that layer's kernel for other weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from xdsl.ir import Operation

from quantopt.backends.reference.kernel import ConstantLookup, Kernel, KernelBuilder


class SwappableKernels:
    """`select(op)` names the layers to make swappable (None: a plain kernel)."""

    def __init__(self, select: Callable[[Operation], str | None]):
        self._select = select
        self._built: dict[str, tuple[KernelBuilder, Operation, ConstantLookup, Kernel]] = {}
        self._current: dict[str, Callable] = {}

    def table(self) -> dict[type[Operation], KernelBuilder]:
        from quantopt.backends.reference.kernels_fp32 import FP32_KERNELS

        return {op_type: (self._wrap(builder) if op_type.name.startswith("lite.") else builder)
                for op_type, builder in FP32_KERNELS.items()}

    def _wrap(self, builder: KernelBuilder) -> KernelBuilder:
        def build(op: Operation, const: ConstantLookup) -> Kernel:
            kernel = builder(op, const)
            name = self._select(op)
            if name is None:
                return kernel
            self._built[name] = (builder, op, const, kernel)
            self._current[name] = kernel.fn
            current = self._current
            return Kernel(lambda *args: current[name](*args), kernel.inputs, returns_view=kernel.returns_view)

        return build

    @property
    def names(self) -> list[str]:
        """The swappable layers the executor built, in the order it built them (program order)."""
        return list(self._built)

    def original(self, name: str) -> Kernel:
        return self._built[name][3]

    def kernel_with_weight(self, name: str, weight_value, weights: np.ndarray) -> Kernel | None:
        """Layer `name`'s kernel rebuilt with the constant `weight_value` replaced by `weights`; None when the
        rebuilt kernel would read other runtime values than the original."""
        builder, op, const, kernel = self._built[name]
        swapped = builder(op, lambda value: weights if value is weight_value else const(value))
        return swapped if list(swapped.inputs) == list(kernel.inputs) else None

    def use(self, name: str, fn: Callable) -> None:
        self._current[name] = fn

    def restore(self, name: str) -> None:
        self._current[name] = self.original(name).fn
