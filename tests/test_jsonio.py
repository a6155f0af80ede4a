"""Atomic writes: a reader sees the old file or the new one, never a partial one, and nothing is left behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from alpaca_lc.errors import InputError
from alpaca_lc.records.jsonio import read_json_records, write_atomic, write_json


def test_a_written_file_has_the_permissions_of_any_new_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "out" / "annotations.json", [{"a": 1}])
    finally:
        os.umask(old)
    path = tmp_path / "out" / "annotations.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not a temporary file's 0600
    assert path.read_text() == '[\n  {\n    "a": 1\n  }\n]\n'
    assert [p.name for p in path.parent.iterdir()] == ["annotations.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "lb.csv"
    path.write_text("old\n")

    def fail(fh: Any) -> None:
        fh.write("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_atomic(path, fail)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["lb.csv"]


def test_a_file_that_is_not_utf8_is_named_with_the_byte_offset(tmp_path: Path) -> None:
    good = json.dumps([{"instruction": f"q{i}", "output": "a" * 40} for i in range(40)]).encode()
    bad = good[:2031] + b"\xe9" + good[2032:]  # a Latin-1 byte in a UTF-8 file, at offset 2031
    for suffix, raw in ((".json", bad), (".jsonl", b"\n".join(json.dumps(r).encode() for r in json.loads(good))
                                                   .replace(b'"q3"', b'"q\xe93"', 1))):  # fmt: skip
        path = tmp_path / f"f{suffix}"
        path.write_bytes(raw)
        with pytest.raises(InputError) as info:
            read_json_records(path)
        offset = raw.index(b"\xe9")
        assert f"not valid UTF-8 at byte {offset} (line " in str(info.value) and str(path) in str(info.value)
    assert offset != 0


def test_jsonl_lines_split_on_newline_only(tmp_path: Path) -> None:
    """A JSONL string may hold U+2028, U+0085 or a form feed unescaped (ensure_ascii=False writers do): they are
    not line breaks, and Windows line ends are."""
    rows = [{"answer": "one\u2028two\x85three\x0cfour"}, {"answer": "plain"}]
    path = tmp_path / "a.jsonl"
    path.write_bytes("\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode())
    assert read_json_records(path) == rows
