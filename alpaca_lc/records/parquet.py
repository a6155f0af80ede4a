"""Parquet tables of records read as columns through pyarrow, without pandas (pyarrow's numpy conversion
imports it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from alpaca_lc.errors import InputError
from alpaca_lc.records import arrowtext
from alpaca_lc.records.table import FloatArray, ObjectArray, as_objects


def parquet_table(path: Path, wanted: Sequence[str], repeated: Sequence[str], required: Sequence[str]) -> Any:
    """The wanted columns of a parquet file that has them, `repeated` ones dictionary-encoded: each distinct
    string becomes one Python object, shared by its rows, instead of a copy per row; a `required` column
    that is absent is an error."""
    import pyarrow.parquet as pq

    try:
        present = [c for c in wanted if c in pq.read_schema(path).names]
        file = pq.ParquetFile(path, read_dictionary=[c for c in repeated if c in present])
        table = file.read(columns=present)  # columns decoded on all cores
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"cannot read parquet: {exc}", path=path) from None
    if table.num_rows == 0:
        raise InputError("empty file", path=path)
    for field in required:
        if field not in present:
            raise InputError(f"missing field '{field}'", path=path, record=1)
    return table


def arrow_columns(table: Any, wanted: Sequence[str]) -> dict[str, list[Any] | ObjectArray | FloatArray]:
    columns = {c: arrow_column(table.column(c)) for c in table.column_names}
    for c in wanted:
        columns.setdefault(c, np.full(table.num_rows, None, dtype=object))
    return columns


def plain_text(column: Any) -> bool:
    """A text column without nulls, dictionary-encoded or not."""
    import pyarrow as pa

    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    return (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and column.null_count == 0


def arrow_column(column: Any) -> list[Any] | ObjectArray | FloatArray:
    """A pyarrow column as Python values, numbers as floats (NaN for null). Not through to_numpy: pyarrow's numpy
    conversion imports pandas."""
    import pyarrow as pa

    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):  # a preference column
        return arrowtext.numbers(column)
    parts: list[Any] = []
    for chunk in column.chunks:
        if isinstance(chunk, pa.DictionaryArray) and chunk.indices.null_count == 0:
            values = as_objects(chunk.dictionary.to_pylist())
            codes, width = chunk.indices, chunk.indices.type.bit_width // 8
            indices = np.frombuffer(codes.buffers()[1], dtype=f"<i{width}")[codes.offset : codes.offset + len(codes)]
            parts.append(values[indices])
        else:
            parts.append(as_objects(chunk.to_pylist()))
    return np.concatenate(parts) if parts else np.empty(0, dtype=object)
