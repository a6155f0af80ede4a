"""`annotate --benchmark arena-hard-v2.0` against the local server: the requests are the ones the benchmark's own
`gen_judgment.py` sent for the same answers (`benchmarks/arena_requests.py` recorded them), game for game; a
second run makes no call; `--batch` gives the same judgment file at half the price; the file is scored."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from alpaca_lc.annotation.arena import read_protocol
from alpaca_lc.testing.openai_server import LocalServer

Cli = Callable[..., Result]
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "arena_hard_v2"
ARENA = Path(__file__).resolve().parents[3] / "shared" / "data" / "arena_hard_v2"
RECORDED = json.loads((FIXTURE / "reference_requests.json").read_text())
BASELINES = {"hard_prompt": "o3-mini-2025-01-31", "creative_writing": "gemini-2.0-flash-001"}


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run's inputs: its six prompts, the model's answers, one baseline file per category."""
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    root = tmp_path_factory.mktemp("arena")
    answers = {r["uid"]: r for r in _rows(ARENA / "o3-mini-2025-01-31.jsonl")}
    questions = {q["uid"]: q for q in _rows(ARENA / "question.jsonl")}
    prompts = RECORDED["prompts"]
    _write(root / "question.jsonl", [questions[p["uid"]] for p in prompts])
    _write(root / "model-x.jsonl", [answers[p["answer_uid"]] | {"uid": p["uid"], "model": "model-x"} for p in prompts])
    for category, baseline in BASELINES.items():
        rows = [answers[p["uid"]] | {"model": baseline} for p in prompts if p["category"] == category]
        _write(root / f"{category}.jsonl", rows)
    return root


def _annotate(cli: Cli, root: Path, category: str, out: Path, env: dict[str, str], *extra: str) -> Result:
    return cli("annotate", "--benchmark", "arena-hard-v2.0", root / "model-x.jsonl", "--eval-set",
               root / "question.jsonl", "--reference", root / f"{category}.jsonl", "--category", category,
               "--arena-hard-dir", ARENA / "reference", "-o", out, "--no-progress", *extra, env=env)  # fmt: skip


def _env(server: LocalServer, cache: Path) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local", "ALPACA_LC_CACHE": str(cache)}


def _spent(result: Result) -> float:
    return float(re.findall(r"spent \$([0-9.]+)", result.stderr)[-1])


def test_requests_game_for_game_then_cached_then_batched_at_half_price(cli: Cli, inputs: Path,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    record = tmp_path / "requests.jsonl"
    out = {c: tmp_path / f"{c}.jsonl" for c in BASELINES}
    with LocalServer(record=record) as server:
        env = _env(server, tmp_path / "cache.sqlite")
        live = {c: _annotate(cli, inputs, c, out[c], env) for c in BASELINES}
        sent = record.read_text(encoding="utf-8")
        again = _annotate(cli, inputs, "hard_prompt", tmp_path / "again.jsonl", env)
        resent = record.read_text(encoding="utf-8")
        batch_env = _env(server, tmp_path / "batch-cache.sqlite")
        batched = _annotate(cli, inputs, "hard_prompt", tmp_path / "batched.jsonl", batch_env, "--batch")
    assert all(r.exit_code == 0 for r in (*live.values(), again, batched)), [r.output for r in live.values()]
    bodies = [_digest(json.loads(line)) for line in sent.split("\n") if line.strip()]
    assert sorted(bodies) == sorted(RECORDED["requests"])  # what was sent: the reference's 12 bodies, no more
    protocol = read_protocol(ARENA / "reference")
    position = {p["uid"]: i for i, p in enumerate(RECORDED["prompts"])}
    for category, path in out.items():
        for line in _rows(path):
            assert line["baseline"] == BASELINES[category] and line["judge"] == "gpt-4.1"
            for game, played in enumerate(line["games"]):  # game 1: the baseline as A; game 2: swapped
                expected = RECORDED["requests"][2 * position[line["uid"]] + game]
                assert _digest(protocol.request(played["prompt"])) == expected
                assert played["score"] == protocol.verdict(played["judgment"]["answer"])
    assert resent == sent and "6 cached" in again.stderr  # a second run makes no call
    assert (tmp_path / "again.jsonl").read_bytes() == out["hard_prompt"].read_bytes()
    assert (tmp_path / "batched.jsonl").read_bytes() == out["hard_prompt"].read_bytes()
    assert _spent(batched) == pytest.approx(_spent(live["hard_prompt"]) / 2, rel=0.02)


def test_the_judgment_file_is_scored(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    with LocalServer() as server:
        env = _env(server, tmp_path / "cache.sqlite")
        assert _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", env).exit_code == 0
    board = cli("leaderboard", "--benchmark", "arena-hard-v2.0", tmp_path / "j.jsonl", env={})
    assert board.exit_code == 0, board.output
    assert board.stdout.splitlines()[1].startswith("model-x,")


def test_a_dry_run_prices_the_judges_long_answers(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    with LocalServer() as server:
        dry = _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", _env(server, tmp_path / "c.sqlite"),
                        "--dry-run")  # fmt: skip
        calls = server.stats().get("successes", 0)
    assert dry.exit_code == 0 and calls == 0
    assert "6 calls" in dry.stdout and "~1,000 output tokens a judgment" in dry.stdout
    assert not (tmp_path / "j.jsonl").exists()


def test_a_thought_is_not_judged(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    rows = _rows(inputs / "model-x.jsonl")
    for row in rows:
        row["messages"][-1]["content"]["answer"] = (
            "<think>secret plan</think>" + row["messages"][-1]["content"]["answer"]
        )
    thinking = _write(tmp_path / "model-x.jsonl", rows)
    record = tmp_path / "requests.jsonl"
    with LocalServer(record=record) as server:
        env = _env(server, tmp_path / "cache.sqlite")
        result = cli("annotate", "--benchmark", "arena-hard-v2.0", thinking, "--eval-set", inputs / "question.jsonl",
                     "--reference", inputs / "hard_prompt.jsonl", "--category", "hard_prompt", "--arena-hard-dir",
                     ARENA / "reference", "-o", tmp_path / "j.jsonl", "--no-progress", env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "secret plan" not in record.read_text(encoding="utf-8")


def test_answers_outside_the_eval_set_and_alpaca_options_are_refused(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    rows = _rows(inputs / "model-x.jsonl")
    stray = _write(tmp_path / "model-x.jsonl", [*rows, rows[0] | {"uid": "not-a-prompt"}])
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-local"}
    bad = cli("annotate", "--benchmark", "arena-hard-v2.0", stray, "--eval-set", inputs / "question.jsonl",
              "--arena-hard-dir", ARENA / "reference", "-o", tmp_path / "j.jsonl", env=env)  # fmt: skip
    assert bad.exit_code == 2
    assert f"{stray}: record 7: answers prompt 'not-a-prompt', which is not in the eval set" in bad.stderr
    mixed = cli("annotate", "--benchmark", "arena-hard-v2.0", inputs / "model-x.jsonl", "--both-orders", env=env)
    assert mixed.exit_code == 2 and "--both-orders: not for Arena-Hard-Auto" in mixed.output


def test_a_judgment_without_a_verdict_is_kept_as_a_failed_game_and_not_asked_again(cli: Cli, inputs: Path,
                                                                                   tmp_path: Path) -> None:  # fmt: skip
    with LocalServer(arena_no_verdict=1.0) as server:
        env = _env(server, tmp_path / "cache.sqlite")
        first = _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", env)
        again = _annotate(cli, inputs, "hard_prompt", tmp_path / "again.jsonl", env)
        calls = server.stats()["successes"]
    assert first.exit_code == 0 and again.exit_code == 0, first.output
    assert calls == 6 and "6 cached" in again.stderr
    assert all(g["score"] is None for line in _rows(tmp_path / "j.jsonl") for g in line["games"])
    board = cli("leaderboard", "--benchmark", "arena-hard-v2.0", tmp_path / "j.jsonl", env={})
    assert board.exit_code == 2 and "no games left" in board.stderr


def test_the_references_own_judgments_imported_are_served_without_a_call(cli: Cli, inputs: Path,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    cache = tmp_path / "cache.sqlite"
    imported = cli("cache", "import", "--benchmark", "arena-hard-v2.0", FIXTURE / "reference_judgments.jsonl",
                   "--arena-hard-dir", ARENA / "reference", "--cache", cache, env={})  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert "imported 12 new judgments" in imported.stdout
    reference = {r["uid"]: [g["score"] for g in r["games"]] for r in _rows(FIXTURE / "reference_judgments.jsonl")}
    with LocalServer() as server:
        env = _env(server, cache)
        done = {c: _annotate(cli, inputs, c, tmp_path / f"{c}.jsonl", env) for c in BASELINES}
        calls = server.stats().get("successes", 0)
    assert all(r.exit_code == 0 for r in done.values()), [r.output for r in done.values()]
    assert calls == 0  # every game served from the reference's file
    ours = {r["uid"]: [g["score"] for g in r["games"]] for c in BASELINES for r in _rows(tmp_path / f"{c}.jsonl")}
    assert ours == reference


def test_a_reasoning_judge_keeps_the_benchmarks_verdict_rule(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    record = tmp_path / "requests.jsonl"
    with LocalServer(record=record) as server:
        env = _env(server, tmp_path / "cache.sqlite")
        done = _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", env, "--judge-model", "o3-mini",
                         "--reasoning-effort", "low", "--answer", "verdict")  # fmt: skip
    assert done.exit_code == 0, done.output
    bodies = [json.loads(line) for line in record.read_text(encoding="utf-8").split("\n") if line.strip()]
    assert all("max_tokens" not in b and "temperature" not in b and b["reasoning_effort"] == "low" for b in bodies)
    lines = _rows(tmp_path / "j.jsonl")
    assert {x["judge"] for x in lines} == {"o3-mini"}
    protocol = read_protocol(ARENA / "reference")
    assert all(g["score"] == protocol.verdict(g["judgment"]["answer"]) for x in lines for g in x["games"])
    assert {g["score"] for x in lines for g in x["games"]} <= {"A>>B", "A>B", "A=B", "B>A", "B>>A"}


def test_a_retired_judge_is_said_with_what_an_arena_judge_needs(cli: Cli, inputs: Path, tmp_path: Path) -> None:
    """gpt-4.1, the benchmark's judge, is retired on OpenAI's API: refused before any call there, and answered 404
    elsewhere; either way the line names a living judge and nothing of AlpacaEval's verdicts or bridges."""
    provider = {"OPENAI_BASE_URL": "https://api.openai.com/v1", "OPENAI_API_KEY": "sk-not-used",
                "ALPACA_LC_CACHE": str(tmp_path / "c.sqlite")}  # fmt: skip
    refused = _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", provider, "--dry-run")
    assert refused.exit_code == 2, refused.output  # no network here: a request would have failed with exit 3
    (line,) = [x for x in refused.stderr.splitlines() if x.strip()]
    assert "Arena-Hard-Auto judge model gpt-4.1 was retired by its provider on 2026-10-14" in line
    assert "use gpt-5.4 instead" in line and "--answer" not in line and "bridge" not in line
    with LocalServer(missing_models="gpt-4.1") as server:
        gone = _annotate(cli, inputs, "hard_prompt", tmp_path / "j.jsonl", _env(server, tmp_path / "c.sqlite"))
    assert gone.exit_code == 3, gone.output
    assert "judge model gpt-4.1 was retired by its provider on 2026-10-14 (model_not_found)" in gone.stderr
    assert "use a living judge (e.g. --judge-model gpt-5.4)" in gone.stderr and "--answer" not in gone.stderr
    assert not (tmp_path / "j.jsonl").exists()
