"""Bit packing of low-bit weights, as MindSpore Lite stores them in `.ms` files.

A weight quantized to b bits (b not 8 or 16) is stored packed: each value q in [-2^(b-1), 2^(b-1) - 1] is
offset by 2^(b-1) to an unsigned b-bit number, and the numbers are written one after another into a single
bit stream, least significant bit first (bit j of value i is stream bit i*b + j). The stream fills the
tensor's container words LSB first: bytes for b in 1..7 (dataType Int8), little-endian 16-bit words for b
in 9..15 (dataType Int16); the last word is zero-padded. This is MindSpore Lite's `BitPack::BitPacking`
(converter) and `UnPackToInt` (runtime).
"""

from __future__ import annotations

import numpy as np


def container_dtype(bits: int) -> np.dtype:
    """The storage type of b-bit weights: int8 for b <= 8, int16 for 9 <= b <= 16."""
    if not 1 <= bits <= 16:
        raise ValueError(f"weight bit width must be in 1..16, got {bits}")
    return np.dtype(np.int8) if bits <= 8 else np.dtype(np.int16)


def is_packed(bits: int) -> bool:
    """MindSpore Lite packs every width except the two that fill their container exactly."""
    return bits not in (8, 16)


def packed_nbytes(count: int, bits: int) -> int:
    """Size in bytes of `count` packed b-bit values, padded to whole container words."""
    word_bits = container_dtype(bits).itemsize * 8
    return -(-count * bits // word_bits) * (word_bits // 8)


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Pack signed b-bit integers into MindSpore Lite's LSB-first bit stream."""
    container_dtype(bits)
    flat = np.asarray(values).reshape(-1).astype(np.int64)
    offset = 1 << (bits - 1)
    unsigned = flat + offset
    if unsigned.size and (unsigned.min() < 0 or unsigned.max() >= 1 << bits):
        raise ValueError(f"values outside the signed {bits}-bit range [{-offset}, {offset - 1}]")
    stream = ((unsigned[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    padded = np.zeros(packed_nbytes(flat.size, bits) * 8, dtype=np.uint8)
    padded[: stream.size] = stream
    return np.packbits(padded, bitorder="little").tobytes()


def unpack_bits(data: bytes | np.ndarray, bits: int, count: int) -> np.ndarray:
    """Unpack `count` signed b-bit integers; returns them in the container dtype (int8 or int16)."""
    dtype = container_dtype(bits)
    raw = data.view(np.uint8) if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    expected = packed_nbytes(count, bits)
    if raw.size != expected:
        raise ValueError(f"{count} values of {bits} bits take {expected} bytes packed, got {raw.size}")
    stream = np.unpackbits(raw, bitorder="little")[: count * bits].reshape(count, bits)
    weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))
    unsigned = stream.astype(np.int64) @ weights if count else np.zeros(0, np.int64)
    return (unsigned - (1 << (bits - 1))).astype(dtype)
