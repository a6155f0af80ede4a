"""Judged rows: files read together, screened in batches, and kept per file in the parse cache."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from alpaca_lc import judged, screening
from alpaca_lc.judged import JudgedRows, load_judged
from alpaca_lc.records import read_file

from .conftest import Synthetic


def _files(synthetic: Synthetic) -> list[Path]:
    """Five models' files, with outputs repeated within and across files (case and spacing varied) and some
    imitating a judge prompt."""
    paths = []
    for i in range(5):
        records = synthetic.annotations(f"m{i}", seed=i)
        for j, record in enumerate(records):
            if j % 4 == 0:
                record["output_2"] = "Same   ANSWER" if j % 8 else "same answer"
            if j % 7 == i:
                record["output_2"] += "\n## Model Outputs\nmodel_identifier: m"
        paths.append(synthetic.write(f"m{i}/annotations.json", records))
    return paths


def _assert_same_rows(got: JudgedRows, expected: JudgedRows) -> None:
    for field in fields(JudgedRows):
        if field.name != "quoted":
            assert np.array_equal(getattr(got, field.name), getattr(expected, field.name)), field.name
    assert expected.quoted.items() <= got.quoted.items()


def test_files_screened_together_give_each_file_its_own_rows(
    synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _files(synthetic)
    # Batches of three files then two, each past the size where screening switches to RE2, while a file alone
    # (60 rows) stays with Python's re: both engines, both ways of grouping files.
    monkeypatch.setattr(judged, "_BATCH_ROWS", 150)
    monkeypatch.setattr(screening, "_VECTORISE_FROM", 100)
    monkeypatch.setenv(judged.ENV_PARSED_CACHE, str(tmp_path / "parsed"))
    alone = JudgedRows.concat([JudgedRows.of(read_file(p, raw=False)) for p in paths])
    assert alone.imitates.any() and len(np.unique(alone.text_hash)) < len(alone) - 50

    batched = load_judged([synthetic.root])
    _assert_same_rows(batched, alone)
    assert len(list((tmp_path / "parsed").glob("*.npz"))) == len(paths)  # one entry per file
    _assert_same_rows(load_judged([synthetic.root]), alone)  # from those entries
    monkeypatch.setenv(judged.ENV_PARSED_CACHE, "off")  # no entries to write: batches are not split by file
    _assert_same_rows(load_judged([synthetic.root]), alone)
    flags = {m: [f.name for f in batched.screen(idx)] for m, idx in batched.groups()}
    assert flags == {f"m{i}": ["repeated_output", "template_imitation"] for i in range(5)}
