"""Sweeps and clusters: generation on a local Ray instance with logical GPUs and the stand-in vLLM (issue 12).

Commands run as a user types them, in subprocesses. The stand-in vLLM's folder is on PYTHONPATH, so Ray's
workers import it as `vllm`, as they would a real vLLM; it logs each engine start and chat call (with the
worker's pid and the CUDA_VISIBLE_DEVICES Ray gave it) to a file. Each command starts a private Ray instance
(`--ray local`) and stops only it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from alpaca_lc.testing.openai_server import LocalServer

from ..annotation.conftest import write_workspace
from ..conftest import wait_until, zero_calibration

pytest.importorskip("ray")
STAND_IN = Path(__file__).parent / "stand_in"


def _env(root: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(STAND_IN), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "STAND_IN_VLLM_LOG": str(root / "vllm.log"),
            "ALPACA_LC_RAY_NUM_GPUS": "2", "RAY_DEDUP_LOGS": "0", **extra}  # fmt: skip


def _log(root: Path) -> list[dict[str, Any]]:
    path = root / "vllm.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _alpaca_lc(*args: str | Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alpaca_lc", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip


def _most_at_once(log: list[dict[str, Any]]) -> int:
    """The most engines alive at one time (an engine lives from its start to its last chat call)."""
    spans: dict[int, list[float]] = {}
    for event in log:
        spans.setdefault(event["pid"], [event["time"], event["time"]])[1] = event["time"]
    edges = sorted(
        [(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()], key=lambda x: (x[0], x[1])
    )
    alive = most = 0
    for _, step in edges:
        alive += step
        most = max(most, alive)
    return most


def test_a_sweep_of_three_models_on_two_gpus(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    calibration = zero_calibration(ws.eval_set, tmp_path / "cal.json")
    with LocalServer() as judge:
        env = _env(tmp_path, **ws.env(judge), STAND_IN_VLLM_DELAY="0.4")
        args = ("evaluate", "--model", "sft-a", "--model", "sft-b", "--model", "sft-c", "--ray", "local",
                "--calibration", calibration, "--output-dir", tmp_path / "results", "--bootstrap", "0",
                "--no-progress")  # fmt: skip
        first = _alpaca_lc(*args, env=env)
        assert first.returncode == 0, first.stderr
        judged = judge.stats()["successes"]
        log = _log(tmp_path)
        second = _alpaca_lc(*args, env=env)
        assert second.returncode == 0, second.stderr
        assert judge.stats()["successes"] == judged  # the re-run made no judge call
    engines = [e for e in log if e["event"] == "engine"]
    assert sorted(e["model"] for e in engines) == ["sft-a", "sft-b", "sft-c"]  # three engines, one per model
    assert all(e["cuda_visible_devices"] in ("0", "1") for e in engines)  # each given its GPU by Ray
    assert _most_at_once(log) == 2  # two at once on two GPUs
    assert len(_log(tmp_path)) == len(log)  # the re-run started no engine
    for model in ("sft-a", "sft-b", "sft-c"):
        outputs = json.loads((tmp_path / "results" / model / "model_outputs.json").read_text())
        assert len(outputs) == len({o["instruction"] for o in outputs}) == 805
    board = (tmp_path / "results" / "leaderboard.csv").read_text().splitlines()
    assert len(board) == 4 and board[0].startswith("model,win_rate")
    assert "| sft-a |" in first.stdout and "| sft-c |" in first.stdout
    print(f"\n3 models x 805 on 2 logical GPUs: {len(engines)} engines, at most {_most_at_once(log)} at once")


def test_tensor_parallel_engine_sees_both_gpus_and_replicas_share_the_work(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=300)
    common = ("--eval-set", ws.eval_set, "--ray", "local", "--no-progress")
    tp = _alpaca_lc("generate", "--model", "big", "--tensor-parallel-size", "2", "-o", tmp_path / "tp.json", *common,
                    env=_env(tmp_path))  # fmt: skip
    assert tp.returncode == 0, tp.stderr
    (engine,) = [e for e in _log(tmp_path) if e["event"] == "engine"]
    assert engine["cuda_visible_devices"] == "0,1" and engine["arguments"]["tensor_parallel_size"] == 2
    (tmp_path / "vllm.log").unlink()
    dp = _alpaca_lc("generate", "--model", "small", "--data-parallel-size", "2", "-o", tmp_path / "dp.json", *common,
                    env=_env(tmp_path, STAND_IN_VLLM_DELAY="0.2"))  # fmt: skip
    assert dp.returncode == 0, dp.stderr
    log = _log(tmp_path)
    assert len({e["pid"] for e in log if e["event"] == "engine"}) == 2  # two replicas
    prompts = Counter(p for e in log if e["event"] == "chat" for p in e["prompts"])
    assert len(prompts) == 300 and set(prompts.values()) == {1}  # each instruction generated once
    assert len({e["pid"] for e in log if e["event"] == "chat"}) == 2  # both replicas worked


def test_a_pipeline_parallel_engine_gets_a_placement_group_and_rays_executor(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=20)
    done = _alpaca_lc("generate", "--model", "huge", "--pipeline-parallel-size", "2", "--eval-set", ws.eval_set,
                      "-o", tmp_path / "o.json", "--ray", "local", "--no-progress", env=_env(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (engine,) = [e for e in _log(tmp_path) if e["event"] == "engine"]
    assert engine["arguments"]["pipeline_parallel_size"] == 2
    assert engine["arguments"]["distributed_executor_backend"] == "ray"


def test_a_killed_replica_is_restarted_and_every_instruction_appears_once(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=805)
    out = tmp_path / "o.json"
    cmd = [sys.executable, "-m", "alpaca_lc", "generate", "--model", "m", "--eval-set", str(ws.eval_set), "-o",
           str(out), "--ray", "local", "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=_env(tmp_path, STAND_IN_VLLM_DELAY="0.5"), stderr=subprocess.PIPE, text=True)
    wait_until(lambda: sum(e["event"] == "chat" for e in _log(tmp_path)) >= 2, 120, "2 chats")
    victim = next(e["pid"] for e in _log(tmp_path) if e["event"] == "engine")
    os.kill(victim, signal.SIGKILL)  # the Ray worker holding the engine, mid-generation
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    outputs = json.loads(out.read_text())
    assert len(outputs) == len({o["instruction"] for o in outputs}) == 805
    engines = [e["pid"] for e in _log(tmp_path) if e["event"] == "engine"]
    assert len(engines) == 2 and victim in engines  # restarted once, by Ray
    print(f"\nworker {victim} killed mid-generation: restarted as {engines[1]}, 805/805 instructions once each")


def test_a_killed_driver_resumes_with_only_the_missing_instructions(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=805)
    calibration = zero_calibration(ws.eval_set, tmp_path / "cal.json")
    with LocalServer() as judge:
        env = _env(tmp_path, **ws.env(judge), STAND_IN_VLLM_DELAY="0.4")
        cmd = [sys.executable, "-m", "alpaca_lc", "evaluate", "--model", "a", "--model", "b", "--ray", "local",
               "--calibration", str(calibration), "--output-dir", str(tmp_path / "results"), "--bootstrap", "0",
               "--no-progress"]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: sum(e["event"] == "chat" for e in _log(tmp_path)) >= 5, 120, "5 chats")
        os.killpg(proc.pid, signal.SIGKILL)  # the driver, and the Ray instance it started
        proc.wait()
        killed_at = time.time()
        kept = {m: _partial(tmp_path / "results" / m) for m in ("a", "b")}
        rerun = _alpaca_lc(*cmd[3:], env=env)
        assert rerun.returncode == 0, rerun.stderr
        judged = judge.stats()["successes"]
    generated_again = _prompts_by_model(_log(tmp_path), after=killed_at)
    for model in ("a", "b"):
        assert not generated_again.get(model, set()) & kept[model]  # what was kept was not generated again
        outputs = json.loads((tmp_path / "results" / model / "model_outputs.json").read_text())
        assert len(outputs) == len({o["instruction"] for o in outputs}) == 805
    assert judged == 2 * 805  # every pair judged once over both runs
    print(
        f"\ndriver killed with {sum(map(len, kept.values()))} generations kept; the re-run generated "
        f"{sum(map(len, generated_again.values()))}; judge answers over both runs: {judged}"
    )


def _prompts_by_model(log: list[dict[str, Any]], after: float) -> dict[str, set[str]]:
    model_of = {e["pid"]: e["model"] for e in log if e["event"] == "engine"}
    found: dict[str, set[str]] = {}
    for event in log:
        if event["event"] == "chat" and event["time"] > after:
            found.setdefault(model_of[event["pid"]], set()).update(event["prompts"])
    return found


def _partial(folder: Path) -> set[str]:
    path = folder / "model_outputs.json.partial.jsonl"
    if not path.exists():
        return set()
    lines = path.read_text().splitlines()[1:]
    return {json.loads(line)["instruction"] for line in lines if line.strip().endswith("}")}


def test_ray_without_the_extra_is_one_line(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=5)
    hide_ray = ("import sys, importlib.abc\n"
                "class Hide(importlib.abc.MetaPathFinder):\n"
                "    def find_spec(self, name, path, target=None):\n"
                "        if name == 'ray' or name.startswith('ray.'): raise ImportError(name)\n"
                "sys.meta_path.insert(0, Hide())\n"
                "from alpaca_lc.cli import main\n"
                "main(sys.argv[1:])\n")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", hide_ray, "generate", "--model", "m", "--eval-set", str(ws.eval_set),
                           "--ray", "local", "-o", str(tmp_path / "o.json")], env=_env(tmp_path), capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --ray (and --data-parallel-size above 1) needs Ray: pip install 'alpaca-lc[ray]'"
    ]


def test_arena_hard_answers_from_two_replicas_on_ray(tmp_path: Path) -> None:
    """Arena-Hard-Auto's format is a parameter of the same stage: vLLM replicas on Ray write its answers."""
    questions = tmp_path / "question.jsonl"
    rows = [
        {"uid": f"q{i}", "category": "hard_prompt", "subcategory": "x", "prompt": f"Prompt {i}."} for i in range(40)
    ]
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = _alpaca_lc("generate", "--benchmark", "arena-hard-v2.0", "--model", "small", "--data-parallel-size", "2",
                      "--eval-set", questions, "-o", tmp_path / "answers.jsonl", "--ray", "local", "--no-progress",
                      env=_env(tmp_path, STAND_IN_VLLM_DELAY="0.1"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert [x["uid"] for x in lines] == [f"q{i}" for i in range(40)]
    assert all(x["messages"][-1]["content"]["answer"] for x in lines)
    assert [e for e in _log(tmp_path) if e["event"] == "engine"]  # generated by the (stand-in) vLLM on Ray
