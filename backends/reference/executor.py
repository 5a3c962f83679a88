"""Run `func.func @main` of a module on numpy arrays.

Construction compiles the function once into a flat list of steps, each a kernel closure with the slots
it reads and writes and the slots that die after it; `run` is then a loop of Python calls over numpy
arrays. Constants are decoded once; ops whose inputs are all constants (weight quantization chains
`arith.constant -> quant.scast -> quant.dcast` above all) are evaluated at construction. Unless told
otherwise, a copy of the module first goes through `fuse-activation`, so that a relu or relu6 is applied
by the kernel producing its input while that result is still in cache.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from quantopt.backends.reference.int8_kernels import KERNELS  # fp32 kernels, int8 ones for quantized lite ops
from quantopt.backends.reference.kernel import Array, Kernel, KernelBuilder
from quantopt.backends.reference.parallel import can_own_blas_threads, kernel_threads, num_threads, single_threaded_blas
from quantopt.backends.reference.quant_casts import dtype_of
from quantopt.dialects import lite
from quantopt.dialects.constant import dense_to_numpy
from quantopt.errors import QuantOptError
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp, TensorType
from xdsl.ir import Operation, SSAValue

KERNEL_THREADS_MIN_MACS = 16_000_000
"""Average multiply-adds per convolution or matrix product from which kernels split work between
threads themselves rather than leaving it to BLAS (see `parallel`). MobileNetV2 has 6M at batch 1
(BLAS threads win) and 46M at batch 8 (kernel threads win, ~30% faster)."""


_allocator_tuned = False


def keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse (once per process).

    By default glibc hands the top of its heap back to the system when it is freed and maps arrays of
    a few megabytes anew, so every run page-faults its activations afresh: 10-15% of a MobileNetV2 run
    at batch 8. Arrays above 32 MB (glibc's cap on the mapping threshold) are still mapped per call.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 25)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def decode_constant(op: arith.ConstantOp) -> Array:
    attr = op.value
    if not isinstance(attr, DenseIntOrFPElementsAttr):
        raise QuantOptError(None, f"reference executor: unsupported constant attribute {type(attr).__name__}")
    value = dense_to_numpy(attr)
    return value if value.flags.c_contiguous else np.ascontiguousarray(value)  # a splat is a broadcast view


def find_main(module: ModuleOp) -> func.FuncOp:
    funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
    for f in funcs:
        if f.sym_name.data == "main":
            return f
    if len(funcs) == 1:
        return funcs[0]
    raise QuantOptError(None, "reference executor: the module has no func.func @main")


def multiply_adds(op: Operation) -> int:
    """Multiply-adds of a convolution or matrix product, 0 for other ops."""
    if isinstance(op, lite.Conv2DOp):
        _, kh, kw, per_group = lite.shape_of(op.filter)
        return math.prod(lite.shape_of(op.output)) * kh * kw * per_group
    if isinstance(op, lite.Conv2DTransposeOp):
        out, kh, kw, _ = lite.shape_of(op.filter)
        return math.prod(lite.shape_of(op.input)) * kh * kw * out // op.properties["group"].value.data
    if isinstance(op, lite.FullyConnectedOp):
        return math.prod(lite.shape_of(op.output)) * lite.shape_of(op.weight)[1]
    if isinstance(op, lite.MatMulOp):
        lhs = lite.shape_of(op.lhs)
        return math.prod(lite.shape_of(op.output)) * (lhs[-2] if op.bool_prop("transpose_a") else lhs[-1])
    return 0


def choose_kernel_threads(main: func.FuncOp) -> int:
    """Kernel threads (see `parallel`) when the model's products are large, else 1 (BLAS threads)."""
    if num_threads() == 1 or not can_own_blas_threads():
        return 1
    work = [m for m in map(multiply_adds, main.body.block.ops) if m]
    return num_threads() if work and sum(work) / len(work) >= KERNEL_THREADS_MIN_MACS else 1


def _fused_copy(module: ModuleOp, copy: bool = True) -> ModuleOp:
    """The module (a copy unless told) with relu / relu6 fused into their producers by `fuse-activation`."""
    from quantopt.context import make_context
    from quantopt.passes.fuse_activation import FuseActivationPass

    if copy:
        try:
            module = module.clone()
        except ValueError:  # xDSL re-validates name hints when cloning; run such a module unfused
            return module
    FuseActivationPass().apply(make_context(), module)
    return module


@dataclass(frozen=True)
class Step:
    fn: object
    operands: tuple[int, ...]
    results: tuple[int, ...]
    dead: tuple[int, ...]  # slots nobody reads after this step
    op: Operation  # for profiling and error reports


@dataclass(frozen=True)
class _Planned:
    op: Operation
    kernel: Kernel


class Executor:
    """Reference execution of a module (or of a model file, imported by extension): fp32 kernels, and int8
    kernels for lite ops on quantized tensors."""

    def __init__(self, module_or_path: ModuleOp | str | os.PathLike, batch_size: int = 1,
                 kernels: Mapping[type[Operation], KernelBuilder] = KERNELS, fuse_activations: bool = True,
                 threads: int | None = None):
        """`threads`: how many threads kernels split their work between (1: BLAS threads only, see
        `parallel`); by default chosen from the size of the model's products."""
        if isinstance(module_or_path, ModuleOp):
            module = _fused_copy(module_or_path) if fuse_activations else module_or_path
        else:
            from quantopt.api import import_model

            module = import_model(os.fspath(module_or_path), batch_size=batch_size)
            if fuse_activations:
                module = _fused_copy(module, copy=False)
        main = find_main(module)
        self._threads = choose_kernel_threads(main) if threads is None else threads
        with kernel_threads(self._threads):
            self._compile(main, kernels)
        keep_freed_memory()

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        return [shape for shape, _ in self._input_types]

    def _compile(self, main: func.FuncOp, kernels: Mapping[type[Operation], KernelBuilder]) -> None:
        constants: dict[SSAValue, Array] = {}
        planned: list[_Planned] = []
        outputs: Sequence[SSAValue] = ()
        for op in main.body.block.ops:
            if isinstance(op, func.ReturnOp):
                outputs = op.arguments
            elif isinstance(op, arith.ConstantOp):
                constants[op.result] = decode_constant(op)
            elif type(op) not in kernels:
                raise QuantOptError(None, f"reference executor: no kernel for {op.name}")
            else:
                kernel = kernels[type(op)](op, constants.get)
                if all(v in constants for v in kernel.inputs):
                    values = kernel.fn(*(constants[v] for v in kernel.inputs))
                    for result, value in zip(op.results, values if len(op.results) > 1 else (values,)):
                        constants[result] = value
                else:
                    planned.append(_Planned(op, kernel))

        self._input_types = []
        for arg in main.args:
            if not isinstance(arg.type, TensorType):
                raise QuantOptError(None, f"reference executor: function argument of type {arg.type} is not a tensor")
            self._input_types.append((tuple(arg.type.get_shape()), dtype_of(arg.type.element_type)))

        slots: dict[SSAValue, int] = {}

        def slot(value: SSAValue) -> int:
            return slots.setdefault(value, len(slots))

        self._input_slots = [slot(arg) for arg in main.args]
        runtime_inputs = [[slot(v) for v in p.kernel.inputs] for p in planned]
        result_slots = [[slot(r) for r in p.op.results] for p in planned]
        self._output_slots = [slot(v) for v in outputs]
        self._constant_outputs = {slots[v] for v in outputs if v in constants}
        self._initial = [None] * len(slots)
        for value, index in slots.items():
            if value in constants:
                self._initial[index] = constants[value]

        # A slot dies after its last reader; one nobody reads dies where it is made. Constants, arguments
        # and outputs live for the whole run.
        keep = set(self._output_slots) | set(self._input_slots) | {i for v, i in slots.items() if v in constants}
        last_read = {}
        for index, (reads, writes) in enumerate(zip(runtime_inputs, result_slots)):
            for s in writes:
                last_read.setdefault(s, index)
            for s in reads:
                last_read[s] = index
        dead_after = [[] for _ in planned]
        for s, index in last_read.items():
            if s not in keep:
                dead_after[index].append(s)

        fresh = {s for p, writes in zip(planned, result_slots) if not p.kernel.returns_view for s in writes}
        readers = {}
        for index, reads in enumerate(runtime_inputs):
            for s in set(reads):
                readers[s] = readers.get(s, 0) + 1
        self._steps = []
        for index, (p, reads, writes) in enumerate(zip(planned, runtime_inputs, result_slots)):
            fn = p.kernel.fn
            if p.kernel.in_place is not None:
                donor = reads[p.kernel.in_place_input]
                if donor in fresh and readers[donor] == 1 and donor not in keep:
                    fn = p.kernel.in_place
            self._steps.append(Step(fn, tuple(reads), tuple(writes), tuple(dead_after[index]), p.op))

    def _check_inputs(self, inputs: Sequence[Array]) -> list[Array]:
        if len(inputs) != len(self._input_types):
            raise QuantOptError(None, f"reference executor: expected {len(self._input_types)} input(s), "
                                      f"got {len(inputs)}")
        checked = []
        for index, (x, (shape, dtype)) in enumerate(zip(inputs, self._input_types)):
            x = np.asarray(x)
            if x.dtype != dtype:
                if not (dtype == np.float32 and x.dtype == np.float64):
                    raise QuantOptError(None, f"reference executor: input {index} has dtype {x.dtype}, "
                                              f"expected {dtype}")
                x = x.astype(np.float32)
            if x.shape != shape:
                raise QuantOptError(None, f"reference executor: input {index} has shape {list(x.shape)}, "
                                          f"expected {list(shape)}")
            checked.append(x)
        return checked

    def run(self, inputs: Sequence[Array]) -> list[Array]:
        values = list(self._initial)
        for index, x in zip(self._input_slots, self._check_inputs(inputs)):
            values[index] = x
        with single_threaded_blas() if self._threads > 1 else contextlib.nullcontext():
            for step in self._steps:
                result = step.fn(*[values[i] for i in step.operands])
                if len(step.results) == 1:
                    values[step.results[0]] = result
                else:
                    for index, r in zip(step.results, result):
                        values[index] = r
                for index in step.dead:
                    values[index] = None
        return [values[i].copy() if i in self._constant_outputs else values[i] for i in self._output_slots]
