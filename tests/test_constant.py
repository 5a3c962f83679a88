"""numpy arrays to dense attributes and back, the one mechanism every frontend, pass and backend uses."""

import numpy as np
import pytest
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, TensorType, f32

from quantopt.context import make_context
from quantopt.dialects.constant import dense_attr, dense_to_numpy
from xdsl.parser import Parser


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int8", "int16", "int32", "int64", "uint8",
                                   "uint16", "bool"])
def test_round_trip_keeps_dtype_shape_and_values(dtype):
    values = (np.arange(12) % 3).astype(dtype).reshape(3, 4)
    back = dense_to_numpy(dense_attr(values))
    assert back.dtype == values.dtype and back.shape == (3, 4)
    np.testing.assert_array_equal(back, values)


def test_splat_is_broadcast_to_the_shape():
    attr = Parser(make_context(), "dense<2.5> : tensor<2x3xf32>").parse_attribute()
    np.testing.assert_array_equal(dense_to_numpy(attr), np.full((2, 3), 2.5, np.float32))


def test_size_mismatch_is_an_error():
    from xdsl.dialects.builtin import BytesAttr

    attr = DenseIntOrFPElementsAttr(TensorType(f32, [2, 3]), BytesAttr(np.zeros(4, np.float32).tobytes()))
    with pytest.raises(ValueError, match=r"dense attribute holds 4 values for shape \[2, 3\]"):
        dense_to_numpy(attr)
