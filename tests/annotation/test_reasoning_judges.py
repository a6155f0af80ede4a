"""Judges and models of 2026, against the test server: a reasoning judge read from its verdict, what its hidden
reasoning costs, its limit, thinking outputs judged on their answer, and retirements said before paying."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from alpaca_lc.testing.openai_server import LocalServer

Cli = Callable[..., Result]
JUDGE = ("--judge-model", "gpt-5-mini", "--answer", "verdict", "--reasoning-effort", "low")
PRICE = (0.25, 2.0)  # gpt-5-mini, USD per million input / output tokens


@pytest.fixture(scope="module")
def claude2(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """claude-2's 805 real outputs, as model_outputs.json."""
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "index", "instruction", "output_2"])
    rows = table[table.model == "claude-2"].sort_values("index")
    path = tmp_path_factory.mktemp("claude2") / "model_outputs.json"
    path.write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": "claude-2"}
                                for r in rows.itertuples()]))  # fmt: skip
    return path


def _env(server: LocalServer, shared: Path, root: Path) -> dict[str, str]:
    return {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-local", "ALPACA_LC_CACHE": str(root / "c.sqlite"),
            "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl")}  # fmt: skip


def test_a_reasoning_judge_judges_805_by_its_verdict_at_its_list_price(cli: Cli, shared: Path, claude2: Path,
                                                                       tmp_path: Path) -> None:  # fmt: skip
    record = tmp_path / "requests.jsonl"
    with LocalServer(record=record) as server:
        env = _env(server, shared, tmp_path)
        dry = cli("evaluate", claude2, *JUDGE, "--dry-run", env=env)
        assert dry.exit_code == 0, dry.output
        assert "hidden reasoning tokens a judgment, billed as output: assumed at effort low" in dry.stdout
        done = cli("evaluate", claude2, *JUDGE, "--output-dir", tmp_path / "res", "--bootstrap", "0",
                   "--no-progress", env=env)  # fmt: skip
        stats = server.stats()
    assert done.exit_code == 0, done.output
    judge = "weighted_alpaca_eval_gpt4_turbo@gpt-5-mini+verdict+low"
    annotations = json.loads((tmp_path / "res" / "claude-2" / judge / "annotations.json").read_text())
    assert len(annotations) == 805 and all(a["preference"] in (1.0, 1.5, 2.0) for a in annotations)
    bodies = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(bodies) == stats["successes"] == 804  # one pair has identical outputs: 1.5, no call
    assert not any(k in b for b in bodies for k in ("logprobs", "top_logprobs", "max_tokens", "temperature", "top_p"))
    assert all(b["max_completion_tokens"] == 4096 and b["reasoning_effort"] == "low" for b in bodies)
    billed = (stats["prompt_tokens"] * PRICE[0] + stats["completion_tokens"] * PRICE[1]) / 1e6
    paid = sum(a["preference_price_per_example"] for a in annotations)
    assert stats["reasoning_tokens"] > 0.8 * stats["completion_tokens"]  # most of the output is hidden reasoning
    assert paid == pytest.approx(billed, rel=0.01)
    print(
        f"\n804 judgments: billed ${billed:.4f} ({stats['reasoning_tokens']:,} reasoning tokens), recorded ${paid:.4f}"
    )


def test_without_answer_verdict_a_reasoning_model_is_never_asked_for_logprobs(cli: Cli, shared: Path,
                                                                              claude2: Path, tmp_path: Path
                                                                              ) -> None:  # fmt: skip
    with LocalServer() as server:
        env = _env(server, shared, tmp_path)
        done = cli("annotate", claude2, "--judge-model", "gpt-5-mini", "--max-instances", "20", "-o",
                   tmp_path / "a.json", "--no-progress", env=env)  # fmt: skip
        stats = server.stats()
    assert done.exit_code == 0, done.output
    assert "gpt-5-mini gives no logprobs (a reasoning model): its verdict is read from its text" in done.stderr
    assert stats.get("refused_logprobs", 0) == 0 and stats["successes"] == 20
    assert json.loads((tmp_path / "a.json").read_text())[0]["annotator"].endswith("@gpt-5-mini+verdict")


def test_an_unforeseen_refusal_of_logprobs_stops_at_the_first(cli: Cli, shared: Path, claude2: Path,
                                                              tmp_path: Path) -> None:  # fmt: skip
    with LocalServer(reasoning_models="mystery") as server:
        env = _env(server, shared, tmp_path)
        done = cli("annotate", claude2, "--judge-model", "mystery-r2", "--max-instances", "200", "-o",
                   tmp_path / "a.json", "--concurrency", "4", env=env)  # fmt: skip
        stats = server.stats()
    assert done.exit_code == 3 and not (tmp_path / "a.json").exists()
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "judge model mystery-r2 gives no logprobs" in error and "--answer verdict" in error
    assert stats["refused_logprobs"] <= 4 and stats.get("successes", 0) == 0  # what was in flight, nothing more


def test_a_limit_below_the_reasoning_fails_every_judgment_with_cause_length(cli: Cli, shared: Path, claude2: Path,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    with LocalServer() as server:
        env = _env(server, shared, tmp_path)
        done = cli("annotate", claude2, *JUDGE, "--max-completion-tokens", "100", "--max-instances", "30", "-o",
                   tmp_path / "a.json", "--no-progress", env=env)  # fmt: skip
        stats = server.stats()
    assert done.exit_code == 3 and stats["successes"] == 30  # each asked once: the same limit would fail again
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: 30 of 30 judgments missing (length 30 (first: the answer is empty")
    assert "--max-completion-tokens" in error
    spent = float(re.search(r"spent \$([0-9.]+)", done.stderr).group(1))  # type: ignore[union-attr]
    assert spent > 0  # a judgment cut at the limit is billed all the same


def test_thinking_outputs_are_judged_on_their_answer(cli: Cli, shared: Path, claude2: Path, tmp_path: Path) -> None:
    thinking = tmp_path / "thinking.json"
    thinking.write_text(json.dumps([{**r, "output": f"<think>\nThe user asks: {r['instruction'][:80]}. Let me plan "
                                     f"a careful answer step by step.\n</think>\n\n{r['output']}"}
                                    for r in json.loads(claude2.read_text())]))  # fmt: skip
    with LocalServer() as server:
        env = _env(server, shared, tmp_path)
        rows = []
        for name, path in (("clean", claude2), ("thinking", thinking)):
            done = cli("evaluate", path, "--output-dir", tmp_path / name, "--bootstrap", "0", "--no-progress", env=env)
            assert done.exit_code == 0, done.output
            rows.append(next(csv.DictReader(next((tmp_path / name).rglob("leaderboard.csv")).open())))
        stats = server.stats()
    assert "thinking.json: 805 outputs held a thought (think tags): only the answer after it is judged" in done.stderr
    assert stats["successes"] == 804  # the judge saw the same requests: the second run was all cached
    assert rows[0]["length_controlled_winrate"] == rows[1]["length_controlled_winrate"]
    assert rows[0]["avg_length"] == rows[1]["avg_length"]
    prefs = [json.loads(next((tmp_path / n).rglob("annotations.json")).read_text()) for n in ("clean", "thinking")]
    assert [a["preference"] for a in prefs[0]] == [a["preference"] for a in prefs[1]]


def test_a_retired_model_stops_before_any_call_on_its_providers_api(cli: Cli, shared: Path, claude2: Path,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    provider = {
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "OPENAI_API_KEY": "sk-not-used",
        "ALPACA_LC_CACHE": str(tmp_path / "c.sqlite"),
        "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
    }
    for extra in (("--dry-run",), ("-o", tmp_path / "a.json")):
        done = cli("annotate", claude2, "--judge-model", "gpt-4.1-2025-04-14", *extra, env=provider)
        assert done.exit_code == 2, done.output  # no network here: a request would have failed with exit 3
        (error,) = [line for line in done.stderr.splitlines() if line.strip()]
        assert "judge model gpt-4.1 was retired by its provider on 2026-10-14" in error
        assert "use gpt-5.4 with --answer verdict (docs/judge-bridge.md) instead" in error
    generate = cli("generate", "--model", "gpt-3.5-turbo", "--backend", "openai", "--base-url",
                   "https://api.openai.com/v1", "--eval-set", shared / "eval_set.jsonl", "-o", tmp_path / "g.json",
                   env={"OPENAI_API_KEY": "sk-not-used"})  # fmt: skip
    assert generate.exit_code == 2 and "generator model gpt-3.5-turbo was retired by its provider on 2026-10-23" in (
        generate.stderr)  # fmt: skip
    with LocalServer() as elsewhere:  # another host that still serves the name: asked as usual
        env = {**provider, "OPENAI_BASE_URL": elsewhere.base_url}
        done = cli("annotate", claude2, "--judge-model", "gpt-4.1-2025-04-14", "--max-instances", "5", "-o",
                   tmp_path / "b.json", "--no-progress", env=env)  # fmt: skip
        assert done.exit_code == 0 and elsewhere.stats()["successes"] == 5


def test_the_readme_judge_line_runs_as_a_subprocess(shared: Path, claude2: Path, tmp_path: Path) -> None:
    with LocalServer() as server:
        env = {**os.environ, **_env(server, shared, tmp_path)}
        done = subprocess.run([sys.executable, "-m", "alpaca_lc", "annotate", str(claude2), "--max-instances", "10",
                               "--judge-model", "gpt-5.4-mini", "--answer", "verdict", "--reasoning-effort", "low",
                               "-o", str(tmp_path / "a.json"), "--no-progress"], env=env, capture_output=True,
                              text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "spent $" in done.stderr and "hidden reasoning tokens, billed as output" in done.stderr
