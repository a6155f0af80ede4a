"""numpy views of pyarrow arrays (no pandas): offsets, slices, chunks and nulls read right."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from alpaca_lc.records import arrowtext


def test_numbers_of_any_width_with_nulls_sliced_and_chunked() -> None:
    column = pa.chunked_array([pa.array([9.0, 1.5, None, 2.0])[1:], pa.array([None, 1.0, None])])
    np.testing.assert_array_equal(arrowtext.numbers(column), [1.5, np.nan, 2.0, np.nan, 1.0, np.nan])
    for kind in (pa.int8(), pa.uint16(), pa.int64(), pa.float32()):
        sliced = pa.array([7, 0, 2, None, 1], kind)[1:]
        np.testing.assert_array_equal(arrowtext.numbers(sliced), [0.0, 2.0, np.nan, 1.0])


def test_bools_ints_and_utf8_values_of_sliced_arrays() -> None:
    flags = [True, False, True, True] * 3
    np.testing.assert_array_equal(arrowtext.bools(pa.array(flags)[5:]), flags[5:])
    np.testing.assert_array_equal(arrowtext.ints(pa.array([5, 6, 7], pa.int32())[1:]), [6, 7])
    texts = ["", "é漢", "x", ""]
    for kind in (pa.string(), pa.large_string()):
        got = list(arrowtext.utf8_values(pa.chunked_array([pa.array(["pad", *texts], kind)[1:]])))
        assert got == [t.encode() for t in texts]
