"""Densifying TFLite sparse constants (the operand of DENSIFY), vectorised with numpy.

TFLite stores a sparse tensor of rank n as a walk over n + k levels: the n original dimensions, some of
them split into blocks, followed by the k block dimensions (`block_map[j]` is the dimension block j
splits). `traversal_order` lists the levels outermost first. A DENSE level visits every index below its
`dense_size`; a SPARSE_CSR level visits, below parent position p, the indices
`array_indices[array_segments[p]:array_segments[p + 1]]`. The stored values are the leaves in walk
order (TFLite's `FormatConverter::SparseToDense`). We expand the walk one level at a time, keeping for
every partial path its position and its index at each level so far.
"""

from __future__ import annotations

import math

import numpy as np

from quantopt.frontends.tflite_model import ConversionError, Sparsity
from quantopt.limits import check_tensor


def densify(values: np.ndarray, sparsity: Sparsity, shape: tuple[int, ...]) -> np.ndarray:
    rank = len(shape)
    check_tensor(shape, values.dtype.itemsize, "densified tensor")
    elements = math.prod(shape)
    sizes = _level_sizes(sparsity, shape)
    positions = np.zeros(1, np.int64)
    level_indices: list[np.ndarray] = []
    for dim, size in zip(sparsity.dims, sizes):
        if dim.dense and dim.dense_size != size:
            raise ConversionError(f"dense sparsity level of size {dim.dense_size}, expected {size}")
        # A valid walk has at most one path per dense element at every level; a corrupt one could ask for
        # far more before the final count check.
        if dim.dense and positions.size * size > elements:
            raise ConversionError(f"sparsity levels visit more than the {elements} elements of shape {list(shape)}")
        if dim.dense:
            positions, indices = _dense_level(positions, dim.dense_size)
            level_indices = [np.repeat(i, dim.dense_size) for i in level_indices]
        else:
            positions, indices, counts = _sparse_level(positions, dim.segments, dim.indices, elements)
            level_indices = [np.repeat(i, counts) for i in level_indices]
        level_indices.append(indices)
    if positions.size != values.size:
        raise ConversionError(f"sparse tensor stores {values.size} values, its sparsity walk visits {positions.size}")
    coordinates = _original_coordinates(level_indices, sparsity, rank)
    if any(((c < 0) | (c >= d)).any() for c, d in zip(coordinates, shape)):
        raise ConversionError(f"sparse indices fall outside the dense shape {list(shape)}")
    dense = np.zeros(shape, values.dtype)
    dense[tuple(coordinates)] = values
    return dense


def _level_sizes(sparsity: Sparsity, shape: tuple[int, ...]) -> list[int]:
    """The extent of every level in traversal order: blocked dimensions shrink by their block size."""
    rank = len(shape)
    order = sparsity.traversal_order
    block_sizes = [sparsity.dims[order[rank + j]].dense_size for j in range(len(sparsity.block_map))]
    extents = list(shape) + block_sizes
    for dim, block_size in zip(sparsity.block_map, block_sizes):
        if block_size < 1 or shape[dim] % block_size:
            raise ConversionError(f"block size {block_size} does not divide dimension {dim} of {list(shape)}")
        extents[dim] //= block_size
    return [extents[level] for level in order]


def _dense_level(positions: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    if size < 0:
        raise ConversionError(f"negative dense size {size} in sparsity")
    children = np.arange(size, dtype=np.int64)
    return (positions[:, None] * size + children).ravel(), np.tile(children, positions.size)


def _sparse_level(positions: np.ndarray, segments: np.ndarray, indices: np.ndarray, limit: int):
    if positions.size and (positions.max() + 1 >= segments.size or positions.min() < 0):
        raise ConversionError("sparsity array_segments is shorter than its parent level")
    starts, ends = segments[positions], segments[positions + 1]
    counts = ends - starts
    if (counts < 0).any() or (ends > indices.size).any() or (starts < 0).any():
        raise ConversionError("sparsity array_segments are not increasing or exceed array_indices")
    if counts.sum() > limit:
        raise ConversionError(f"sparsity levels visit more than the {limit} elements of the dense shape")
    # children of path i are starts[i], starts[i] + 1, ..., ends[i] - 1
    offsets = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    children = np.repeat(starts, counts) + offsets
    return children, indices[children], counts


def _original_coordinates(level_indices: list[np.ndarray], sparsity: Sparsity, rank: int) -> list[np.ndarray]:
    order = sparsity.traversal_order
    coordinates: list[np.ndarray] = [np.zeros(0)] * rank
    for level in range(rank):
        coordinates[order[level]] = level_indices[level]
    for level in range(rank, len(order)):
        block = order[level] - rank
        # TFLite reads the block size from the level whose number is the block's traversal entry
        block_size = sparsity.dims[order[rank + block]].dense_size
        dim = sparsity.block_map[block]
        coordinates[dim] = coordinates[dim] * block_size + level_indices[level]
    return coordinates
