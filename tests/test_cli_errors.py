"""Bad input: one clear line naming the file and record, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.records.calibration import Calibration, write_calibration
from alpaca_lc.records.table import instruction_key

from .conftest import Synthetic

RunCli = Callable[..., Result]


def assert_clean_failure(result: Result, out: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert not out.exists()


def leaderboard(run_cli: RunCli, synthetic: Synthetic, path: Path, out: Path, *extra: str | Path) -> Result:
    return run_cli("leaderboard", path, "--calibration", synthetic.calibration, "-o", out, "--bootstrap", "0", *extra)


def test_valid_input_writes_output(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    out = tmp_path / "lb.csv"
    result = leaderboard(run_cli, synthetic, synthetic.write("a.json", synthetic.annotations("m")), out)
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("model,win_rate,")


def test_missing_file(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    out = tmp_path / "lb.csv"
    assert_clean_failure(leaderboard(run_cli, synthetic, tmp_path / "nope.json", out), out, "nope.json", "no such file")


def test_invalid_json(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"instruction": "a",', encoding="utf-8")
    out = tmp_path / "lb.csv"
    assert_clean_failure(leaderboard(run_cli, synthetic, path, out), out, "bad.json", "invalid JSON at line 1")


def test_empty_file(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("", encoding="utf-8")
    out = tmp_path / "lb.csv"
    assert_clean_failure(leaderboard(run_cli, synthetic, path, out), out, "empty.json", "empty file")


@pytest.mark.parametrize("field", ["instruction", "output_2", "preference"])
def test_missing_field(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path, field: str) -> None:
    records = synthetic.annotations("m")
    del records[4][field]
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", records)
    assert_clean_failure(leaderboard(run_cli, synthetic, path, out), out, "a.json", "record 5", field)


@pytest.mark.parametrize("pref", [2.01, -0.5, 3])
def test_preference_out_of_range(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path, pref: float) -> None:
    records = synthetic.annotations("m")
    records[9]["preference"] = pref
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", records)
    assert_clean_failure(leaderboard(run_cli, synthetic, path, out), out, "a.json", "record 10", "outside [1, 2]")


def test_duplicate_instruction_for_one_model(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    records = synthetic.annotations("m")
    records.append(dict(records[2]))
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", records)
    result = leaderboard(run_cli, synthetic, path, out)
    assert_clean_failure(result, out, "a.json", f"record {len(records)}", "duplicate instruction", "record 3")


def test_instruction_not_in_eval_set(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    records = synthetic.annotations("m")
    records[7]["instruction"] = "An instruction nobody asked."
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", records)
    assert_clean_failure(leaderboard(run_cli, synthetic, path, out), out, "a.json", "record 8", "not in the eval set")
    # The same check against an explicit eval-set file.
    result = leaderboard(run_cli, synthetic, path, out, "--eval-set", synthetic.eval_set)
    assert_clean_failure(result, out, "a.json", "record 8", "not in the eval set")


def test_model_with_zero_valid_annotations(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    good = synthetic.annotations("good")
    failed = [r | {"preference": None} for r in synthetic.annotations("all-failed")]
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", good + failed)
    assert_clean_failure(
        leaderboard(run_cli, synthetic, path, out), out, "a.json", "all-failed", "no valid annotations"
    )


def test_calibration_for_another_eval_set(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    other = tmp_path / "other_calibration.json"

    keys = [instruction_key(f"another eval set, question {i}") for i in range(60)]
    write_calibration(other, Calibration.of(dict.fromkeys(keys, 0.0), None, "x"))
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", synthetic.annotations("m"))
    result = run_cli("leaderboard", path, "--calibration", other, "-o", out, "--bootstrap", "0")
    assert_clean_failure(result, out, "other_calibration.json", "another eval set")


def test_not_a_calibration_file(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    out = tmp_path / "lb.csv"
    path = synthetic.write("a.json", synthetic.annotations("m"))
    result = run_cli("leaderboard", path, "--calibration", bogus, "-o", out)
    assert_clean_failure(result, out, "bogus.json", "not a calibration file")


def test_usage_error_exit_code(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    result = run_cli("leaderboard", synthetic.write("a.json", []), "--bootstrap", "-3")
    assert result.exit_code == 2


def test_the_clis_reasoning_efforts_are_the_configs() -> None:
    from typing import get_args

    from alpaca_lc.cli.options import REASONING_EFFORTS
    from alpaca_lc.config import ReasoningEffort

    assert get_args(ReasoningEffort) == REASONING_EFFORTS
