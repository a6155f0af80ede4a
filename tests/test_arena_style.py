"""The style metadata of Arena-Hard-Auto answers, computed as the benchmark computes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.records.arena_hard import read_answer_style
from alpaca_lc.records.arena_style import markdown_counts, without_code

RunCli = Callable[..., Result]
ARENA = Path(__file__).resolve().parents[2] / "shared" / "data" / "arena_hard_v2"
FIXTURE = Path(__file__).resolve().parent / "data" / "arena_hard_v2"


def test_markdown_counts_equal_the_published_metadata_of_all_750_answers() -> None:
    path = ARENA / "o3-mini-2025-01-31.jsonl"
    if not path.exists():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    differ = [r["uid"] for r in rows if markdown_counts(r["messages"][-1]["content"]["answer"])
              != {k: r["metadata"][k] for k in ("header_count", "list_count", "bold_count")}]  # fmt: skip
    assert len(rows) == 750 and differ == []


def test_code_blocks_are_removed_as_the_benchmark_removes_them() -> None:
    answer = "# Title\n```\n# not a header\n- not an item\n```\n- item\n**bold** and __also__"
    assert without_code(answer) == "# Title\n``````\n- item\n**bold** and __also__"
    counts = markdown_counts(answer)
    assert counts["header_count"]["h1"] == 1 and counts["list_count"]["unordered"] == 1
    assert counts["bold_count"] == {"**": 1, "__": 1}


def test_metadata_as_it_stands_is_used_and_a_missing_one_needs_the_encoding(tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (FIXTURE / "answers" / "model-weak.jsonl").read_text().splitlines()[:2]]
    assert (
        read_answer_style(FIXTURE / "answers" / "model-weak.jsonl").style[rows[0]["uid"]][0]
        == rows[0]["metadata"]["token_len"]
    )
    del rows[1]["metadata"]
    bare = tmp_path / "bare.jsonl"
    bare.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(Exception, match=r"bare\.jsonl: record 2: 'metadata' must hold token_len"):
        read_answer_style(bare)


def test_a_file_that_is_not_the_encoding_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    rows = [json.loads(x) for x in (FIXTURE / "answers" / "model-weak.jsonl").read_text().splitlines()]
    for r in rows:
        del r["metadata"]
    answers = tmp_path / "model-weak.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fake = tmp_path / "o200k_base.tiktoken"
    fake.write_text("not an encoding\n")
    result = run_cli("leaderboard", "--benchmark", "arena-hard-v2.0", FIXTURE / "judgments", "--answers", answers,
                     "--control", "length", "--tiktoken-file", fake)  # fmt: skip
    assert result.exit_code == 2
    assert f"{fake}: not tiktoken's o200k_base encoding file" in result.stderr
