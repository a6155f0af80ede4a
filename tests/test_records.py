"""Record readers: every annotation format AlpacaEval users already have."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from alpaca_lc.errors import InputError
from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.outputs import read_model_outputs

from .conftest import Synthetic


def test_reads_new_and_old_metadata_schemas(synthetic: Synthetic) -> None:
    old = synthetic.annotations("old-model", n=5)
    new = [
        {k: v for k, v in r.items() if k not in ("price_per_example", "time_per_example", "raw_completion")}
        | {"preference_price_per_example": 0.01, "preference_time_per_example": 0.3, "preference_raw_completion": "m"}
        for r in synthetic.annotations("new-model", n=5)
    ]
    df = read_annotations([synthetic.write("old.json", old), synthetic.write("new.json", new)]).to_pandas()
    assert sorted(df.model.unique()) == ["new-model", "old-model"]
    assert len(df) == 10


def test_folders_are_searched_recursively(synthetic: Synthetic) -> None:
    for model in ("a", "b"):
        synthetic.write(f"results/{model}/test_judge/annotations.json", synthetic.annotations(model, n=4))
    df = read_annotations([synthetic.root / "results"]).to_pandas()
    assert sorted(df.model.unique()) == ["a", "b"]


def test_parquet_and_jsonl_with_model_column(synthetic: Synthetic, tmp_path: Path) -> None:
    records = synthetic.annotations("gen2-name", n=6)
    table = pd.DataFrame(records).assign(model="table-model")
    table.to_parquet(tmp_path / "a.parquet")
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    assert set(read_annotations([tmp_path / "a.parquet"]).to_pandas().model) == {"table-model"}
    assert set(read_annotations([tmp_path / "a.jsonl"]).to_pandas().model) == {"gen2-name"}


def test_preference_encoding(synthetic: Synthetic) -> None:
    records = synthetic.annotations("m", n=4)
    for rec, pref in zip(records, [0, None, 2, 1.5], strict=True):
        rec["preference"] = pref
    df = read_annotations([synthetic.write("a.json", records)]).to_pandas()
    assert df.preference.iloc[0] == 1.5  # legacy 0 is a tie
    assert pd.isna(df.preference.iloc[1])  # null is a failed judgment, kept and counted
    assert list(df.preference.iloc[2:]) == [2.0, 1.5]


@pytest.mark.parametrize("pref", [2.5, -1, 0.5, "2", True])
def test_bad_preferences_name_file_and_record(synthetic: Synthetic, pref: object) -> None:
    records = synthetic.annotations("m", n=3)
    records[1]["preference"] = pref
    path = synthetic.write("a.json", records)
    with pytest.raises(InputError) as err:
        read_annotations([path]).to_pandas()
    assert str(path) in str(err.value) and "record 2" in str(err.value)


def test_model_outputs(synthetic: Synthetic) -> None:
    path = synthetic.write("outputs.json", [{"instruction": "q", "output": "a", "generator": "g"}])
    assert read_model_outputs(path)[0].generator == "g"
    assert read_model_outputs(path, name="other")[0].generator == "other"
    dup = synthetic.write("dup.json", [{"instruction": "q", "output": "a"}, {"instruction": "q", "output": "b"}])
    with pytest.raises(InputError, match="record 2: duplicate instruction"):
        read_model_outputs(dup)
