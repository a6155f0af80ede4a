"""`gate --benchmark arena-hard-v2.0`: both releases judged against the baseline, compared paired by prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main
from alpaca_lc.testing.openai_server import LocalServer

ARENA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arena_hard_v2"
FIXTURE = Path(__file__).resolve().parent / "data" / "arena_hard_v2"


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _gate(server: LocalServer, root: Path, candidate: Path, previous: Path) -> Result:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local", "ALPACA_LC_CACHE": str(root / "c.sqlite")}
    args = ["gate", "--benchmark", "arena-hard-v2.0", candidate, "--previous", previous, "--eval-set",
            ARENA / "question.jsonl", "--reference", ARENA / "o3-mini-2025-01-31.jsonl", "--category", "hard_prompt",
            "--allow-partial", "--arena-hard-dir", ARENA / "reference", "--no-progress",
            "--json", root / "gate.json"]  # fmt: skip
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, Path]:
    """A release that answers with o3-mini's own answers (on 60 hard prompts), and a null model."""
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    rows = [r for r in _rows(ARENA / "o3-mini-2025-01-31.jsonl")][:60]
    good, null = tmp_path / "good.jsonl", tmp_path / "null.jsonl"
    good.write_text("".join(json.dumps(r | {"model": "release-1"}) + "\n" for r in rows), encoding="utf-8")
    empty = [r | {"model": "release-2", "messages": [*r["messages"][:-1], {"role": "assistant",
             "content": {"answer": "I cannot help with that."}}]} for r in rows]  # fmt: skip
    null.write_text("".join(json.dumps(r) + "\n" for r in empty), encoding="utf-8")
    return good, null


def test_identical_releases_pass_and_a_null_model_fails(releases: tuple[Path, Path], tmp_path: Path) -> None:
    good, null = releases
    with LocalServer(verdict="relevance") as server:
        same = _gate(server, tmp_path, good, good)
        worse = _gate(server, tmp_path, null, good)
        calls = server.stats()["successes"]
    assert same.exit_code == 0, same.output
    assert "**PASS**" in same.stdout and "| hard_prompt | 60 |" in same.stdout
    assert worse.exit_code == 1, worse.output
    assert "**FAIL**" in worse.stdout
    decision = json.loads((tmp_path / "gate.json").read_text())
    assert decision["outcome"] == "fail" and decision["checks"][0]["high"] < 0
    # the good release answers as the baseline: both games are one request (60 calls); the null model 120; the
    # second gate judges nothing again
    assert calls == 60 + 120


def test_sampled_answer_sets_are_pooled_by_prompt(releases: tuple[Path, Path], tmp_path: Path) -> None:
    """Two sampled answer sets of the candidate: twice the games on the same 60 prompts, compared paired."""
    good, null = releases
    second = tmp_path / "good-2.jsonl"
    rows = _rows(good)
    for r in rows:  # another sample of the same release: another answer text, still the baseline's content
        r["messages"][-1]["content"]["answer"] += "\n\nThat is all."
    second.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with LocalServer(verdict="relevance") as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local",
               "ALPACA_LC_CACHE": str(tmp_path / "c.sqlite")}  # fmt: skip
        args = ["gate", "--benchmark", "arena-hard-v2.0", good, second, "--previous", null, "--eval-set",
                ARENA / "question.jsonl", "--reference", ARENA / "o3-mini-2025-01-31.jsonl", "--category",
                "hard_prompt", "--allow-partial", "--arena-hard-dir", ARENA / "reference", "--no-progress",
                "--json", tmp_path / "gate.json"]  # fmt: skip
        done = CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)
    assert done.exit_code == 0, done.output  # better than the null model: pass
    check = json.loads((tmp_path / "gate.json").read_text())["checks"][0]
    assert check["prompts"] == 60 and check["low"] > 0


def test_a_candidate_that_answers_fewer_prompts_never_passes(releases: tuple[Path, Path], tmp_path: Path) -> None:
    good, _ = releases
    fewer = tmp_path / "fewer.jsonl"
    fewer.write_text("".join(json.dumps(r) + "\n" for r in _rows(good)[:40]), encoding="utf-8")
    with LocalServer(verdict="relevance") as server:
        done = _gate(server, tmp_path, fewer, good)
    assert done.exit_code == 2
    assert f"{fewer}: answers 40 of the 60 prompts the previous release was judged on" in done.stderr
