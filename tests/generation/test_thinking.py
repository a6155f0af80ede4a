"""Thinking models under test: every backend writes the answer as `output` and keeps the thought in `reasoning`,
from the server's own field, vLLM's own parser, or the think tags; a thought that never closes is counted."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.generation.models import ModelConfig
from alpaca_lc.generation.vllm_server import serve_command
from alpaca_lc.testing.openai_server import LocalServer

from .stand_in import vllm as stand_in
from .stand_in.vllm import reasoning as stand_in_reasoning
from .stand_in.vllm.entrypoints.openai.chat_completion import protocol as stand_in_protocol
from .test_generate import write_eval_set

Cli = Callable[..., Result]


def _generate(cli: Cli, server: LocalServer, tmp_path: Path, *options: str, n: int = 40,
              model: str = "qwen3-like") -> tuple[Result, list[dict[str, object]]]:  # fmt: skip
    out = tmp_path / "o.json"
    out.unlink(missing_ok=True)  # each run writes its own outputs, none are reused
    result = cli("generate", "--model", model, "--backend", "openai", "--base-url", server.base_url,
                 "--eval-set", write_eval_set(tmp_path, n), "-o", out, "--no-progress", *options,
                 env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip
    return result, json.loads(out.read_text()) if out.exists() else []


def test_an_inline_thought_is_split_off_and_an_unclosed_one_counted(cli: Cli, tmp_path: Path) -> None:
    with LocalServer(thinking="inline", thinking_unclosed=0.2) as server:
        result, records = _generate(cli, server, tmp_path)
    assert result.exit_code == 0, result.output
    assert not any("<think>" in r["output"] or "</think>" in r["output"] for r in records)
    assert all(str(r["reasoning"]).startswith("Let me think.") for r in records)
    unclosed = [r for r in records if r["reasoning_unclosed"]]
    assert 0 < len(unclosed) < 40 and all(r["output"] == "" for r in unclosed)
    assert all(str(r["output"]).startswith("Answer: w") for r in records if not r["reasoning_unclosed"])
    assert f"40 thoughts kept apart in `reasoning`, {len(unclosed)} of them never closed" in result.stderr
    meta = json.loads((tmp_path / "o.meta.json").read_text())
    assert meta["counts"]["thoughts"] == 40 and meta["counts"]["unclosed_thoughts"] == len(unclosed)


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_a_thought_in_its_own_field_is_kept_apart(cli: Cli, tmp_path: Path, field: str) -> None:
    with LocalServer(thinking="field", thinking_field=field) as server:
        result, records = _generate(cli, server, tmp_path)
    assert result.exit_code == 0, result.output
    assert all(str(r["output"]).startswith("Answer: w") and str(r["reasoning"]).startswith("Let me think.")
               for r in records)  # fmt: skip


@pytest.fixture
def stand_in_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    stand_in.CALLS["llm"].clear()
    stand_in.CALLS["chat"].clear()
    monkeypatch.setitem(sys.modules, "vllm", stand_in)
    monkeypatch.setitem(sys.modules, "vllm.reasoning", stand_in_reasoning)
    monkeypatch.setitem(sys.modules, "vllm.entrypoints.openai.chat_completion.protocol", stand_in_protocol)
    monkeypatch.setenv("STAND_IN_VLLM_THINK", "1")
    yield


def test_vllm_offline_uses_its_own_reasoning_parser(stand_in_vllm: None, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    args = ("generate", "--model", "/ckpt/r1-distill", "--backend", "vllm", "--eval-set", write_eval_set(tmp_path, 5),
            "-o", out)  # fmt: skip
    result = cli(*args, "--reasoning-parser", "deepseek_r1", env={})
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    assert all(r["output"].startswith("reply to") and r["reasoning"].strip().startswith("first I consider")
               for r in records)  # fmt: skip
    (chat,) = stand_in.CALLS["chat"]
    assert chat["params"]["skip_special_tokens"] is True  # what the parser's adjust_request left
    unknown = cli(*args, "--reasoning-parser", "no_such_parser", env={})
    assert unknown.exit_code == 2 and "vLLM has no reasoning parser 'no_such_parser' (it has: deepseek_r1)" in (
        unknown.stderr)  # fmt: skip
    (tmp_path / "o.json").unlink()
    by_tags = cli(*args, env={})  # no parser named: the think tags
    assert by_tags.exit_code == 0 and "<think>" not in (tmp_path / "o.json").read_text()


def test_vllm_serve_gets_the_reasoning_parser() -> None:
    config = ModelConfig(name="r1", model="org/r1", backend="vllm-server", reasoning_parser="deepseek_r1")
    command = serve_command(config, 8000)
    assert command[command.index("--reasoning-parser") + 1] == "deepseek_r1"
    assert "--reasoning-parser" not in serve_command(ModelConfig(name="m", model="org/m"), 8000)


def _generate_reasoning(cli: Cli, server: LocalServer, tmp_path: Path, *options: str) -> tuple[Result, list[dict]]:
    return _generate(cli, server, tmp_path, *options, n=20, model="gpt-5-mini")


def test_a_providers_reasoning_model_is_asked_as_one(cli: Cli, tmp_path: Path) -> None:
    """gpt-5-mini under test refuses max_tokens, a temperature other than 1 and top_p (as OpenAI does): it is
    asked with max_completion_tokens, and its hidden reasoning is billed within it."""
    record = tmp_path / "requests.jsonl"
    with LocalServer(record=record) as server:
        result, records = _generate_reasoning(cli, server, tmp_path)
        assert result.exit_code == 0, result.output
        assert len(records) == 20 and all(str(r["output"]).startswith("Answer: w") for r in records)
        assert "gpt-5-mini is asked as a reasoning model: max_completion_tokens 25,000" in result.stderr
        bodies = [json.loads(line) for line in record.read_text().splitlines()]
        assert len(bodies) == 20 and server.stats().get("successes") == 20
        assert not any(k in b for b in bodies for k in ("max_tokens", "temperature", "top_p", "reasoning_effort"))
        assert all(b["max_completion_tokens"] == 25_000 for b in bodies)
        assert all(r["completion_tokens"] > len(str(r["output"]).split()) for r in records)  # reasoning billed

        record.unlink()
        low, _ = _generate_reasoning(cli, server, tmp_path, "--reasoning-effort", "low", "--max-completion-tokens",
                                     "5000")  # fmt: skip
        assert low.exit_code == 0, low.output
        bodies = [json.loads(line) for line in record.read_text().splitlines()]
        assert len(bodies) == 20, "other settings: generated again, not served from the first run's outputs"
        assert all(b["reasoning_effort"] == "low" and b["max_completion_tokens"] == 5000 for b in bodies)

        cut, records = _generate_reasoning(cli, server, tmp_path, "--max-completion-tokens", "50")
    assert cut.exit_code == 0, cut.output
    empty = [r for r in records if r["output"] == ""]
    assert empty and all(r["finish_reason"] == "length" for r in empty)
    assert f"{len(empty)} answers are empty because the reasoning used up the completion limit" in cut.stderr


def test_reasoning_settings_on_vllm_are_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("generate", "--model", "/ckpt/m", "--backend", "vllm", "--eval-set", write_eval_set(tmp_path, 3),
                 "-o", tmp_path / "o.json", "--reasoning-effort", "low", env={})  # fmt: skip
    assert result.exit_code == 2 and "not vllm (a thinking model there takes --reasoning-parser" in result.output
    assert not (tmp_path / "o.json").exists()


def test_an_unlisted_reasoning_model_stops_at_its_refusal_then_is_asked_as_told(cli: Cli, tmp_path: Path) -> None:
    with LocalServer(reasoning_models="my-reasoner") as server:

        def run(*options: str) -> Result:
            return cli("generate", "--model", "my-reasoner", "--backend", "openai", "--base-url", server.base_url,
                       "--eval-set", write_eval_set(tmp_path, 10), "-o", tmp_path / "o.json", "--no-progress",
                       *options, env={"OPENAI_API_KEY": "sk-local"})  # fmt: skip

        refused = run()
        assert refused.exit_code == 3, refused.output
        assert "my-reasoner refuses 'max_tokens' (400: Unsupported parameter" in refused.stderr
        assert "a reasoning model is asked with --reasoning-effort or --max-completion-tokens" in refused.stderr
        told = run("--max-completion-tokens", "8000")
    assert told.exit_code == 0, told.output
    assert len(json.loads((tmp_path / "o.json").read_text())) == 10
