"""Judged rows: what scoring and screening need of each judgment, and a cache of them per annotation file.

A leaderboard needs of a judgment only its model, instruction key, the two outputs' lengths and whether they
are identical, the preference, the judge, and two screening figures of the model's output (a hash of its
text without case and whitespace, and whether it imitates a judge prompt). Reading and screening the texts is
most of a leaderboard's time, so these rows are kept per annotation file (`$ALPACA_LC_PARSED_CACHE`, else the
user cache directory), keyed by the file's path, size and modification time: a file read before costs a
millisecond, and re-ranking a growing results folder reads only what is new. Set the variable to `off` to
read everything every time.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from alpaca_lc import __version__
from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import (
    Annotations,
    ParquetTexts,
    expand_annotation_paths,
    fill_known_protocols,
    read_file,
    read_parquet_texts,
)
from alpaca_lc.records.jsonio import write_atomic
from alpaca_lc.records.table import RowTable, check_duplicates, instruction_keys
from alpaca_lc.scoring.screening import Flag, OutputFigures, arrow_output_figures, output_figures, screen_rows
from alpaca_lc.scoring.twoprocess import map_in_two

logger = logging.getLogger(__name__)

ENV_PARSED_CACHE = "ALPACA_LC_PARSED_CACHE"
FORMAT = "judged-rows-v4"  # bump whenever JudgedRows.of or a screening figure changes
ObjectArray = npt.NDArray[np.object_]
_ANNOTATION_FIELDS = ("files", "file", "record", "model", "annotator", "annotator_protocol", "preference",
                      "instruction")  # fmt: skip


@dataclass(frozen=True)
class JudgedRows(RowTable):
    """Per judgment: the figures scoring and screening use (see the module's docstring)."""

    SHARED: ClassVar[tuple[str, ...]] = ("files", "quoted")
    key: npt.NDArray[np.str_]
    len_1: npt.NDArray[np.int64]
    len_2: npt.NDArray[np.int64]
    identical: npt.NDArray[np.bool_]
    preference: npt.NDArray[np.float64]
    text_hash: npt.NDArray[np.uint64]
    imitates: npt.NDArray[np.bool_]
    quoted: dict[int, str]  # the start of each repeated output, by text_hash (what a flag quotes)

    @staticmethod
    def of(annotations: Annotations) -> JudgedRows:
        """The rows of read annotations."""
        figures = output_figures(annotations.output_1.tolist(), annotations.output_2.tolist())
        return JudgedRows._with({f: getattr(annotations, f) for f in _ANNOTATION_FIELDS}, figures)

    @staticmethod
    def of_parquet(texts: ParquetTexts) -> JudgedRows:
        """The rows of a parquet file read by `records.annotations.read_parquet_texts`."""
        return JudgedRows._with(texts.fields, arrow_output_figures(texts.output_1, texts.output_2))

    @staticmethod
    def _with(annotations: dict[str, Any], figures: OutputFigures) -> JudgedRows:
        """Rows from `_ANNOTATION_FIELDS` of annotations and the figures of their outputs."""
        kept = {f: annotations[f] for f in _ANNOTATION_FIELDS if f != "instruction"}
        key = instruction_keys(annotations["instruction"].tolist())
        return JudgedRows(**kept, key=key, **figures._asdict())

    def per_file(self) -> list[JudgedRows]:
        """These rows split by file, each part on its own (what the parse cache keeps per file)."""
        bounds = np.searchsorted(self.file, np.arange(len(self.files) + 1))  # a concatenation: files in order
        quoted = np.fromiter(self.quoted, dtype=np.uint64, count=len(self.quoted))
        parts = []
        for i, source in enumerate(self.files):
            part = self.take(np.arange(bounds[i], bounds[i + 1]))
            present = set(part.text_hash[np.isin(part.text_hash, quoted)].tolist())
            parts.append(replace(part, files=(source,), file=np.zeros(len(part), dtype=np.int64),
                                 quoted={h: q for h, q in self.quoted.items() if h in present}))  # fmt: skip
        return parts

    @classmethod
    def merged(cls, parts: Sequence[Any]) -> dict[str, Any]:
        return {"quoted": {k: v for p in parts for k, v in p.quoted.items()}}

    def screen(self, idx: npt.NDArray[np.int64]) -> list[Flag]:
        """Screening flags of these rows (one model's)."""
        return screen_rows(self.text_hash[idx], self.imitates[idx], self.len_2[idx], self.len_1[idx], self.quoted)


def only_judge(rows: JudgedRows, judge: str | None) -> JudgedRows:
    """The rows of one judge (by its name, as the annotations' `annotator` says; None keeps every row); a judge
    with no row is one line naming the judges there are."""
    if judge is None:
        return rows
    mask = rows.annotator == judge
    if not mask.any():
        present = sorted({str(j) for j in rows.annotator.tolist()})
        raise UsageError(f"no annotations of judge {judge!r} here (judges found: {', '.join(present)})")
    return rows.take(mask)


def load_judged(paths: Sequence[Path]) -> JudgedRows:
    """The judged rows of annotation files and folders, from the parse cache where it has them.

    Files not in the cache are read, then screened together in batches of about `_BATCH_ROWS` rows: one
    vectorised pass over many files' texts instead of one per file. Many of them are read on two cores
    (`twoprocess`).

    Args:
        paths: what `records.annotations.read_annotations` takes.
    """
    with _gc_paused():
        return _load(paths)


def _load(paths: Sequence[Path]) -> JudgedRows:
    cache = _cache_dir()
    files = expand_annotation_paths(paths)
    entries = [None if cache is None else cache / f"{_entry_key(path)}.npz" for path in files]
    parts: list[JudgedRows | None] = [_cached(entry, str(path)) for path, entry in zip(files, entries, strict=True)]
    missing = [(path, entry) for path, entry, part in zip(files, entries, parts, strict=True) if part is None]
    # A file's size is its cost: a parquet byte (compressed text, screened from arrow) costs about a JSON byte.
    costs = [float(path.stat().st_size) for path, _ in missing]
    fresh = map_in_two(missing, costs, _judge_files)
    if cache is None:  # every file was read, in order: the batches are the table
        parts = list(fresh)
    else:  # one part per file read, in order, in the gaps the cache left
        it = iter(fresh)
        parts = [next(it) if part is None else part for part in parts]
    rows = JudgedRows.concat([p for p in parts if p is not None])
    check_duplicates(rows, rows.key)
    return fill_known_protocols(rows)


def _judge_files(files: Sequence[tuple[Path, Path | None]]) -> list[JudgedRows]:
    """The rows of files (with their cache entries, written here): one part per file when there are entries to
    write, else one per batch."""
    batches = _Batches()
    for path, entry in files:
        batches.add(path, entry)
    batches.flush()
    return batches.done


class _Batches:
    """Files read one by one and screened together: JSON files in batches of about `_BATCH_ROWS` rows, a
    parquet table on its own, from its arrow columns."""

    def __init__(self) -> None:
        self.done: list[JudgedRows] = []
        self.pending: list[tuple[Path | None, Annotations]] = []

    def add(self, path: Path, entry: Path | None) -> None:
        texts = read_parquet_texts(path) if path.suffix == ".parquet" else None
        if texts is None:
            self.pending.append((entry, read_file(path, raw=False)))
            if sum(len(a) for _, a in self.pending) >= _BATCH_ROWS:
                self.flush()
            return
        self.flush()
        self.done.append(rows := JudgedRows.of_parquet(texts))
        if entry is not None:
            _write_entry(entry, rows)

    def flush(self) -> None:
        if not self.pending:
            return
        fresh = JudgedRows.of(Annotations.concat([a for _, a in self.pending]))
        if all(entry is None for entry, _ in self.pending):
            self.done.append(fresh)
        else:
            for (entry, _), rows in zip(self.pending, fresh.per_file(), strict=True):
                self.done.append(rows)
                if entry is not None:
                    _write_entry(entry, rows)
        self.pending.clear()


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while reading: parsed records hold no cycles, yet their millions of new
    objects would trigger collections that walk every live object (a tenth of JSON decoding's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_BATCH_ROWS = 20_000  # bounds the texts held at once (~40 MB of outputs) while keeping passes few


def _cached(entry: Path | None, source: str) -> JudgedRows | None:
    if entry is None or not entry.exists():
        return None
    try:
        return _read_entry(entry, source)
    except (OSError, ValueError, KeyError) as exc:  # a damaged entry is read again from the file
        logger.debug("parse cache entry %s unusable: %s", entry, exc)
        return None


def _cache_dir() -> Path | None:
    setting = os.environ.get(ENV_PARSED_CACHE)
    if setting is not None and setting.lower() in ("", "off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting)
    from platformdirs import user_cache_dir  # here: 7 ms of imports (tempfile among them) a cache-off run skips

    return Path(user_cache_dir("alpaca-lc")) / "parsed"


def _entry_key(path: Path) -> str:
    stat = path.stat()
    identity = f"{FORMAT}:{__version__}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


_TEXT_COLUMNS = ("model", "annotator", "annotator_protocol")  # few distinct values: stored as codes


def _write_entry(entry: Path, rows: JudgedRows) -> None:
    arrays: dict[str, Any] = {}
    names: dict[str, list[str | None]] = {}
    for column in _TEXT_COLUMNS:
        values = getattr(rows, column).tolist()
        distinct = list(dict.fromkeys(values))
        position = {v: i for i, v in enumerate(distinct)}
        arrays[column] = np.fromiter((position[v] for v in values), dtype=np.int32, count=len(values))
        names[column] = distinct
    for f in fields(rows):
        if f.name not in (*_TEXT_COLUMNS, *JudgedRows.SHARED, "file"):
            arrays[f.name] = getattr(rows, f.name)
    arrays["meta"] = np.array(json.dumps({"names": names, "quoted": {str(k): v for k, v in rows.quoted.items()}}))
    try:
        write_atomic(entry, lambda fh: np.savez(fh, **arrays), mode="wb", durable=False)
    except InputError as exc:  # a read-only cache folder only costs speed
        logger.debug("parse cache not written (%s)", exc)


def _read_entry(entry: Path, source: str) -> JudgedRows:
    with np.load(entry, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        columns: dict[str, Any] = {}
        for f in fields(JudgedRows):
            if f.name in _TEXT_COLUMNS:
                distinct = np.empty(len(meta["names"][f.name]), dtype=object)
                distinct[:] = meta["names"][f.name]
                columns[f.name] = distinct[data[f.name]]
            elif f.name not in (*JudgedRows.SHARED, "file"):
                columns[f.name] = data[f.name]
    n = len(columns["record"])
    return JudgedRows(**columns, file=np.zeros(n, dtype=np.int64), files=(source,),
                      quoted={int(k): v for k, v in meta["quoted"].items()})  # fmt: skip
