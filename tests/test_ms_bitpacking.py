"""Bit packing of low-bit weights (MindSpore Lite's BitPack): exact round trips and the byte layout."""

import numpy as np
import pytest

from quantopt.backends.ms.bitpacking import container_dtype, is_packed, pack_bits, packed_nbytes, unpack_bits


@pytest.mark.parametrize("bits", range(1, 17))
def test_round_trip_every_width(bits):
    rng = np.random.default_rng(bits)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for count in (0, 1, 7, 8, 9, 1000, 4097):
        values = rng.integers(lo, hi, size=count, endpoint=True)
        values[: min(count, 2)] = [lo, hi][: min(count, 2)]  # both ends of the range
        packed = pack_bits(values, bits)
        assert len(packed) == packed_nbytes(count, bits)
        unpacked = unpack_bits(packed, bits, count)
        assert unpacked.dtype == container_dtype(bits)
        np.testing.assert_array_equal(unpacked, values)


def test_layout_is_offset_lsb_first():
    # 3-bit values -4, 3, 0 -> offset by 4 -> 0b000, 0b111, 0b100; stream (LSB first): 000 111 001 -> bits
    # 0..8 = 0,0,0,1,1,1,0,0,1 -> byte 0 = 0b00111000, byte 1 = 0b00000001
    assert pack_bits(np.array([-4, 3, 0]), 3) == bytes([0b00111000, 0b00000001])
    # 12-bit values fill little-endian 16-bit words: -2048 -> 0x000, 2047 -> 0xFFF -> stream 0x000 | 0xFFF << 12
    assert pack_bits(np.array([-2048, 2047]), 12) == (0xFFF << 12).to_bytes(4, "little")


def test_containers_and_sizes():
    assert [container_dtype(b).itemsize for b in (1, 7, 8, 9, 15, 16)] == [1, 1, 1, 2, 2, 2]
    assert [is_packed(b) for b in (4, 8, 12, 16)] == [True, False, True, False]
    assert packed_nbytes(5, 3) == 2  # 15 bits -> 2 bytes
    assert packed_nbytes(3, 9) == 4  # 27 bits -> 2 words of 16 bits
    assert packed_nbytes(16, 8) == 16 and packed_nbytes(3, 16) == 6


def test_rejects_out_of_range_values_and_wrong_sizes():
    with pytest.raises(ValueError, match="range"):
        pack_bits(np.array([4]), 3)
    with pytest.raises(ValueError, match="take 2 bytes"):
        unpack_bits(b"\x00", 3, 5)
    with pytest.raises(ValueError, match="1..16"):
        container_dtype(17)


def test_is_vectorised():
    values = np.random.default_rng(0).integers(-8, 7, size=2_000_000)
    np.testing.assert_array_equal(unpack_bits(pack_bits(values, 4), 4, values.size), values)
