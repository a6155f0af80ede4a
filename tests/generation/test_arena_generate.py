"""`generate --benchmark arena-hard-v2.0`: Arena-Hard-Auto's question.jsonl in, its answer format out (the
answer apart from any thought, the style metadata when tiktoken's encoding can be had), judged by `annotate`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from alpaca_lc.records.arena_hard import read_answers
from alpaca_lc.records.arena_style import markdown_counts
from alpaca_lc.testing.openai_server import LocalServer

Cli = Callable[..., Result]
ARENA = Path(__file__).resolve().parents[3] / "shared" / "data" / "arena_hard_v2"
CATEGORIES = ("hard_prompt", "hard_prompt", "creative_writing", "creative_writing")


def _questions(root: Path) -> Path:
    path = root / "question.jsonl"
    rows = [{"uid": f"q{i}", "category": c, "subcategory": "x", "prompt": f"Prompt {i}: explain topic {i}."}
            for i, c in enumerate(CATEGORIES)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def test_answers_in_the_benchmarks_format_with_thoughts_apart(cli: Cli, tmp_path: Path) -> None:
    questions = _questions(tmp_path)
    with LocalServer(generation_words=20, thinking="inline") as server:
        done = cli("generate", "--benchmark", "arena-hard-v2.0", "--model", "my-sft", "--backend", "openai",
                   "--base-url", server.base_url, "--eval-set", questions, "-o", tmp_path / "answers.jsonl",
                   "--no-progress", env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip
    assert done.exit_code == 0, done.output
    lines = _rows(tmp_path / "answers.jsonl")
    assert [x["uid"] for x in lines] == ["q0", "q1", "q2", "q3"] and {x["model"] for x in lines} == {"my-sft"}
    assert all(x["messages"][0] == {"role": "user", "content": f"Prompt {i}: explain topic {i}."}
               for i, x in enumerate(lines))  # fmt: skip
    answers = [x["messages"][-1]["content"] for x in lines]
    assert all(a["reasoning"] and "<think>" not in a["answer"] for a in answers)
    if "metadata" in lines[0]:  # tiktoken's encoding could be had (online, or in its cache)
        assert all(x["metadata"]["token_len"] > 0 for x in lines)
        assert all({k: x["metadata"][k] for k in ("header_count", "list_count", "bold_count")}
                   == markdown_counts(x["messages"][-1]["content"]["answer"]) for x in lines)  # fmt: skip
    else:
        assert "answers written without style metadata" in done.stderr
    read = read_answers(tmp_path / "answers.jsonl")
    assert read.model == "my-sft" and read.answers["q0"] == answers[0]["answer"]


def test_generated_answers_are_judged(cli: Cli, tmp_path: Path) -> None:
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    questions = _questions(tmp_path)
    with LocalServer(generation_words=20) as server:
        env = {"OPENAI_API_KEY": "sk-local", "OPENAI_BASE_URL": server.base_url,
               "ALPACA_LC_CACHE": str(tmp_path / "cache.sqlite")}  # fmt: skip
        for model, name, out in (("my-sft", "my-sft", "answers.jsonl"),
                                 ("baseline-sft", "o3-mini-2025-01-31", "baseline.jsonl")):  # fmt: skip
            made = cli("generate", "--benchmark", "arena-hard-v2.0", "--model", model, "--backend", "openai",
                       "--eval-set", questions, "-o", tmp_path / out, "--no-progress", "--name", name,
                       env=env)  # fmt: skip
            assert made.exit_code == 0, made.output
        judged = cli("annotate", "--benchmark", "arena-hard-v2.0", tmp_path / "answers.jsonl", "--eval-set",
                     questions, "--reference", tmp_path / "baseline.jsonl", "--category", "hard_prompt",
                     "--arena-hard-dir", ARENA / "reference", "-o", tmp_path / "j.jsonl", "--no-progress",
                     env=env)  # fmt: skip
    assert judged.exit_code == 0, judged.output
    lines = _rows(tmp_path / "j.jsonl")
    assert [x["uid"] for x in lines] == ["q0", "q1"] and all(len(x["games"]) == 2 for x in lines)
    assert {x["baseline"] for x in lines} == {"o3-mini-2025-01-31"} and {x["model"] for x in lines} == {"my-sft"}


def test_one_category_is_generated(cli: Cli, tmp_path: Path) -> None:
    questions = _questions(tmp_path)
    with LocalServer(generation_words=5) as server:
        done = cli("generate", "--benchmark", "arena-hard-v2.0", "--category", "creative_writing", "--model", "my-sft",
                   "--backend", "openai", "--base-url", server.base_url, "--eval-set", questions, "-o",
                   tmp_path / "answers.jsonl", "--no-progress", env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip
        calls = server.stats()["successes"]
    assert done.exit_code == 0, done.output
    assert calls == 2 and [x["uid"] for x in _rows(tmp_path / "answers.jsonl")] == ["q2", "q3"]


def test_a_sweep_writes_each_models_answers(cli: Cli, tmp_path: Path) -> None:
    questions = _questions(tmp_path)
    with LocalServer(generation_words=5) as server:
        done = cli("generate", "--benchmark", "arena-hard-v2.0", "--model", "my-sft", "--model", "my-dpo",
                   "--backend", "openai", "--base-url", server.base_url, "--eval-set", questions, "--output-dir",
                   tmp_path / "results", "--no-progress", env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip
    assert done.exit_code == 0, done.output
    for model in ("my-sft", "my-dpo"):
        lines = _rows(tmp_path / "results" / model / "answers.jsonl")
        assert [x["uid"] for x in lines] == ["q0", "q1", "q2", "q3"] and {x["model"] for x in lines} == {model}
