"""Arena-Hard-Auto's judge protocol read from the benchmark's own files: our request bodies are the ones its
`gen_judgment.py` sent, game for game (recorded by `benchmarks/arena_requests.py` against our local server), and
our verdict reading gives the labels it wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from alpaca_lc.annotation.arena import ArenaProtocol, read_protocol
from alpaca_lc.errors import InputError
from alpaca_lc.records.arena_hard import read_judgments

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "arena_hard_v2"
ARENA = Path(__file__).resolve().parents[3] / "shared" / "data" / "arena_hard_v2"
RECORDED = json.loads((FIXTURE / "reference_requests.json").read_text())


@pytest.fixture(scope="module")
def protocol() -> ArenaProtocol:
    if not (ARENA / "reference").is_dir():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    return read_protocol(ARENA / "reference")


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_the_benchmarks_own_settings_are_read(protocol: ArenaProtocol) -> None:
    assert (protocol.judge_model, protocol.temperature, protocol.max_tokens) == ("gpt-4.1", 0.0, 16000)
    assert protocol.categories["hard_prompt"].baseline == "o3-mini-2025-01-31"
    assert protocol.categories["creative_writing"].baseline == "gemini-2.0-flash-001"
    assert "[[A>>B]]" in protocol.categories["hard_prompt"].system_prompt


def test_requests_are_the_references_game_for_game(protocol: ArenaProtocol) -> None:
    answers = {r["uid"]: r["messages"][-1]["content"]["answer"] for r in _rows(ARENA / "o3-mini-2025-01-31.jsonl")}
    questions = {q["uid"]: q["prompt"] for q in _rows(ARENA / "question.jsonl")}
    ours = []
    for p in RECORDED["prompts"]:
        question, baseline, model = questions[p["uid"]], answers[p["uid"]], answers[p["answer_uid"]]
        for a, b in ((baseline, model), (model, baseline)):  # the baseline as A, then swapped
            ours.append(_digest(protocol.request(protocol.messages(p["category"], question, a, b))))
    assert len(ours) == 12
    assert ours == RECORDED["requests"]


def test_verdicts_are_read_as_the_reference_reads_them(protocol: ArenaProtocol) -> None:
    games = [g for r in _rows(FIXTURE / "reference_judgments.jsonl") for g in r["games"]]
    assert {g["score"] for g in games} >= {"A>>B", "A>B", "A=B", "B>A"}
    for game in games:
        assert protocol.verdict(game["judgment"]["answer"]) == game["score"]


def test_verdict_rules(protocol: ArenaProtocol) -> None:
    assert protocol.verdict("first [[A>B]] then, on reflection, [[b>>a]]") == "B>>A"  # the last, upper-cased
    assert protocol.verdict("no double brackets, but [A=B] in single ones") == "A=B"  # the second regex
    assert protocol.verdict("[[A>B]] and [B>A]") == "A>B"  # the first regex that matches wins
    assert protocol.verdict("I cannot decide.") is None


def test_the_references_judgment_file_is_read_as_it_is() -> None:
    judgments = read_judgments(FIXTURE / "reference_judgments.jsonl")
    assert [j.verdicts for j in judgments][:2] == [("A>>B", "A>B"), ("A=B", "A>>B")]
    assert {j.judge for j in judgments} == {"gpt-4.1"}


def test_a_folder_that_is_not_a_checkout_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a checkout of arena-hard-auto: no config/arena-hard-v2\.0\.yaml"):
        read_protocol(tmp_path)


def test_the_local_server_judges_arena_prompts_in_five_kinds_and_sometimes_gives_no_verdict(
    protocol: ArenaProtocol,
) -> None:
    from alpaca_lc.testing.openai_server.arena import arena_judgment, is_arena_judge
    from alpaca_lc.testing.openai_server.settings import Settings

    messages = protocol.messages("hard_prompt", "Q?", "answer one", "answer two")
    assert is_arena_judge(messages)
    kinds = {protocol.verdict(arena_judgment(messages, p, Settings())) for p in (0.9, 0.7, 0.5, 0.3, 0.1)}
    assert kinds == {"A>>B", "A>B", "A=B", "B>A", "B>>A"}
    assert protocol.verdict(arena_judgment(messages, 0.9, Settings(arena_no_verdict=1.0))) is None
