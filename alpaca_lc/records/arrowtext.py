"""Text columns in pyarrow, read as numpy and bytes without pyarrow's pandas-importing conversions.

pyarrow's own numpy conversions (`to_numpy`, `pa.array` of a Python list) import pandas, a fifth of a second
that a leaderboard has no other use for; these helpers read arrays' buffers instead. Arrays may be chunked,
sliced, and (text) dictionary-encoded; only `numbers` takes nulls.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt


def utf8_array(encoded: list[bytes]) -> Any:
    """UTF-8 texts as one pyarrow large_string array, built from its buffers."""
    import pyarrow as pa

    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data)


def utf8_values(array: Any) -> Iterator[bytes]:
    """Each text of a (plain) string array as its UTF-8 bytes, copied from the array's data buffer: the bytes
    `str.encode` would give, without a Python string in between, nor a copy of the whole buffer."""
    for chunk in _chunks(array):
        buffer = chunk.buffers()[2]
        data = memoryview(b"" if buffer is None else buffer)  # no buffer where every text is empty
        for a, b in itertools.pairwise(_offsets(chunk).tolist()):
            yield data[a:b].tobytes()


def lengths(array: Any) -> npt.NDArray[np.int64]:
    """Each text's length in characters (as Python's `len`); a dictionary's values are measured once each."""
    import pyarrow as pa

    parts = []
    for chunk in _chunks(array):
        if pa.types.is_dictionary(chunk.type):
            parts.append(ints(call("utf8_length", chunk.dictionary))[ints(chunk.indices)])
        else:
            parts.append(ints(call("utf8_length", chunk)))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def equal_rows(first: Any, second: Any, *, candidates: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which rows of two text arrays hold the same text, compared only where `candidates` (rows of equal
    length, say) allows: a dictionary-encoded column is never decoded whole."""
    import pyarrow as pa

    rows = np.flatnonzero(candidates)
    equal = np.zeros(len(candidates), dtype=bool)
    if len(rows):
        index = pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(rows.astype(np.int64))])
        taken = [decoded(call("take", column, index)) for column in (first, second)]
        equal[rows] = bools(call("equal", *taken))
    return equal


def ints(array: Any) -> npt.NDArray[np.int64]:
    """An integer array as int64 numpy."""
    parts = [_values(c) for c in _chunks(array)]
    return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


def numbers(array: Any) -> npt.NDArray[np.float64]:
    """A numeric array (integers or floats, nulls allowed) as float64, NaN where null."""
    parts = []
    for chunk in _chunks(array):
        values = _values(chunk).astype(np.float64)
        if chunk.null_count:
            valid = np.unpackbits(np.frombuffer(chunk.buffers()[0], dtype=np.uint8), bitorder="little")
            values[~valid[chunk.offset : chunk.offset + len(chunk)].astype(bool)] = np.nan
        parts.append(values)
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def bools(array: Any) -> npt.NDArray[np.bool_]:
    """A boolean array as numpy (its bits unpacked)."""
    parts = []
    for chunk in _chunks(array):
        bits = np.unpackbits(np.frombuffer(chunk.buffers()[1], dtype=np.uint8), bitorder="little")
        parts.append(bits[chunk.offset : chunk.offset + len(chunk)].astype(bool))
    return np.concatenate(parts) if parts else np.empty(0, dtype=bool)


def _chunks(array: Any) -> list[Any]:
    return list(array.chunks) if hasattr(array, "chunks") else [array]


def _values(chunk: Any) -> npt.NDArray[Any]:
    """A numeric chunk's values buffer, viewed in its own type (no copy)."""
    import pyarrow as pa

    kind = "f" if pa.types.is_floating(chunk.type) else "u" if pa.types.is_unsigned_integer(chunk.type) else "i"
    dtype = f"<{kind}{chunk.type.bit_width // 8}"
    return np.frombuffer(chunk.buffers()[1], dtype=dtype)[chunk.offset : chunk.offset + len(chunk)]


def _offsets(chunk: Any) -> npt.NDArray[np.int64]:
    import pyarrow as pa

    width = 8 if pa.types.is_large_string(chunk.type) else 4
    return np.frombuffer(chunk.buffers()[1], dtype=f"<i{width}")[chunk.offset : chunk.offset + len(chunk) + 1]


def decoded(array: Any) -> Any:
    """A dictionary-encoded array decoded (other arrays as they are)."""
    import pyarrow as pa

    if not pa.types.is_dictionary(array.type):
        return array
    return call("cast", array, options=_compute().CastOptions(target_type=array.type.value_type))


def call(name: str, *args: Any, options: Any = None) -> Any:
    """The pyarrow compute function `name` on `args`. Called by name from pyarrow's compiled core, not through
    `pyarrow.compute` (or methods such as `take` and `cast` that import it): that module builds a Python
    wrapper with a docstring for each of its ~500 functions on import, 25 ms of every process that reads."""
    return _compute().call_function(name, list(args), options)


def regex_matcher(pattern: str, *, ignore_case: bool) -> Callable[[Any], npt.NDArray[np.bool_]]:
    """A function telling which texts of an array match a regular expression (RE2 syntax), in one pass that
    releases the GIL. Made on the thread that imports pyarrow, it can run on another without importing."""
    options = _compute().MatchSubstringOptions(pattern, ignore_case=ignore_case)
    return lambda array: bools(call("match_substring_regex", array, options=options))


@functools.cache
def _compute() -> Any:
    try:
        import pyarrow._compute as compute  # the compiled module pyarrow.compute wraps
    except ImportError:  # moved in some pyarrow: the public module has the same names
        import pyarrow.compute as compute
    return compute
