"""`leaderboard --benchmark arena-hard-v2.0`: the benchmark's judgment files in, its score per model out."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

RunCli = Callable[..., Result]
FIXTURE = Path(__file__).resolve().parent / "data" / "arena_hard_v2"
BASELINE_ANSWERS = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "arena_hard_v2" / "o3-mini-2025-01-31.jsonl"
)
REFERENCE = json.loads((FIXTURE / "reference_figures.json").read_text())


def _board(result: Result) -> pd.DataFrame:
    assert result.exit_code == 0, result.output
    return pd.read_csv(io.StringIO(result.stdout)).set_index("model")


def test_plain_scores_are_the_reference_means_in_percent(run_cli: RunCli) -> None:
    board = _board(run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", FIXTURE / "judgments"))
    assert {"score", "score_ci_low", "score_ci_high"} <= set(board.columns)
    for model, mean in REFERENCE["mean"].items():
        assert board.loc[model, "score"] == pytest.approx(100 * mean, abs=0.005)
        assert board.loc[model, "score_ci_low"] < board.loc[model, "score"] < board.loc[model, "score_ci_high"]
    assert (board["failed_prompts"] > 0).all()
    assert "both games dropped" in "".join(run_cli("leaderboard", "--benchmark", "arena-hard-v2.0",
                                                   FIXTURE / "judgments").stderr)  # fmt: skip


def test_style_control_rows_and_coefficients(run_cli: RunCli) -> None:
    if not BASELINE_ANSWERS.exists():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {BASELINE_ANSWERS.parent}")
    result = run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", FIXTURE / "judgments", "--answers",
                     FIXTURE / "answers", "--answers", BASELINE_ANSWERS, "--control", "length,markdown")  # fmt: skip
    board = _board(result)
    for model, rate in REFERENCE["length,markdown.full"].items():
        if model in board.index:
            assert board.loc[model, "score"] == pytest.approx(100 * rate, abs=0.1)
    assert "style coefficients" in result.stderr and "token_len +0.6" in result.stderr


def test_style_control_without_the_baselines_answers_names_it(run_cli: RunCli) -> None:
    result = run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", FIXTURE / "judgments", "--answers",
                     FIXTURE / "answers", "--control", "length")  # fmt: skip
    assert result.exit_code == 2
    assert "no answer file with style metadata for 'o3-mini-2025-01-31'" in result.stderr


def test_a_prompt_judged_twice_names_the_file_and_record(run_cli: RunCli, tmp_path: Path) -> None:
    lines = (FIXTURE / "judgments" / "model-weak.jsonl").read_text().splitlines(keepends=True)
    twice = tmp_path / "twice.jsonl"
    twice.write_text("".join(lines[:3] + lines[:1]))
    result = run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", twice)
    assert result.exit_code == 2
    assert f"{twice}: record 4: 'model-weak' is judged twice" in result.stderr


def test_several_judges_are_refused(run_cli: RunCli, tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (FIXTURE / "judgments" / "model-weak.jsonl").read_text().splitlines()[:4]]
    rows[3]["judge"] = "gemini-2.5"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", mixed)
    assert result.exit_code == 2
    assert "several judges (gemini-2.5, gpt-4.1)" in result.stderr


def test_arena_options_need_the_benchmark(run_cli: RunCli) -> None:
    result = run_cli("leaderboard", FIXTURE / "judgments", "--control", "length")
    assert result.exit_code == 2
    assert "add --benchmark arena-hard-v2.0" in result.output


def test_the_html_report_holds_plain_and_style_controlled_scores(run_cli: RunCli, tmp_path: Path) -> None:
    if not BASELINE_ANSWERS.exists():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {BASELINE_ANSWERS.parent}")
    result = run_cli("report", "--benchmark", "arena-hard-v2.0", FIXTURE / "judgments", "--answers",
                     FIXTURE / "answers", "--answers", BASELINE_ANSWERS, "--control", "length,markdown", "-o",
                     tmp_path / "site")  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (tmp_path / "site" / "index.html").read_text()
    assert "Style-controlled [interval]" in page and "model-verbose" in page and "hard_prompt against o3-mini" in page
    board = pd.read_csv(tmp_path / "site" / "leaderboard.csv").set_index("model")
    for model, mean in REFERENCE["mean"].items():
        assert board.loc[model, "score"] == pytest.approx(100 * mean, abs=1e-4)
    for model, rate in REFERENCE["length,markdown.full"].items():
        if model in board.index:
            assert board.loc[model, "styled_score"] == pytest.approx(100 * rate, abs=0.1)
    assert (tmp_path / "site" / "arena_scores.png").stat().st_size > 10_000


def test_screening_flags_partial_rows_and_rows_resting_on_few_games(run_cli: RunCli, tmp_path: Path) -> None:
    folder = tmp_path / "judgments"
    folder.mkdir()
    for path in (FIXTURE / "judgments").glob("*.jsonl"):
        lines = path.read_text().splitlines(keepends=True)
        (folder / path.name).write_text("".join(lines[:150] if path.stem == "model-weak" else lines))
    board = _board(run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", folder))
    assert board.loc["model-weak", "flags"].startswith("partial: judged on 150 of the 200 prompts")
    assert board.loc["model-strong", "flags"].startswith("failed_games: 31 of 200 prompts")
