"""The vLLM backends against vLLM's API contract: a stand-in module, and a stand-in `vllm serve` executable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import Result

from ..conftest import wait_until
from . import fake_vllm
from .test_generate import write_eval_set

Cli = Callable[..., Result]


@pytest.fixture
def stand_in_vllm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    fake_vllm.CALLS["llm"].clear()
    fake_vllm.CALLS["chat"].clear()
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm)
    yield


def test_vllm_backend_contract(stand_in_vllm: None, cli: Cli, tmp_path: Path) -> None:
    eval_set = write_eval_set(tmp_path, 7)
    template = tmp_path / "template.jinja"
    template.write_text("{{ messages }}")
    config = tmp_path / "model.yaml"
    config.write_text(
        f"name: my-model\nmodel: /ckpt/my-model\nbackend: vllm\nchat_template: {template}\nsystem_prompt: Be brief.\n"
        "sampling: {temperature: 0.7, top_p: 0.9, max_new_tokens: 4, seed: 3}\n"
        "engine: {tensor_parallel_size: 2, dtype: bfloat16, max_model_len: 4096}\n"
    )
    out = tmp_path / "outputs.json"
    result = cli("generate", "--model", config, "--eval-set", eval_set, "-o", out, env={})
    assert result.exit_code == 0, result.output
    (engine,) = fake_vllm.CALLS["llm"]
    assert engine == {
        "model": "/ckpt/my-model",
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.9,
        "trust_remote_code": False,
        "max_model_len": 4096,
        "seed": 3,
    }
    (chat,) = fake_vllm.CALLS["chat"]  # all prompts in one call, so vLLM batches them
    assert chat["params"] == {"n": 1, "temperature": 0.7, "top_p": 0.9, "max_tokens": 4, "seed": 3}
    assert chat["template"] == "{{ messages }}"
    instructions = [r["instruction"] for r in json.loads(eval_set.read_text())]
    assert chat["messages"][2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": instructions[2]},
    ]
    records = json.loads(out.read_text())
    assert [r["instruction"] for r in records] == instructions
    assert all(r["output"].startswith("reply to " + r["instruction"].split()[0]) for r in records)
    assert all(r["output"] == r["output"].strip() and r["finish_reason"] == "length" for r in records)
    meta = json.loads((tmp_path / "outputs.meta.json").read_text())
    assert (
        meta["counts"] == {"instructions": 7, "empty": 0, "truncated": 7, "thoughts": 0, "unclosed_thoughts": 0}
        and meta["backend"] == "vllm"
    )


def test_missing_vllm_says_how_to_install(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    result = cli("generate", "--model", "some/model", "--eval-set", write_eval_set(tmp_path, 3),
                 "-o", tmp_path / "o.json", env={})  # fmt: skip
    assert result.exit_code == 2 and "pip install 'alpaca-lc[vllm]'" in result.stderr
    assert not (tmp_path / "o.json").exists()


FAKE_SERVE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_VLLM_RECORD"], "a") as fh:
    fh.write(json.dumps({{"pid": os.getpid(), "argv": sys.argv}}) + "\\n")
if os.environ.get("FAKE_VLLM_FAIL"):
    print("RuntimeError: CUDA out of memory (stand-in)")
    sys.exit(1)
port = sys.argv[sys.argv.index("--port") + 1]
from alpaca_lc.testing.openai_server import main
main(["--port", port, "--max-seconds", "120", "--latency-ms", os.environ.get("FAKE_VLLM_LATENCY_MS", "0")])
"""


@pytest.fixture
def fake_serve(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vllm"
    script.write_text(FAKE_SERVE.format(python=sys.executable))
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_VLLM_RECORD": str(tmp_path / "serve.jsonl")}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _serve_calls(env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(env["FAKE_VLLM_RECORD"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_vllm_server_backend_serves_generates_and_stops(cli: Cli, fake_serve: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    result = cli("generate", "--model", "org/model", "--backend", "vllm-server", "--tensor-parallel-size", "2",
                 "--eval-set", write_eval_set(tmp_path, 12), "-o", out, env=fake_serve)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())) == 12
    (call,) = _serve_calls(fake_serve)
    argv = call["argv"]
    assert isinstance(argv, list) and argv[1:3] == ["serve", "org/model"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--tensor-parallel-size") + 1] == "2"
    assert not _alive(int(str(call["pid"])))


def test_vllm_server_that_fails_to_start(cli: Cli, fake_serve: dict[str, str], tmp_path: Path) -> None:
    env = {**fake_serve, "FAKE_VLLM_FAIL": "1"}
    result = cli("generate", "--model", "org/model", "--backend", "vllm-server", "--eval-set",
                 write_eval_set(tmp_path, 3), "-o", tmp_path / "o.json", env=env)  # fmt: skip
    assert result.exit_code == 3 and "CUDA out of memory" in result.stderr
    (call,) = _serve_calls(fake_serve)
    assert not _alive(int(str(call["pid"]))) and not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_vllm_server_is_stopped_when_interrupted(fake_serve: dict[str, str], tmp_path: Path, sig: int) -> None:
    env = {**os.environ, **fake_serve, "FAKE_VLLM_LATENCY_MS": "2000"}
    cmd = [sys.executable, "-m", "alpaca_lc", "generate", "--model", "org/model", "--backend", "vllm-server",
           "--eval-set", str(write_eval_set(tmp_path, 50)), "-o", str(tmp_path / "o.json")]  # fmt: skip
    # The child gets the default SIGINT disposition whatever started this test: a job started in the background
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so the signal would be lost.
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    wait_until(lambda: bool(_serve_calls(fake_serve)))
    argv = _serve_calls(fake_serve)[0]["argv"]
    assert isinstance(argv, list)
    stats = f"http://127.0.0.1:{argv[argv.index('--port') + 1]}/stats"
    wait_until(lambda: _in_flight(stats) > 0)  # the server is up and requests are in flight
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    (call,) = _serve_calls(fake_serve)
    wait_until(lambda: not _alive(int(str(call["pid"]))))  # stopped, as soon as the machine gets to it
    assert not (tmp_path / "o.json").exists()


def _in_flight(stats_url: str) -> int:
    try:
        with urllib.request.urlopen(stats_url, timeout=5) as response:
            return int(json.load(response).get("in_flight", 0)) - 1  # less this request itself
    except OSError:  # not listening yet
        return 0
