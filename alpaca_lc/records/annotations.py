"""Annotations: AlpacaEval's annotation files, read as columns.

Annotations come as `annotations.json` (old or new metadata schema), folders of them
(`results/<model>/<judge>/annotations.json`, searched recursively), or parquet/JSONL tables with the same
columns plus `model`. They are read as columns (`Annotations`: numpy arrays, one row per judgment) and
validated column by column; only when a column fails its check are the records walked one by one, to name
the first bad record. The preference is normalised to a float in [1, 2] with NaN for a failed judgment
(legacy 0 becomes the tie 1.5). Nothing here imports pandas: every scoring command reads annotations.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np

from alpaca_lc.errors import InputError
from alpaca_lc.records.instrument import known_protocols
from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.records.parquet import arrow_columns, parquet_table, plain_text
from alpaca_lc.records.table import (
    FloatArray,
    ObjectArray,
    RowTable,
    as_objects,
    check_duplicates,
    require_str,
)

if TYPE_CHECKING:
    import pandas as pd

ANNOTATION_COLUMNS = [
    "model",
    "instruction",
    "output_1",
    "output_2",
    "preference",
    "source",
    "record",
    "annotator",
    "annotator_protocol",
    "raw_completion",
]
REQUIRED_FIELDS = ("instruction", "output_1", "output_2", "preference")
TIE = 1.5
_NUMBER = {int, float, type(None)}
_TEXT = {str}
_OPTIONAL_TEXT = {str, type(None)}
_T = TypeVar("_T", bound=RowTable)


@dataclass(frozen=True)
class Annotations(RowTable):
    """Validated annotations of one or many models as columns, one row per judgment.

    `model` is None for judgments read without one (AlpacaEval's annotation cache); `raw_completion` only when
    asked for.
    """

    instruction: ObjectArray
    output_1: ObjectArray
    output_2: ObjectArray
    preference: FloatArray
    raw_completion: ObjectArray

    @staticmethod
    def from_pandas(frame: pd.DataFrame, source: str = "<table>") -> Annotations:
        """Annotations from a DataFrame with columns model, instruction, output_1, output_2, preference (and
        optionally annotator, annotator_protocol), validated as a file would be."""
        columns = {c: frame[c].tolist() if c in frame.columns else [None] * len(frame)
                   for c in (*_WANTED, "raw_completion", "preference_raw_completion")}  # fmt: skip
        return _from_columns(columns, Path(source), raw=False, model_required=True)

    def to_pandas(self) -> pd.DataFrame:
        """A pandas DataFrame with `ANNOTATION_COLUMNS` (for code that wants one; costs the pandas import)."""
        import pandas as pd

        columns = {c: self.source if c == "source" else getattr(self, c) for c in ANNOTATION_COLUMNS}
        return pd.DataFrame(columns)


def read_annotations(paths: Sequence[Path], *, raw: bool = False) -> Annotations:
    """Read annotations from files and folders into one validated table.

    Args:
        paths: `annotations.json` files, folders searched recursively for them, `.jsonl` or `.parquet` tables.
        raw: also read the judge's raw completions (`raw_completion` / `preference_raw_completion`).
    """
    table = Annotations.concat([read_file(p, raw=raw) for p in expand_annotation_paths(paths)])
    check_duplicates(table, table.instruction)
    return fill_known_protocols(table)


def fill_known_protocols(table: _T) -> _T:
    """Files made by AlpacaEval name the evaluator only: its name fixes its protocol (AlpacaEval 0.6.6's).

    Args:
        table: rows with `annotator` and `annotator_protocol` columns.
    """
    protocol = table.annotator_protocol
    missing = np.flatnonzero(protocol == None)  # noqa: E711 (elementwise, on an object array)
    if not len(missing):
        return table
    known = known_protocols()
    names = table.annotator[missing].tolist()
    of_name = {a: known.get(a) if a else None for a in set(names)}  # a few judges: looked up once each
    protocol = protocol.copy()
    protocol[missing] = list(map(of_name.__getitem__, names))
    return replace(table, annotator_protocol=protocol)


def read_pair_judgments(paths: Sequence[Path]) -> Annotations:
    """Judgments to import into the cache: AlpacaEval annotation files, or AlpacaEval's own annotation cache
    (`annotations_seed0_configs.json`, which names no model and marks a missing judgment with -1).

    Returns the valid judgments only, with their raw completions.

    Args:
        paths: files, or folders searched recursively for `annotations.json`.
    """
    parts = [read_file(p, raw=True, model_required=False) for p in expand_annotation_paths(paths)]
    table = Annotations.concat(parts)
    return table.take(~np.isnan(table.preference))


def expand_annotation_paths(paths: Iterable[Path]) -> list[Path]:
    """Replace each folder by the `annotations.json` files below it (AlpacaEval's results layout), in sorted order;
    a folder without any, by the annotation files directly in it (`*.json`, `*.jsonl`, `*.parquet`: one per model,
    as a loop of `annotate -o DIR/<model>.json` writes them)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("annotations.json")) or sorted(
                p for p in path.iterdir() if p.is_file() and p.suffix in (".json", ".jsonl", ".parquet"))  # fmt: skip
            if not found:
                raise InputError("no annotations below this folder (annotations.json files, or *.json, *.jsonl, "
                                 "*.parquet files in it)", path=path)  # fmt: skip
            files.extend(found)
        elif not path.exists():
            raise InputError("no such file", path=path)
        else:
            files.append(path)
    return files


_WANTED = ("model", "generator_2", *REQUIRED_FIELDS, "annotator", "annotator_protocol")


def read_file(path: Path, *, raw: bool, model_required: bool = True) -> Annotations:
    """One file's annotations: its columns checked as columns; the records are walked only to name an error.

    Args:
        path: an annotations file (JSON, JSONL or parquet).
        raw: also read the judge's raw completions.
        model_required: every record must name its model (False for AlpacaEval's annotation cache).
    """
    wanted = (*_WANTED, "raw_completion", "preference_raw_completion") if raw else _WANTED
    columns, records = _parquet_columns(path, wanted) if path.suffix == ".parquet" else _json_columns(path, wanted)
    try:
        return _from_columns(columns, path, raw=raw, model_required=model_required)
    except _NeedsRecordWalk:
        rows = records() if callable(records) else records
        for i, rec in enumerate(rows, start=1):  # raises at the first bad record
            _check_record(rec, path, i, model_required=model_required)
        raise InputError("cannot read these annotations (unexpected value types)", path=path) from None


class _NeedsRecordWalk(Exception):
    """A column failed its check: walk the records to name the first bad one."""


def _json_columns(path: Path, wanted: Sequence[str]) -> tuple[dict[str, list[Any]], list[dict[str, Any]]]:
    records = read_json_records(path)
    columns = {f: [r.get(f) for r in records] for f in wanted}
    for field in REQUIRED_FIELDS:  # present but null, or absent: only the second is an error
        if None in columns[field] and any(field not in records[i] for i in _none_rows(columns[field])):
            raise _first_missing(records, field, path)
    return columns, records


def _none_rows(values: list[Any]) -> list[int]:
    return [i for i, v in enumerate(values) if v is None]


def _first_missing(records: list[dict[str, Any]], field: str, path: Path) -> InputError:
    first = next(i for i, r in enumerate(records, start=1) if field not in r)
    return InputError(f"missing field '{field}'", path=path, record=first)


def _parquet_columns(path: Path, wanted: Sequence[str]) -> tuple[dict[str, list[Any] | ObjectArray | FloatArray], Any]:
    table = parquet_table(path, wanted, _REPEATED, REQUIRED_FIELDS)
    return arrow_columns(table, wanted), table.to_pylist  # records, built only if an error must be named


class ParquetTexts(NamedTuple):
    """A parquet file's annotations with the two outputs left as pyarrow string arrays (what screening reads)."""

    fields: dict[str, Any]  # the Annotations fields other than the outputs and raw_completion
    output_1: Any
    output_2: Any


def read_parquet_texts(path: Path) -> ParquetTexts | None:
    """A parquet annotation file read and checked as `read_file` does, without making Python strings of its
    outputs; None when a column needs the record-by-record check (then `read_file` names the bad record).

    Args:
        path: the parquet file.
    """
    table = parquet_table(path, _WANTED, _REPEATED, REQUIRED_FIELDS)
    outputs = [table.column(c) for c in ("output_1", "output_2")]
    if not all(plain_text(c) for c in outputs):
        return None
    columns = arrow_columns(table.drop_columns(["output_1", "output_2"]), _WANTED)
    try:
        return ParquetTexts(_row_fields(columns, path, model_required=True), *outputs)
    except _NeedsRecordWalk:
        return None


_REPEATED = ("model", "generator_2", "instruction", "output_1", "annotator", "annotator_protocol")


def _from_columns(columns: dict[str, Any], path: Path, *, raw: bool, model_required: bool) -> Annotations:
    fields = _row_fields(columns, path, model_required=model_required)
    raw_completion = np.full(len(fields["record"]), None, dtype=object)
    if raw:
        pairs = zip(columns["raw_completion"], columns["preference_raw_completion"], strict=True)
        raw_values = [r if r is not None else p for r, p in pairs]
        raw_completion = np.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in raw_values],
                                  dtype=object)  # fmt: skip
    return Annotations(
        **fields, output_1=_text(columns["output_1"]), output_2=_text(columns["output_2"]),
        raw_completion=raw_completion,
    )  # fmt: skip


def _row_fields(columns: dict[str, Any], path: Path, *, model_required: bool) -> dict[str, Any]:
    """The checked Annotations fields other than the outputs and raw_completion."""
    n = len(columns["instruction"])
    instruction = _text(columns["instruction"])
    if not all(s.strip() for s in dict.fromkeys(instruction.tolist())):  # each distinct text checked once
        raise _NeedsRecordWalk
    model = _results_layout_model(path, columns)
    return {
        "model": _model_column(columns, model_required) if model is None else model, "instruction": instruction,
        "preference": _preferences(columns["preference"], allow_missing_marker=not model_required),
        "annotator": _optional_text(columns["annotator"]),
        "annotator_protocol": _optional_text(columns["annotator_protocol"]),
        "file": np.zeros(n, dtype=np.int64), "record": np.arange(1, n + 1, dtype=np.int64), "files": (str(path),),
    }  # fmt: skip


def _text(values: Any) -> ObjectArray:
    array = as_objects(values)
    if not set(map(type, array.tolist())) <= _TEXT:
        raise _NeedsRecordWalk
    return array


def _optional_text(values: Any) -> ObjectArray:
    array = as_objects(values)
    if set(map(type, array.tolist())) <= _OPTIONAL_TEXT:
        return array
    return as_objects([v if isinstance(v, str) else None for v in array.tolist()])


def _results_layout_model(path: Path, columns: dict[str, Any]) -> ObjectArray | None:
    """The model of a file in AlpacaEval's results layout, `<model>/<judge>/annotations.json` (alpaca-lc's
    `evaluate` writes the same), named by its folder as AlpacaEval names it: the records' `generator_2` is
    whatever the outputs file said (NullModel's say `example`). Not when the records name their judge otherwise
    or carry an explicit `model` field; None outside the layout."""
    if path.name != "annotations.json" or not path.parent.parent.name:
        return None
    if any(m is not None for m in list(columns["model"])) or set(columns["annotator"]) != {path.parent.name}:
        return None
    return as_objects([path.parent.parent.name] * len(columns["instruction"]))


def _model_column(columns: dict[str, Any], required: bool) -> ObjectArray:
    named = as_objects(columns["model"])
    if all(isinstance(m, str) and m for m in set(named.tolist())):  # a table's column: every row names its model
        return named
    model = named.tolist()
    generator = as_objects(columns["generator_2"]).tolist()
    names = [m or g for m, g in zip(model, generator, strict=True)]
    if (required and not set(map(type, names)) <= _TEXT) or (required and "" in names):
        raise _NeedsRecordWalk
    return as_objects([n if isinstance(n, str) and n else None for n in names])


def _preferences(values: Any, *, allow_missing_marker: bool) -> FloatArray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        pref = values.astype(float)
    else:
        listed = list(values)
        if not set(map(type, listed)) <= _NUMBER:  # a bool, a string, ...
            raise _NeedsRecordWalk
        pref = np.array(listed, dtype=float)
    if allow_missing_marker:
        pref[pref == -1] = np.nan  # AlpacaEval's annotation cache: no judgment
    pref[pref == 0] = TIE  # legacy tie
    with np.errstate(invalid="ignore"):
        if ((pref < 1) | (pref > 2)).any():
            raise _NeedsRecordWalk
    return pref


def _check_record(rec: dict[str, Any], path: Path, i: int, *, model_required: bool) -> None:
    """One record's checks, the first failing one raised as one line naming the file and record."""
    for field in REQUIRED_FIELDS:
        if field not in rec:
            raise InputError(f"missing field '{field}'", path=path, record=i)
    model = rec.get("model") or rec.get("generator_2")
    if model_required and (not isinstance(model, str) or not model):
        raise InputError("missing field 'generator_2' (or 'model'): which model was judged", path=path, record=i)
    require_str(rec, "instruction", path, i)
    require_str(rec, "output_1", path, i, allow_empty=True)
    require_str(rec, "output_2", path, i, allow_empty=True)
    if not (rec["preference"] == -1 and not model_required):
        parse_preference(rec["preference"], path, i)


def parse_preference(value: Any, path: Path | str, i: int) -> float:
    """Normalise one preference: a float in [1, 2], legacy 0 as the tie 1.5, null (failed) as NaN."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"preference must be a number or null, got {value!r}", path=path, record=i)
    pref = float(value)
    if math.isnan(pref):
        return math.nan
    if pref == 0.0:
        return TIE
    if not 1.0 <= pref <= 2.0:
        raise InputError(
            f"preference {value} outside [1, 2] (2 = model better, 1 = baseline, 0 = legacy tie, null = failed)",
            path=path,
            record=i,
        )
    return pref
