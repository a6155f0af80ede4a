"""Judged rows: files read together, screened in batches, and kept per file in the parse cache."""

from __future__ import annotations

import gc
import json
import re
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpaca_lc.errors import InputError
from alpaca_lc.records.annotations import read_file
from alpaca_lc.scoring import judged, screening
from alpaca_lc.scoring.judged import JudgedRows, load_judged

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


def test_a_parquet_table_gives_the_rows_its_records_give(
    synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table's outputs are screened from its arrow columns (outputs never made Python strings): the rows are
    those of the same records in an annotations.json."""
    monkeypatch.setenv(judged.ENV_PARSED_CACHE, "off")
    records = [r for path in _files(synthetic) for r in json.loads(path.read_text())]
    records[3]["output_2"] = records[3]["output_1"]  # a judgment of the baseline against itself
    table = tmp_path / "table.parquet"
    pd.DataFrame(records).to_parquet(table)
    from_json = load_judged([synthetic.write("all/annotations.json", records)])
    from_parquet = load_judged([table])
    assert from_parquet.identical.sum() == 1
    _assert_same_rows(replace(from_parquet, files=from_json.files), from_json)


@pytest.mark.parametrize(
    ("column", "value", "record", "message"),
    [
        ("output_2", None, 42, "field 'output_2' must be a non-empty string"),
        ("output_1", 7, 1, "field 'output_1' must be a non-empty string"),  # a column of numbers
        ("instruction", "  ", 42, "field 'instruction' must be a non-empty string"),
        ("preference", 2.5, 42, "preference 2.5 outside [1, 2]"),
        ("generator_2", None, 42, "missing field 'generator_2' (or 'model')"),
    ],
)
def test_a_bad_parquet_record_is_named(
    synthetic: Synthetic,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    column: str,
    value: object,
    record: int,
    message: str,
) -> None:
    monkeypatch.setenv(judged.ENV_PARSED_CACHE, "off")
    frame = pd.DataFrame(synthetic.annotations("m"))
    if record == 1:
        frame[column] = value
    else:
        frame[column] = frame[column].astype(object)
        frame.loc[record - 1, column] = value
    table = tmp_path / "bad.parquet"
    frame.to_parquet(table)
    with pytest.raises(InputError, match=re.escape(f"{table}: record {record}: {message}")):
        load_judged([table])
    assert gc.isenabled()  # paused while reading, back on after a failed read too
