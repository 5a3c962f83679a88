"""Format-blind mutations of a byte string: bit and byte flips, integers with interesting values, truncation,
splices of two inputs, and duplication, deletion or insertion of chunks.

`hot` (optional) lists byte ranges worth aiming at, such as the metadata of a flatbuffer as opposed to its
weight data; flips and integer writes land in them most of the time.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

Ranges = Sequence[tuple[int, int]]

INTERESTING_32 = (0, 1, 2, 3, 4, 7, 8, 16, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                  0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x40000000, 1_000_000, 100_000_000)
INTERESTING_64 = (0, 1, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 1 << 32, 1 << 40)


def _position(rng: random.Random, size: int, hot: Ranges | None, width: int = 1, align: int = 1) -> int:
    """A random offset of `width` bytes inside the data, usually in a hot range; a multiple of `align`."""
    if hot and rng.random() < 0.9:
        start, end = rng.choice(hot)
        end = min(end, size)
        if end - start >= width:
            pos = rng.randrange(start, end - width + 1)
            return max(0, pos - pos % align)
    pos = rng.randrange(0, max(1, size - width + 1))
    return max(0, pos - pos % align)


def flip_bits(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[_position(rng, len(out), hot)] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[_position(rng, len(out), hot)] = rng.choice((0, 0xFF, 0x7F, 0x80, rng.randrange(256)))
    return bytes(out)


def interesting_integer(rng: random.Random, size: int) -> int:
    if rng.random() < 0.15:
        return rng.choice((size, size + 1, size - 4, size * 2)) & 0xFFFFFFFF
    if rng.random() < 0.2:
        return rng.getrandbits(32)
    value = rng.choice(INTERESTING_32)
    return value if rng.random() < 0.8 else (-value) & 0xFFFFFFFF


def set_integer(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    """Overwrite an aligned little-endian int32 (or int64) with an edge value: sizes, counts, offsets."""
    if len(data) < 8:
        return flip_bits(rng, data)
    out = bytearray(data)
    if rng.random() < 0.2:
        pos = _position(rng, len(out), hot, 8, 8)
        struct.pack_into("<Q", out, pos, rng.choice(INTERESTING_64))
    else:
        pos = _position(rng, len(out), hot, 4, 4)
        struct.pack_into("<I", out, pos, interesting_integer(rng, len(data)))
    return bytes(out)


def truncate(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    return data[: rng.randrange(0, max(1, len(data)))]


def duplicate_chunk(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start: start + rng.randint(1, min(4096, len(data) - start))]
    at = rng.randrange(len(data) + 1)
    return data[:at] + chunk * rng.randint(1, 4) + data[at:]


def delete_chunk(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    if not data:
        return data
    start = _position(rng, len(data), hot)
    return data[:start] + data[start + rng.randint(1, min(4096, len(data) - start)):]


def insert_random(rng: random.Random, data: bytes, hot: Ranges | None = None) -> bytes:
    at = _position(rng, len(data) + 1, hot)
    return data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at:]


def splice(rng: random.Random, data: bytes, other: bytes) -> bytes:
    """The head of one input followed by the tail of another (or of itself, shifted)."""
    cut = rng.randrange(len(data) + 1)
    other_cut = rng.randrange(len(other) + 1)
    return data[:cut] + other[other_cut:]


MUTATORS: tuple[Callable[[random.Random, bytes, Ranges | None], bytes], ...] = (
    flip_bits, flip_bits, set_bytes, set_integer, set_integer, set_integer, truncate, duplicate_chunk,
    delete_chunk, insert_random)


def mutate(rng: random.Random, data: bytes, others: Sequence[bytes] = (), hot: Ranges | None = None) -> bytes:
    """One to three stacked mutations; a splice with another input one time in ten."""
    if others and rng.random() < 0.1:
        data = splice(rng, data, rng.choice(others))
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = rng.choice(MUTATORS)(rng, data, hot)
    return data
