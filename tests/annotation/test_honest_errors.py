"""Progress and errors that say what happened: the bar counts what finished, an endpoint that is not an API is
named with what it answered, and answers received before Ctrl-C are kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

from click.testing import Result

from alpaca_lc.annotation.cache import JudgmentCache
from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import wait_until
from .conftest import Workspace

Cli = Callable[..., Result]


def test_a_web_page_instead_of_an_api_is_named_with_what_it_answered(cli: Cli, workspace: Workspace) -> None:
    with LocalServer(html_answers=True) as server:
        result = cli("annotate", workspace.outputs, "--max-instances", "10", "-o", workspace.root / "a.json",
                     env=workspace.env(server))  # fmt: skip
        asked = server.stats()["html"]
    assert result.exit_code == 3 and not (workspace.root / "a.json").exists()
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert f"{server.base_url}/chat/completions answered status 200" in error and "<!DOCTYPE html>" in error
    assert "not an OpenAI-compatible API" in error
    assert asked <= 20  # the first round and one retry, not 8 attempts for each of the 10 pairs
    assert "(100%)" not in result.stderr  # the progress lines count what finished: nothing


def test_a_retired_judge_never_shows_a_full_bar(cli: Cli, workspace: Workspace) -> None:
    with LocalServer(missing_models="gpt-4-1106-preview") as server:
        result = cli("annotate", workspace.outputs, "--max-instances", "20", "-o", workspace.root / "a.json",
                     env=workspace.env(server))  # fmt: skip
    assert result.exit_code == 3 and "retired by its provider" in result.stderr
    assert "20/20" not in result.stderr and "(100%)" not in result.stderr


def _default_sigint() -> None:
    # A job started in the background inherits SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: the child gets the default disposition whatever started this test.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_answers_received_before_ctrl_c_are_kept(workspace: Workspace) -> None:
    out = workspace.root / "a.json"
    cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(workspace.outputs), "-o", str(out), "--no-progress",
           "--concurrency", "32"]  # fmt: skip
    with LocalServer(latency_ms=500) as server:
        env = {**os.environ, **workspace.env(server)}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_default_sigint)  # fmt: skip
        wait_until(lambda: server.stats().get("successes", 0) >= 100, 120, "100 judgments")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        answered = server.stats()["successes"]
        assert proc.returncode == 130 and not out.exists(), stderr
        assert "waiting up to 30 s for the" in stderr and "interrupted: finished work is kept" in stderr
        with JudgmentCache(workspace.cache) as cache:
            kept = sum(s.judgments for s in cache.stats())
        assert kept == answered  # every answer the server sent was committed before the process exited
        rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert rerun.returncode == 0, rerun.stderr
        total = server.stats()["successes"]
    assert len(json.loads(out.read_text())) == 805 and total == 805  # nothing paid twice
