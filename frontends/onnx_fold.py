"""Constant folding with numpy: nodes whose inputs are all constants (weights, shape arithmetic of exported
models: Shape -> Gather -> Unsqueeze -> Concat -> Reshape) never reach the IR."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from quantopt.frontends.onnx_graph import ConversionError, GraphBuilder, OnnxNode, normalize_axis
from quantopt.limits import check_tensor
from quantopt.frontends.onnx_shapes import (
    flatten_shape,
    ints_param,
    python_slices,
    reshape_target,
    slice_params,
    squeeze_shape,
    transpose_perm,
    unsqueeze_shape,
)

Folder = Callable[[GraphBuilder, OnnxNode], list[np.ndarray]]


def _inputs(b: GraphBuilder, node: OnnxNode, count: int | None = None) -> list[np.ndarray]:
    """The constant inputs; `count` of them when given (Concat and the variadic ops need at least one)."""
    arrays = [b.const(name) for name in node.inputs if name]
    if (count is not None and len(arrays) != count) or not arrays:
        raise ConversionError(f"expects {count or 'at least one'} input(s), got {len(arrays)}")
    return arrays


def _scalar(array: np.ndarray, what: str):
    if array.size != 1:
        raise ConversionError(f"{what} must hold one value, got shape {list(array.shape)}")
    return array.reshape(-1)[0]


def _broadcast_result(arrays: list[np.ndarray], dtype: np.dtype) -> None:
    """Check the size of an elementwise result before numpy allocates it."""
    check_tensor(np.broadcast_shapes(*(a.shape for a in arrays)), np.dtype(dtype).itemsize, "folded result")


def fold_constant(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    attrs = node.attrs
    if "value" in attrs:
        return [numpy_helper.to_array(attrs["value"])]
    if "value_float" in attrs:
        return [np.array(attrs["value_float"], np.float32)]
    if "value_floats" in attrs:
        return [np.array(attrs["value_floats"], np.float32)]
    if "value_int" in attrs:
        return [np.array(attrs["value_int"], np.int64)]
    if "value_ints" in attrs:
        return [np.array(attrs["value_ints"], np.int64)]
    raise ConversionError(f"unsupported constant attribute {sorted(attrs)}")


def fold_constant_of_shape(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    (shape,) = _inputs(b, node, 1)
    value = node.attr("value")
    fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
    if fill.size != 1:
        raise ConversionError(f"value must hold one element, got {fill.size}")
    dims = [int(d) for d in shape.reshape(-1)]
    check_tensor(dims, fill.dtype.itemsize, "ConstantOfShape result")
    return [np.full(dims, fill[0], fill.dtype)]


def fold_shape(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    shape = b.shape(node.input(0))
    start, end = node.attr("start", 0), node.attr("end", len(shape))
    return [np.array(shape[slice(start, end)], np.int64)]


def fold_size(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    return [np.array(int(np.prod(b.shape(node.input(0)))), np.int64)]


def fold_gather(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    data, indices = _inputs(b, node, 2)
    if data.ndim == 0:
        raise ConversionError("cannot gather from a scalar")
    axis = normalize_axis(node.attr("axis", 0), data.ndim)
    if indices.dtype.kind not in "iu":
        raise ConversionError(f"indices must be integers, got {indices.dtype}")
    dim = data.shape[axis]
    indices = np.where(indices < 0, indices + dim, indices)
    if indices.size and (indices.min() < 0 or indices.max() >= dim):
        raise ConversionError(f"indices out of range for dimension {dim}")
    check_tensor(data.shape[:axis] + indices.shape + data.shape[axis + 1:], data.dtype.itemsize, "Gather result")
    return [np.take(data, indices, axis=axis)]


def fold_cast(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    (x,) = _inputs(b, node, 1)
    to = node.attr("to")
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))
    except (KeyError, TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biuf" or x.dtype.kind not in "biuf":
        raise ConversionError(f"unsupported cast from {x.dtype} to type {to}")
    check_tensor(x.shape, dtype.itemsize, "Cast result")
    return [x.astype(dtype)]


def fold_reshape(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x.reshape(reshape_target(b, node, x.shape))]


def fold_flatten(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x.reshape(flatten_shape(node, x.shape))]


def fold_squeeze(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x.reshape(squeeze_shape(b, node, x.shape))]


def fold_unsqueeze(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x.reshape(unsqueeze_shape(b, node, x.shape))]


def fold_transpose(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x.transpose(transpose_perm(node, x.ndim))]


def fold_concat(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    arrays = _inputs(b, node)
    axis = normalize_axis(node.attr("axis", 0), arrays[0].ndim)
    if any(a.ndim != arrays[0].ndim for a in arrays):
        raise ConversionError(f"inputs of ranks {[a.ndim for a in arrays]} cannot be concatenated")
    shape = list(arrays[0].shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    check_tensor(shape, max(a.dtype.itemsize for a in arrays), "Concat result")
    return [np.concatenate(arrays, axis=axis)]


def fold_slice(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x = b.const(node.input(0))
    return [x[python_slices(*slice_params(b, node, x.shape))]]


def fold_range(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    start, limit, delta = (_scalar(a, what) for a, what in zip(_inputs(b, node, 3), ("start", "limit", "delta")))
    if not all(np.isfinite(v) for v in (start, limit, delta)) or delta == 0:
        raise ConversionError(f"cannot count from {start} to {limit} in steps of {delta}")
    count = max(math.ceil((float(limit) - float(start)) / float(delta)), 0)
    check_tensor([count], 8, "Range result")  # the steps are counted in 64 bits
    # start + i * delta as ONNX defines it; numpy's arange can overflow while computing the length
    steps = np.arange(count, dtype=np.float64 if start.dtype.kind == "f" else np.int64)
    return [(steps * delta + start).astype(start.dtype)]


def fold_expand(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
    x, shape = _inputs(b, node, 2)
    target = [int(d) for d in shape.reshape(-1)]
    check_tensor(target, x.dtype.itemsize, "Expand target")
    result = np.broadcast_shapes(x.shape, tuple(target))
    check_tensor(result, x.dtype.itemsize, "Expand result")
    return [np.array(np.broadcast_to(x, result))]


def fold_reduce(fn) -> Folder:
    def fold(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
        x = b.const(node.input(0))
        axes = ints_param(b, node, "axes", 1)
        if not axes and node.attr("noop_with_empty_axes", 0):
            return [x]
        axes = tuple(normalize_axis(a, x.ndim) for a in axes) if axes else None
        return [np.asarray(fn(x, axis=axes, keepdims=bool(node.attr("keepdims", 1))), x.dtype)]

    return fold


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu":  # ONNX integer division truncates toward zero
        return (np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))).astype(a.dtype)
    return np.divide(a, b).astype(a.dtype)


def elementwise(fn) -> Folder:
    def fold(b: GraphBuilder, node: OnnxNode) -> list[np.ndarray]:
        arrays = _inputs(b, node)
        _broadcast_result(arrays, max((a.dtype for a in arrays), key=lambda d: d.itemsize))
        try:
            result = fn(*arrays)
        except TypeError as e:  # e.g. Neg of booleans, Sqrt of strings
            raise ConversionError(f"cannot compute on {', '.join(str(a.dtype) for a in arrays)} constants: {e}") from e
        return [np.asarray(result, arrays[0].dtype) if result.dtype.kind != "b" else result]

    return fold


def _variadic(fn):
    return lambda *arrays: functools.reduce(fn, arrays)


FOLDERS: dict[str, Folder] = {
    "Constant": fold_constant,
    "ConstantOfShape": fold_constant_of_shape,
    "Shape": fold_shape,
    "Size": fold_size,
    "Gather": fold_gather,
    "Cast": fold_cast,
    "Reshape": fold_reshape,
    "Flatten": fold_flatten,
    "Squeeze": fold_squeeze,
    "Unsqueeze": fold_unsqueeze,
    "Transpose": fold_transpose,
    "Concat": fold_concat,
    "Slice": fold_slice,
    "Range": fold_range,
    "Expand": fold_expand,
    "Identity": lambda b, node: _inputs(b, node),
    "ReduceProd": fold_reduce(np.prod),
    "ReduceSum": fold_reduce(np.sum),
    "ReduceMin": fold_reduce(np.min),
    "ReduceMax": fold_reduce(np.max),
    "Add": elementwise(np.add),
    "Sub": elementwise(np.subtract),
    "Mul": elementwise(np.multiply),
    "Div": elementwise(_divide),
    "Pow": elementwise(np.power),
    "Neg": elementwise(np.negative),
    "Abs": elementwise(np.abs),
    "Floor": elementwise(np.floor),
    "Ceil": elementwise(np.ceil),
    "Sqrt": elementwise(np.sqrt),
    "Sum": elementwise(_variadic(np.add)),
    "Min": elementwise(_variadic(np.minimum)),
    "Max": elementwise(_variadic(np.maximum)),
    "Equal": elementwise(np.equal),
    "Less": elementwise(np.less),
    "Greater": elementwise(np.greater),
    "Not": elementwise(np.logical_not),
    "Where": lambda b, node: fold_where(_inputs(b, node, 3)),
}

def fold_where(arrays: list[np.ndarray]) -> list[np.ndarray]:
    _broadcast_result(arrays, max(arrays[1].dtype, arrays[2].dtype, key=lambda d: d.itemsize))
    return [np.where(*arrays)]


# Folded even when the input is not a constant: static shapes make the result known at import.
SHAPE_QUERIES = {"Shape", "Size"}


def can_fold(b: GraphBuilder, node: OnnxNode) -> bool:
    if node.op_type not in FOLDERS:
        return False
    if node.op_type in SHAPE_QUERIES:
        return True
    if node.op_type != "Constant" and not node.input(0):
        return False  # the converter, or the error for a missing input
    return all(b.is_const(name) for name in node.inputs if name)
