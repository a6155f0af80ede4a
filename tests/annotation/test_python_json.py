"""Files written by Python's `json.dump`: the bare tokens NaN, Infinity and -Infinity read as `json` reads them,
NaN as a missing value (issue 18). A row from such a file equals the row from the same file written with null."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import Synthetic, zero_calibration
from .conftest import Workspace, write_workspace

RunCli = Callable[..., Result]


def _with_nan(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unset prices and a few failed preferences, as NaN (what pandas and numpy leave in a record)."""
    out = [dict(r, price_per_example=math.nan) for r in records]
    for i in (3, 17, 40):
        out[i]["preference"] = math.nan
    return out


def _as_null(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in records]


def test_python_json_reads_like_python(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"x": math.nan, "y": math.inf, "z": -math.inf, "w": "NaN is text here"}]))
    assert "NaN" in path.read_text()  # what json.dump writes: not strict JSON
    assert read_json_records(path) == [{"x": None, "y": math.inf, "z": -math.inf, "w": "NaN is text here"}]
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps({"x": math.nan}) + "\n" + json.dumps({"x": 1}) + "\n")
    assert read_json_records(lines) == [{"x": None}, {"x": 1}]


@pytest.mark.parametrize("broken", ['[{"a": NaN}, {"b": 1', '[{"a": NaN}, {"b": Nan}]', '[{"a": 1}, {"b": 2'])
def test_a_broken_file_is_still_one_line_naming_file_and_position(
    run_cli: RunCli, synthetic: Synthetic, broken: str
) -> None:
    path = synthetic.write("broken.json", [])
    path.write_text(broken)
    result = run_cli("leaderboard", path, "--calibration", synthetic.calibration)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "invalid JSON at line 1 column" in errors[0], errors


def test_leaderboard_row_equals_the_null_files(run_cli: RunCli, synthetic: Synthetic) -> None:
    records = _with_nan(synthetic.annotations("m", 0.3))
    nan = synthetic.write("nan/annotations.json", records)
    null = synthetic.write("null/annotations.json", _as_null(records))
    assert "NaN" in nan.read_text() and "NaN" not in null.read_text()
    rows = [json.loads(run_cli("leaderboard", p, "--calibration", synthetic.calibration, "--format", "json",
                               "--seed", "1").stdout) for p in (nan, null)]  # fmt: skip
    assert rows[0] == rows[1] and rows[0][0]["n_total"] == 57  # 60, less three failed judgments


def test_cache_import_of_python_json(cli: Callable[..., Result], tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=30)
    eval_set = json.loads(ws.eval_set.read_text())
    outputs = json.loads(ws.outputs.read_text())
    records = [{"instruction": e["instruction"], "output_1": e["output"], "output_2": o["output"],
                "generator_1": "baseline", "generator_2": "test-model", "annotator": "some_judge",
                "preference": 1.0 + (i % 10) / 10, "price_per_example": math.nan}
               for i, (e, o) in enumerate(zip(eval_set, outputs, strict=True))]  # fmt: skip
    records[5]["preference"] = math.nan  # a failed judgment: not imported
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(records))
    result = cli("cache", "import", path, env=ws.env(None))
    assert result.exit_code == 0, result.output
    assert "imported 29 new judgments" in result.stdout


def _evaluate(cli: Callable[..., Result], ws: Workspace, outputs: Path, server: LocalServer, out: Path) -> Any:
    calibration = zero_calibration(ws.eval_set, ws.root / "calibration.json")
    result = cli("evaluate", outputs, "--calibration", calibration, "--output-dir", out, "--bootstrap", "100",
                 "--no-progress", env=ws.env(server))  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def test_evaluate_model_outputs_with_nan_metadata(cli: Callable[..., Result], tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=40)
    records = [dict(r, price=math.nan, temperature=math.inf) for r in json.loads(ws.outputs.read_text())]
    nan = tmp_path / "nan_outputs.json"
    nan.write_text(json.dumps(records))
    assert "NaN" in nan.read_text() and "Infinity" in nan.read_text()
    with LocalServer() as server:
        from_nan = _evaluate(cli, ws, nan, server, tmp_path / "a")
        from_null = _evaluate(cli, ws, ws.outputs, server, tmp_path / "b")
    assert from_nan == from_null and "test-model" in from_nan
