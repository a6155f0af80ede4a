"""`evaluate --benchmark arena-hard-v2.0` against the local server: answers judged in two games a prompt, the row
printed plain and style-controlled, the results folder written, and a second run that calls nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main
from alpaca_lc.testing.openai_server import LocalServer

Cli = Callable[..., Result]
ARENA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arena_hard_v2"
FIXTURE = Path(__file__).resolve().parent / "data" / "arena_hard_v2"


def _evaluate(server: LocalServer, root: Path, *extra: str | Path) -> Result:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local", "ALPACA_LC_CACHE": str(root / "c.sqlite")}
    args = ["evaluate", "--benchmark", "arena-hard-v2.0", *extra, "--eval-set", ARENA / "question.jsonl",
            "--reference", ARENA / "o3-mini-2025-01-31.jsonl", "--category", "hard_prompt", "--allow-partial",
            "--arena-hard-dir", ARENA / "reference", "--output-dir", root / "results", "--no-progress"]  # fmt: skip
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def test_published_answers_are_judged_and_scored_plain_and_style_controlled(tmp_path: Path) -> None:
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    answers = FIXTURE / "answers" / "model-strong.jsonl"  # 200 hard prompts, with the benchmark's style metadata
    with LocalServer() as server:
        first = _evaluate(server, tmp_path, answers)
        calls = server.stats()["successes"]
        again = _evaluate(server, tmp_path, answers)
        calls_again = server.stats()["successes"]
    assert first.exit_code == 0, first.output
    assert calls == 400 and calls_again == calls  # two games a prompt; then everything from the cache
    rows = pd.read_csv(io.StringIO(first.stdout))
    assert list(rows["control"]) == ["none", "length,markdown"] and set(rows["model"]) == {"model-strong"}
    assert (rows["score_ci_low"] < rows["score"]).all() and (rows["score"] < rows["score_ci_high"]).all()
    assert "style coefficients" in first.stderr
    folder = tmp_path / "results" / "model-strong" / "arena-hard-v2.0@gpt-4.1"
    assert (folder / "judgments.jsonl").read_text(encoding="utf-8").count("\n") == 200  # U+2028 inside is no line end
    assert pd.read_csv(folder / "leaderboard.csv").equals(rows)
    assert again.exit_code == 0 and again.stdout == first.stdout


def test_a_model_is_generated_judged_and_scored(tmp_path: Path) -> None:
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    lines = (ARENA / "question.jsonl").read_text(encoding="utf-8").split("\n")[:5]  # five hard prompts
    questions = tmp_path / "question.jsonl"
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env_args = ("--model", "my-sft", "--model", "my-dpo", "--backend", "openai")
    with LocalServer(generation_words=30) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local",
               "ALPACA_LC_CACHE": str(tmp_path / "c.sqlite")}  # fmt: skip
        args = ["evaluate", "--benchmark", "arena-hard-v2.0", *env_args, "--eval-set", questions, "--reference",
                ARENA / "o3-mini-2025-01-31.jsonl", "--arena-hard-dir", ARENA / "reference", "--output-dir",
                tmp_path / "results", "--no-progress"]  # fmt: skip
        done = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)
        calls = server.stats()["successes"]
    assert done.exit_code == 0, done.output
    assert calls == 2 * (5 + 10)  # two models: five answers each, two games an answer
    rows = pd.read_csv(io.StringIO(done.stdout))
    assert list(rows[rows["control"] == "none"]["model"]) == ["my-sft", "my-dpo"]
    if len(rows) == 2:  # offline: the generated answers have no token length, so no style control, and it is said
        assert "no style-controlled score" in done.stderr and "--tiktoken-file" in done.stderr
    for model in ("my-sft", "my-dpo"):
        assert (tmp_path / "results" / model / "arena-hard-v2.0@gpt-4.1" / "judgments.jsonl").exists()
