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

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from platformdirs import user_cache_dir

from alpaca_lc import __version__
from alpaca_lc.records import (
    Annotations,
    RowTable,
    check_duplicates,
    expand_annotation_paths,
    fill_known_protocols,
    instruction_keys,
    read_file,
)
from alpaca_lc.screening import Flag, imitation_mask, previews, screen_rows, text_hashes

logger = logging.getLogger(__name__)

ENV_PARSED_CACHE = "ALPACA_LC_PARSED_CACHE"
FORMAT = "judged-rows-v2"  # bump whenever JudgedRows.of or a screening figure changes
ObjectArray = npt.NDArray[np.object_]


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
        out1, out2 = annotations.output_1.tolist(), annotations.output_2.tolist()
        n = len(out2)
        hashes = text_hashes(out2)
        return JudgedRows(
            files=annotations.files, file=annotations.file, record=annotations.record, model=annotations.model,
            key=instruction_keys(annotations.instruction.tolist()),
            len_1=np.fromiter(map(len, out1), dtype=np.int64, count=n),
            len_2=np.fromiter(map(len, out2), dtype=np.int64, count=n),
            identical=np.asarray(annotations.output_1 == annotations.output_2, dtype=bool),
            preference=annotations.preference, annotator=annotations.annotator,
            annotator_protocol=annotations.annotator_protocol, text_hash=hashes, imitates=imitation_mask(out2),
            quoted=previews(out2, hashes),
        )  # fmt: skip

    @classmethod
    def merged(cls, parts: Sequence[Any]) -> dict[str, Any]:
        return {"quoted": {k: v for p in parts for k, v in p.quoted.items()}}

    def screen(self, idx: npt.NDArray[np.int64]) -> list[Flag]:
        """Screening flags of these rows (one model's)."""
        return screen_rows(self.text_hash[idx], self.imitates[idx], self.len_2[idx], self.len_1[idx], self.quoted)


def load_judged(paths: Sequence[Path]) -> JudgedRows:
    """The judged rows of annotation files and folders, from the parse cache where it has them.

    Args:
        paths: what `records.read_annotations` takes.
    """
    cache = _cache_dir()
    parts = [_load_file(path, cache) for path in expand_annotation_paths(paths)]
    rows = JudgedRows.concat(parts)
    check_duplicates(rows, rows.key)
    return fill_known_protocols(rows)


def _load_file(path: Path, cache: Path | None) -> JudgedRows:
    entry = None if cache is None else cache / f"{_entry_key(path)}.npz"
    if entry is not None and entry.exists():
        try:
            return _read_entry(entry, str(path))
        except (OSError, ValueError, KeyError) as exc:  # a damaged entry is read again from the file
            logger.debug("parse cache entry %s unusable: %s", entry, exc)
    rows = JudgedRows.of(read_file(path, raw=False))
    if entry is not None:
        _write_entry(entry, rows)
    return rows


def _cache_dir() -> Path | None:
    setting = os.environ.get(ENV_PARSED_CACHE)
    if setting is not None and setting.lower() in ("", "off", "0", "false", "no"):
        return None
    return Path(setting) if setting else Path(user_cache_dir("alpaca-lc")) / "parsed"


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
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, entry)
    except OSError as exc:  # a read-only cache folder only costs speed
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
