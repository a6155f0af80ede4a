"""Reading and atomically writing the JSON / JSONL record files every stage exchanges (and reading a CSV table).

Reading takes what Python's `json` module writes: `json.dump` of a record holding a float NaN (an unset
`price_per_example`, a failed preference) writes the bare tokens `NaN`, `Infinity` or `-Infinity`, which
AlpacaEval (pandas) reads and strict JSON does not. orjson reads everything else; only a document it refuses
goes through `json` with those tokens allowed, NaN read as null (a missing value; a failed judgment where it is
a preference). Writing stays strict JSON (null).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from alpaca_lc.errors import InputError
from alpaca_lc.records.destinations import describe

if TYPE_CHECKING:
    import pandas as pd


def read_json_records(path: Path) -> list[dict[str, Any]]:
    """Read a JSON list of objects or a JSONL file into a list of dicts.

    Args:
        path: a `.json` file holding a list of objects, or a `.jsonl` file with one object a line.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", path=path) from None
    if not raw.strip():
        raise InputError("empty file", path=path)
    if path.suffix == ".jsonl":
        try:
            return _parse_jsonl(raw.decode("utf-8"), path)
        except UnicodeDecodeError as exc:
            raise InputError(utf8_error(raw, exc), path=path) from None
    try:
        data = loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(_json_error(raw, exc), path=path) from None
    if isinstance(data, dict):
        data = _columns_to_records(data, path)
    if not isinstance(data, list):
        raise InputError("expected a JSON list of records", path=path)
    if not data:
        raise InputError("no records", path=path)
    for i, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            raise InputError("expected a JSON object", path=path, record=i)
    return data


def _parse_jsonl(text: str, path: Path) -> list[dict[str, Any]]:
    records = []
    # JSON Lines are separated by "\n" alone: str.splitlines() would also split inside strings holding
    # U+2028, U+0085 or a form feed, which real answers contain (o3-mini's Arena-Hard answers do).
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"invalid JSON on line {lineno}: {exc.msg}", path=path) from None
        if not isinstance(rec, dict):
            raise InputError(f"line {lineno} is not a JSON object", path=path)
        records.append(rec)
    return records


def _json_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    """What is wrong with a document orjson refused: where its bytes stop being UTF-8 (orjson reports that at
    the document's start), else the JSON error and where it is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return utf8_error(raw, bad)
    return f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"


def utf8_error(raw: bytes, exc: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8: the byte offset, its line, and the bad bytes."""
    line = raw.count(b"\n", 0, exc.start) + 1
    return (f"not valid UTF-8 at byte {exc.start} (line {line}: {raw[exc.start : exc.start + 4]!r}); save the file "
            "as UTF-8")  # fmt: skip


def loads(raw: bytes | str) -> Any:
    """One JSON document, read with orjson (several times faster than json on AlpacaEval's multi-megabyte files),
    and where it refuses, as Python's `json` reads it: `NaN` (read as None), `Infinity` and `-Infinity`.

    Raises:
        orjson.JSONDecodeError: what orjson said, when `json` refuses the document too.
    """
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not _NONFINITE.search(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")):
            raise
        try:
            return json.loads(raw, parse_constant=_constant)
        except (ValueError, RecursionError):
            raise exc from None


_NONFINITE = re.compile(rb"NaN|Infinity")


def _constant(token: str) -> float | None:
    return None if token == "NaN" else float(token)


def _columns_to_records(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """Accept pandas' column-oriented JSON (`{"col": {"0": v, ...}}`), which some AlpacaEval files use."""
    columns = {k: v for k, v in data.items() if isinstance(v, dict)}
    if not columns or len(columns) != len(data):
        raise InputError("expected a JSON list of records", path=path)
    keys = list(next(iter(columns.values())).keys())
    return [{col: values.get(k) for col, values in columns.items()} for k in keys]


def write_atomic(path: Path, write: Callable[[Any], None], *, mode: str = "w", durable: bool = True) -> None:
    """Write a file through a temporary sibling and rename it, so readers never see a partial file.

    A failure to write is one InputError naming the file (exit 2), and leaves no temporary file behind.

    Args:
        path: the destination.
        write: called with the open temporary file object.
        mode: "w" for text, "wb" for bytes.
        durable: flush the file to disk before the rename (off for what can be recomputed, e.g. a cache).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_sibling(path)
    except OSError as exc:
        raise InputError(f"cannot write: {describe(exc)}", path=path) from None
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile: one line, nothing half-written
        tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write: {describe(exc)}", path=path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_sibling(path: Path) -> tuple[int, Path]:
    """A new file with a random name beside `path`, opened for writing, with the permissions the umask gives a
    new file (not tempfile's 0600, and without its 7 ms of imports)."""
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:  # pragma: no cover (48 random bits)
            continue


def write_json(path: Path, data: Any) -> None:
    """Atomically write `data` as indented UTF-8 JSON (AlpacaEval's own layout), with orjson: ten times faster
    than json.dump on an annotations file. NaN is written as null."""
    payload = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
    write_atomic(path, lambda fh: fh.write(payload), mode="wb")


def write_text(path: Path, text: str) -> None:
    """Atomically write a text file."""
    write_atomic(path, lambda fh: fh.write(text))


def append_text(path: Path, text: str) -> None:
    """Append to a text file (a CI step summary collects several steps'); a failure is one InputError line."""
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write: {describe(exc)}", path=path) from None


def read_json_document(path: Path, what: str, missing: str = "no such file") -> Any:
    """One JSON document (a calibration, a subset file); a missing or unreadable file is one InputError.

    Args:
        path: the file.
        what: what it should be, for the message ("a calibration file").
        missing: the message when it does not exist.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(missing, path=path) from None
    except OSError as exc:
        raise InputError(f"not {what}: {exc}", path=path) from None
    try:
        return loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not {what}: {_json_error(raw, exc)}", path=path) from None


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV table (pandas, imported here); a missing or unreadable file is one InputError naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read CSV: {exc}", path=path) from None
