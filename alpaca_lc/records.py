"""Record types and readers for what AlpacaEval users already have.

Annotations come as `annotations.json` (old or new metadata schema), folders of them
(`results/<model>/<judge>/annotations.json`, searched recursively), or parquet/JSONL tables with the same
columns plus `model`. They are read into one DataFrame with the columns of `ANNOTATION_COLUMNS`; the
preference is normalised to a float in [1, 2] with NaN for a failed judgment (legacy 0 becomes the tie 1.5).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpaca_lc.annotation.official import known_protocols
from alpaca_lc.errors import InputError
from alpaca_lc.jsonio import read_json_records

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


def instruction_key(instruction: str) -> str:
    """Stable key of an instruction text: what calibrations and caches are keyed by."""
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:16]


def instruction_keys(instructions: pd.Series) -> pd.Series:
    """`instruction_key` of every entry, hashing each distinct text once."""
    codes, uniques = pd.factorize(instructions)
    hashed = np.array([instruction_key(s) for s in uniques], dtype=object)
    return pd.Series(hashed[codes], index=instructions.index, dtype=object)


@dataclass(frozen=True)
class ModelOutput:
    """One line of `model_outputs.json`."""

    instruction: str
    output: str
    generator: str
    dataset: str | None = None


def read_model_outputs(path: Path, *, name: str | None = None) -> list[ModelOutput]:
    """Read `model_outputs.json` (or JSONL): `instruction`, `output`, optional `generator`, `dataset`.

    Args:
        path: the file.
        name: the generator name to use; defaults to the records' `generator`, else the file's stem.
    """
    records = read_json_records(path)
    outputs: list[ModelOutput] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records, start=1):
        instruction = _require_str(rec, "instruction", path, i)
        output = rec.get("output")
        if not isinstance(output, str):
            raise InputError("missing field 'output' (a string)", path=path, record=i)
        if instruction in seen:
            raise InputError(f"duplicate instruction (first at record {seen[instruction]})", path=path, record=i)
        seen[instruction] = i
        generator = name or rec.get("generator") or path.stem
        dataset = rec.get("dataset")
        outputs.append(ModelOutput(instruction, output, str(generator), dataset if isinstance(dataset, str) else None))
    return outputs


def read_annotations(paths: Sequence[Path]) -> pd.DataFrame:
    """Read annotations from files and folders into one validated table (columns `ANNOTATION_COLUMNS`).

    Args:
        paths: `annotations.json` files, folders searched recursively for them, `.jsonl` or `.parquet` tables.
    """
    frames = [_read_annotation_file(p) for p in expand_annotation_paths(paths)]
    df = pd.concat(frames, ignore_index=True)
    _check_duplicates(df)
    # Files made by AlpacaEval name the evaluator only; its name fixes its protocol (AlpacaEval 0.6.6's).
    known = df["annotator"].map(known_protocols())
    df["annotator_protocol"] = df["annotator_protocol"].where(df["annotator_protocol"].notna(), known)
    return df


def expand_annotation_paths(paths: Iterable[Path]) -> list[Path]:
    """Replace each folder by the `annotations.json` files below it, in sorted order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("annotations.json"))
            if not found:
                raise InputError("no annotations.json found below this folder", path=path)
            files.extend(found)
        elif not path.exists():
            raise InputError("no such file", path=path)
        else:
            files.append(path)
    return files


def _read_annotation_file(path: Path) -> pd.DataFrame:
    records = _read_parquet_records(path) if path.suffix == ".parquet" else read_json_records(path)
    rows = [_annotation_row(rec, path, i) for i, rec in enumerate(records, start=1)]
    return pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)


def read_pair_judgments(paths: Sequence[Path]) -> pd.DataFrame:
    """Judgments to import into the cache: AlpacaEval annotation files, or AlpacaEval's own annotation cache
    (`annotations_seed0_configs.json`, which names no model and marks a missing judgment with -1).

    Returns the valid judgments only: columns instruction, output_1, output_2, preference, annotator,
    raw_completion, source, record.

    Args:
        paths: files, or folders searched recursively for `annotations.json`.
    """
    rows = []
    for path in expand_annotation_paths(paths):
        records = _read_parquet_records(path) if path.suffix == ".parquet" else read_json_records(path)
        for i, rec in enumerate(records, start=1):
            for field in REQUIRED_FIELDS:
                if field not in rec:
                    raise InputError(f"missing field '{field}'", path=path, record=i)
            if rec["preference"] == -1:  # AlpacaEval's cache: no judgment
                continue
            pref = parse_preference(rec["preference"], path, i)
            if math.isnan(pref):
                continue
            raw = rec.get("raw_completion", rec.get("preference_raw_completion"))
            annotator = rec.get("annotator")
            rows.append((
                _require_str(rec, "instruction", path, i), _require_str(rec, "output_1", path, i, allow_empty=True),
                _require_str(rec, "output_2", path, i, allow_empty=True), pref,
                annotator if isinstance(annotator, str) else None,
                raw if raw is None or isinstance(raw, str) else json.dumps(raw), str(path), i,
            ))  # fmt: skip
    columns = ["instruction", "output_1", "output_2", "preference", "annotator", "raw_completion", "source", "record"]
    return pd.DataFrame(rows, columns=columns)


def _read_parquet_records(path: Path) -> list[dict[str, Any]]:
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InputError(f"cannot read parquet: {exc}", path=path) from None
    if table.empty:
        raise InputError("empty file", path=path)
    optional = ("model", "generator_2", "annotator", "annotator_protocol", "raw_completion",
                "preference_raw_completion")  # fmt: skip
    keep = [c for c in (*optional, *REQUIRED_FIELDS) if c in table.columns]
    return table[keep].to_dict("records")


def _annotation_row(rec: dict[str, Any], path: Path, i: int) -> tuple[Any, ...]:
    for field in REQUIRED_FIELDS:
        if field not in rec:
            raise InputError(f"missing field '{field}'", path=path, record=i)
    model = rec.get("model") or rec.get("generator_2")
    if not isinstance(model, str) or not model:
        raise InputError("missing field 'generator_2' (or 'model'): which model was judged", path=path, record=i)
    instruction = _require_str(rec, "instruction", path, i)
    out1 = _require_str(rec, "output_1", path, i, allow_empty=True)
    out2 = _require_str(rec, "output_2", path, i, allow_empty=True)
    pref = parse_preference(rec["preference"], path, i)
    raw = rec.get("raw_completion", rec.get("preference_raw_completion"))
    if raw is not None and not isinstance(raw, str):
        raw = json.dumps(raw)
    annotator = rec.get("annotator")
    protocol = rec.get("annotator_protocol")
    return (model, instruction, out1, out2, pref, str(path), i, annotator if isinstance(annotator, str) else None,
            protocol if isinstance(protocol, str) else None, raw)  # fmt: skip


def _require_str(rec: dict[str, Any], field: str, path: Path, i: int, *, allow_empty: bool = False) -> str:
    value = rec.get(field)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InputError(f"field '{field}' must be a non-empty string", path=path, record=i)
    return value


def parse_preference(value: Any, path: Path, i: int) -> float:
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


def _check_duplicates(df: pd.DataFrame) -> None:
    dup = df.duplicated(["model", "instruction"], keep="first")
    if dup.any():
        row = df[dup].iloc[0]
        first = df[(df.model == row.model) & (df.instruction == row.instruction)].iloc[0]
        raise InputError(
            f"duplicate instruction for model '{row.model}' (first at {first.source} record {first.record})",
            path=row.source,
            record=int(row.record),
        )
