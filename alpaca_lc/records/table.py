"""What every record format shares: instruction keys, the row table of judgments, and field checks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from alpaca_lc.errors import InputError

ObjectArray = npt.NDArray[np.object_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def instruction_key(instruction: str) -> str:
    """Stable key of an instruction text: what calibrations and caches are keyed by."""
    return hashlib.sha256(instruction.encode("utf-8")).hexdigest()[:16]


def instruction_keys(instructions: Iterable[str]) -> npt.NDArray[np.str_]:
    """`instruction_key` of every entry, hashing each distinct text once."""
    values = list(instructions)
    hashed = {text: instruction_key(text) for text in dict.fromkeys(values)}
    return np.array([hashed[text] for text in values], dtype="<U16")


@dataclass(frozen=True)
class RowTable:
    """Columns of one length, a row per judgment, and where each row came from (`file` indexes `files`, `record`
    is the 1-based record number in its file). Subclasses add columns (numpy arrays); fields named in `SHARED`
    are not per row."""

    SHARED: ClassVar[tuple[str, ...]] = ("files",)
    files: tuple[str, ...]
    file: IntArray
    record: IntArray
    model: ObjectArray
    annotator: ObjectArray
    annotator_protocol: ObjectArray

    def __len__(self) -> int:
        return len(self.record)

    @property
    def source(self) -> ObjectArray:
        """The file of each row."""
        return np.asarray(self.files, dtype=object)[self.file]

    def where(self, row: int) -> tuple[str, int]:
        """(file, record number) of a row, for messages."""
        return self.files[int(self.file[row])], int(self.record[row])

    def take(self: _T, idx: npt.ArrayLike) -> _T:
        """These rows (indices or a boolean mask)."""
        return replace(self, **{f.name: getattr(self, f.name)[idx] for f in fields(self) if f.name not in self.SHARED})

    def model_codes(self) -> tuple[list[str], IntArray]:
        """The model names sorted, and each row's model as a position among them (a missing name is "None").
        Through a dict of the few distinct names: sorting a fixed-width copy of every row's name cost a tenth of
        a leaderboard's scoring."""
        models = self.model.tolist()
        distinct = set(models)
        names = sorted({str(m) for m in distinct})
        position = {name: i for i, name in enumerate(names)}
        code = {m: position[str(m)] for m in distinct}
        return names, np.fromiter(map(code.__getitem__, models), dtype=np.int64, count=len(models))

    def groups(self) -> list[tuple[str, IntArray]]:
        """Each model's name and row indices, models sorted by name, rows in reading order."""
        names, codes = self.model_codes()
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        return [(str(n), order[bounds[i] : bounds[i + 1]]) for i, n in enumerate(names)]

    @classmethod
    def concat(cls: type[_T], parts: Sequence[_T]) -> _T:
        """One table from several (their files renumbered)."""
        files: list[str] = []
        offsets = []
        for part in parts:
            offsets.append(len(files))
            files.extend(part.files)
        columns: dict[str, Any] = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in fields(cls) if f.name not in cls.SHARED and f.name != "file"
        }  # fmt: skip
        columns["file"] = np.concatenate([p.file + off for p, off in zip(parts, offsets, strict=True)])
        return cls(**columns, **cls.merged(parts), files=tuple(files))

    @classmethod
    def merged(cls, parts: Sequence[Any]) -> dict[str, Any]:
        """The shared fields other than `files` of a concatenation."""
        return {}


_T = TypeVar("_T", bound=RowTable)


def as_objects(values: Any) -> ObjectArray:
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def require_str(rec: dict[str, Any], field: str, path: Path, i: int, *, allow_empty: bool = False) -> str:
    value = rec.get(field)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise InputError(f"field '{field}' must be a non-empty string", path=path, record=i)
    return value


def check_duplicates(table: RowTable, instruction: npt.NDArray[Any]) -> None:
    """One judgment per (model, instruction): the first repeat is named with where the first one was.

    Args:
        table: the rows.
        instruction: what identifies each row's instruction (its text, or its key).
    """
    _, model_codes = table.model_codes()
    values = instruction.tolist()
    position = {s: i for i, s in enumerate(dict.fromkeys(values))}
    instruction_codes = np.fromiter(map(position.__getitem__, values), dtype=np.int64, count=len(values))
    pair = model_codes * (len(position) + 1) + instruction_codes
    # The usual case, told by a sort: a bare np.unique would import numpy.ma (8 ms) to ask if the array is masked.
    ordered = np.sort(pair)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    _, first = np.unique(pair, return_index=True)
    seen = np.zeros(len(pair), dtype=bool)
    seen[first] = True
    row = int(np.flatnonzero(~seen)[0])
    original = int(first[np.searchsorted(np.unique(pair), pair[row])])
    where, record = table.where(original)
    path, at = table.where(row)
    raise InputError(
        f"duplicate instruction for model '{table.model[row]}' (first at {where} record {record})", path=path, record=at
    )
