"""`generate` and `evaluate --model` against local OpenAI-compatible servers, through the real openai client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import wait_until, zero_calibration

Cli = Callable[..., Result]


def write_eval_set(root: Path, n: int) -> Path:
    """An eval set of n synthetic instructions with baseline outputs."""
    path = root / "eval_set.json"
    records = [
        {"instruction": f"Task {i}: write about topic {i}.", "output": "baseline " * (5 + i % 40),
         "generator": "baseline", "dataset": "synthetic"}
        for i in range(n)
    ]  # fmt: skip
    path.write_text(json.dumps(records))
    return path


def _generate(cli: Cli, server: LocalServer, root: Path, *extra: str | Path) -> Result:
    return cli("generate", "--model", "my-sft", "--backend", "openai", "--base-url", server.base_url,
               "--eval-set", root / "eval_set.json", "-o", root / "outputs.json", *extra,
               env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip


def test_openai_backend_strips_marks_truncation_and_reuses(cli: Cli, tmp_path: Path) -> None:
    write_eval_set(tmp_path, 30)
    with LocalServer(generation_words=12) as server:
        first = _generate(cli, server, tmp_path, "--max-new-tokens", "8")
        assert first.exit_code == 0, first.output
        records = json.loads((tmp_path / "outputs.json").read_text())
        assert len(records) == 30 and server.stats()["successes"] == 30
        assert all(r["output"] == r["output"].strip() and r["output"].startswith("Answer:") for r in records)
        assert {r["finish_reason"] for r in records} == {"length"} and records[0]["generator"] == "my-sft"
        meta = json.loads((tmp_path / "outputs.meta.json").read_text())
        assert meta["counts"]["truncated"] == 30 and meta["tokens"]["completion"] == 240
        assert "openai" in meta["versions"] and meta["model"]["sampling"]["max_new_tokens"] == 8
        again = _generate(cli, server, tmp_path, "--max-new-tokens", "8")
        assert again.exit_code == 0 and "nothing generated" in again.stderr
        assert server.stats()["successes"] == 30
        longer = _generate(cli, server, tmp_path, "--max-new-tokens", "50")  # other settings: generated anew
        assert longer.exit_code == 0 and server.stats()["successes"] == 60
        assert {r["finish_reason"] for r in json.loads((tmp_path / "outputs.json").read_text())} == {"stop"}


def test_kill_during_generation_then_only_missing_are_generated(tmp_path: Path) -> None:
    write_eval_set(tmp_path, 805)
    concurrency = 8
    with LocalServer(latency_ms=50) as server:
        env = {**os.environ, "OPENAI_API_KEY": "sk-local"}
        cmd = [sys.executable, "-m", "alpaca_lc", "generate", "--model", "my-sft", "--backend", "openai",
               "--base-url", server.base_url, "--eval-set", str(tmp_path / "eval_set.json"),
               "-o", str(tmp_path / "outputs.json"), "--concurrency", str(concurrency)]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(lambda: server.stats().get("successes", 0) >= 200, 60, "200 answers")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # answers in flight at the kill reach the server's count, but no client (1: the stats request itself)
        wait_until(lambda: server.stats()["in_flight"] <= 1, 60, "the answers in flight")
        at_kill = server.stats()["successes"]
        assert not (tmp_path / "outputs.json").exists()
        kept = len((tmp_path / "outputs.json.partial.jsonl").read_text().splitlines()) - 1
        assert at_kill - concurrency <= kept <= at_kill
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert rerun.returncode == 0, rerun.stderr
        total = server.stats()["successes"]
    assert len(json.loads((tmp_path / "outputs.json").read_text())) == 805
    assert total - at_kill == 805 - kept  # only the missing instructions were generated again
    assert not (tmp_path / "outputs.json.partial.jsonl").exists()


def test_evaluate_model_end_to_end_then_nothing_is_called_again(cli: Cli, tmp_path: Path) -> None:
    eval_set = write_eval_set(tmp_path, 40)
    calibration = zero_calibration(eval_set, tmp_path / "cal.json")
    with LocalServer(generation_words=30) as generator, LocalServer() as judge:
        env = {"OPENAI_API_KEY": "sk-local", "OPENAI_BASE_URL": judge.base_url,
               "ALPACA_LC_CACHE": str(tmp_path / "cache.sqlite"), "ALPACA_LC_EVAL_SET": str(eval_set)}  # fmt: skip
        args = ("evaluate", "--model", "my-sft", "--backend", "openai", "--base-url", generator.base_url,
                "--calibration", calibration, "--output-dir", tmp_path / "results", "--bootstrap", "100",
                "--no-progress")  # fmt: skip
        first = cli(*args, env=env)
        assert first.exit_code == 0, first.output
        assert "| my-sft |" in first.stdout
        counts = (generator.stats()["successes"], judge.stats()["successes"])
        assert counts == (40, 40)
        second = cli(*args, env=env)
        assert second.exit_code == 0, second.output
        assert (generator.stats()["successes"], judge.stats()["successes"]) == counts  # no call at all
        assert second.stdout == first.stdout
    folder = tmp_path / "results" / "my-sft"
    assert (folder / "model_outputs.json").exists() and (folder / "model_outputs.meta.json").exists()
    assert (folder / "weighted_alpaca_eval_gpt4_turbo" / "annotations.json").exists()


def test_a_reasoning_judges_options_are_the_judges_not_the_generators(cli: Cli, tmp_path: Path) -> None:
    """`evaluate --model M --judge-model J --reasoning-effort low`: the effort and the limit are the judge's; the
    model under test is asked with its own settings (README's recommended judge line)."""
    eval_set = write_eval_set(tmp_path, 20)
    calibration = zero_calibration(eval_set, tmp_path / "cal.json")
    generator_log, judge_log = tmp_path / "generator.jsonl", tmp_path / "judge.jsonl"
    with LocalServer(record=generator_log) as generator, LocalServer(record=judge_log) as judge:
        env = {"OPENAI_API_KEY": "sk-local", "OPENAI_BASE_URL": judge.base_url,
               "ALPACA_LC_CACHE": str(tmp_path / "cache.sqlite"), "ALPACA_LC_EVAL_SET": str(eval_set)}  # fmt: skip
        done = cli("evaluate", "--model", "my-sft", "--backend", "openai", "--base-url", generator.base_url,
                   "--judge-model", "gpt-5-mini", "--answer", "verdict", "--reasoning-effort", "low",
                   "--max-completion-tokens", "3000", "--calibration", calibration, "--output-dir",
                   tmp_path / "results", "--bootstrap", "0",
                   "--no-progress", env=env)  # fmt: skip
    assert done.exit_code == 0, done.output
    generated = [json.loads(line) for line in generator_log.read_text().splitlines()]
    judged = [json.loads(line) for line in judge_log.read_text().splitlines()]
    assert len(generated) == 20 and len(judged) == 20
    assert all(b["max_tokens"] == 2048 and "reasoning_effort" not in b and "max_completion_tokens" not in b
               for b in generated)  # fmt: skip
    assert all(b["reasoning_effort"] == "low" and b["max_completion_tokens"] == 3000 for b in judged)


def test_bad_input_is_one_line(cli: Cli, tmp_path: Path) -> None:
    write_eval_set(tmp_path, 3)
    config = tmp_path / "model.yaml"
    config.write_text("name: x\nmodel: y\nsampling: {temprature: 0.1}\n")
    bad_config = cli("generate", "--model", config, "--eval-set", tmp_path / "eval_set.json", env={})
    assert bad_config.exit_code == 2 and "sampling.temprature" in bad_config.stderr
    assert len(bad_config.stderr.strip().splitlines()) == 1
    no_instruction = tmp_path / "bad_eval.json"
    no_instruction.write_text(json.dumps([{"prompt": "hi"}]))
    bad_eval = cli("generate", "--model", "m", "--backend", "openai", "--eval-set", no_instruction, env={})
    assert bad_eval.exit_code == 2 and "bad_eval.json: record 1: missing field 'instruction'" in bad_eval.stderr
    bad_tokens = cli("generate", "--model", "m", "--max-new-tokens", "0", env={})
    assert bad_tokens.exit_code == 2 and "--max-new-tokens" in bad_tokens.output
    out = tmp_path / "o.json"
    unreachable = cli("generate", "--model", "m", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                      "--eval-set", tmp_path / "eval_set.json", "-o", out, "--max-attempts", "2",
                      env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip
    assert unreachable.exit_code == 3 and "cannot connect to http://127.0.0.1:9/v1 (Connection refused)" in (
        unreachable.stderr)  # fmt: skip
    assert not out.exists()


def test_openai_backend_paces_to_a_rate_limited_endpoint(cli: Cli, tmp_path: Path) -> None:
    """Generation shares the judge's client: rate limits wait without using up an attempt."""
    write_eval_set(tmp_path, 60)
    # Each request is charged its prompt plus max_tokens (256): 40 in flight overdraw 3,000 tokens at once.
    with LocalServer(generation_words=12, budget_tokens=3_000, budget_window_s=1.0) as server:
        result = _generate(cli, server, tmp_path, "--max-new-tokens", "256", "--max-attempts", "1",
                           "--concurrency", "40")  # fmt: skip
        stats = server.stats()
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "outputs.json").read_text())) == 60 and stats["successes"] == 60
    assert stats["429"] > 0


def test_a_keyless_local_server_needs_no_key_variable(cli: Cli, tmp_path: Path) -> None:
    """vLLM, llama.cpp and Ollama run without keys: OPENAI_API_KEY unset is fine for them."""
    write_eval_set(tmp_path, 10)
    with LocalServer(generation_words=5) as server:
        result = cli("generate", "--model", "local-model", "--backend", "openai", "--base-url", server.base_url,
                     "--eval-set", tmp_path / "eval_set.json", "-o", tmp_path / "out.json", "--no-progress",
                     env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "out.json").read_text())) == 10


def test_a_sweep_with_batch_no_wait_submits_every_model_then_collects(cli: Cli, tmp_path: Path) -> None:
    eval_set = write_eval_set(tmp_path, 40)
    calibration = zero_calibration(eval_set, tmp_path / "cal.json")
    with LocalServer(generation_words=30) as generator, LocalServer(batch_delay_s=0.5) as judge:
        env = {"OPENAI_API_KEY": "sk-local", "OPENAI_BASE_URL": judge.base_url,
               "ALPACA_LC_CACHE": str(tmp_path / "cache.sqlite"), "ALPACA_LC_EVAL_SET": str(eval_set)}  # fmt: skip
        args = ("evaluate", "--model", "sft-a", "--model", "sft-b", "--backend", "openai", "--base-url",
                generator.base_url, "--calibration", calibration, "--output-dir", tmp_path / "results",
                "--bootstrap", "0", "--no-progress", "--batch")  # fmt: skip
        submitted = cli(*args, "--no-wait", env=env)
        assert submitted.exit_code == 4 and len(submitted.stdout.split()) == 2, submitted.output  # both models' ids
        collected = cli(*args, env=env)  # waits for both batches
        stats = judge.stats()
    assert collected.exit_code == 0, collected.output
    assert "| sft-a |" in collected.stdout and "| sft-b |" in collected.stdout
    assert stats["batches"] == 2 and stats["batch_answered"] == 80 and stats.get("successes", 0) == 0


def test_a_kept_generation_holding_a_unicode_line_separator_is_resumed(tmp_path: Path) -> None:
    """Outputs are written unescaped: U+2028 or U+0085 inside one must not cut its line, or a resumed run
    would silently generate (and pay for) it again."""
    from alpaca_lc.generation.run import _Partial

    partial = _Partial(tmp_path / "out.json.partial.jsonl", "digest")
    assert partial.load() == {}
    record = {"instruction": "say it", "output": "line one\u2028line two\x85three"}
    partial.append(record)
    assert partial.load() == {"say it": record}
