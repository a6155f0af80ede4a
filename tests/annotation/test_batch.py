"""Batch judging and one payer per judgment, driven through the real `openai` client against the local server's
Files and Batches endpoints: the same judgments as live calls at half the price, never paid twice, whatever is
killed or run at the same time."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.annotation.cache import JudgmentCache, Owner
from alpaca_lc.endpoint.batches import BatchLine, split
from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import wait_until, zero_calibration
from .conftest import Workspace

Cli = Callable[..., Result]
FAST = {"batch_delay_s": 0.3}


def _spent(stderr: str) -> float:
    found = re.search(r"spent \$([0-9.]+)", stderr)
    assert found, stderr
    return float(found.group(1))


def _bodies(path: Path) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines())


def test_a_batch_run_is_the_live_run_at_half_the_price(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    live_out, batch_out = tmp_path / "live.json", tmp_path / "batch.json"
    with LocalServer(record=str(tmp_path / "live.jsonl"), **FAST) as server:
        live = cli("annotate", workspace.outputs, "-o", live_out, "--no-progress", "--cache", tmp_path / "a.sqlite",
                   env=workspace.env(server))  # fmt: skip
        server.configure(record=str(tmp_path / "batch.jsonl"), reset_counts=True)
        batch = cli("annotate", workspace.outputs, "-o", batch_out, "--no-progress", "--batch",
                    "--cache", tmp_path / "b.sqlite", env=workspace.env(server))  # fmt: skip
        stats = server.stats()
    assert live.exit_code == 0 and batch.exit_code == 0, batch.output
    assert stats.get("successes", 0) == 0 and stats["batch_answered"] == 805 and stats["batches"] == 1
    live_prefs = [r["preference"] for r in json.loads(live_out.read_text())]
    batch_rows = json.loads(batch_out.read_text())
    assert [r["preference"] for r in batch_rows] == live_prefs and len(live_prefs) == 805
    assert batch_rows[0]["annotator"] == json.loads(live_out.read_text())[0]["annotator"]  # the same instrument
    assert batch_rows[0]["annotator_protocol"] == json.loads(live_out.read_text())[0]["annotator_protocol"]
    # The uploaded file's request bodies are the live requests, body for body.
    assert _bodies(tmp_path / "batch.jsonl") == _bodies(tmp_path / "live.jsonl")
    assert _spent(batch.stderr) == pytest.approx(_spent(live.stderr) / 2, abs=2e-4)
    stats_out = cli("cache", "stats", env=workspace.env(None, ALPACA_LC_CACHE=str(tmp_path / "b.sqlite")))
    lines = stats_out.stdout.strip().splitlines()
    row = lines[2].split()  # the judge's row; then a table of the endpoints its judgments came from
    assert lines[-1].split()[1:] == ["805", "http://127.0.0.1/v1"]
    assert row[1:4] == ["805", "0", "805"] and float(row[-3]) == 0 and float(row[-2]) == pytest.approx(
        _spent(batch.stderr), abs=0.01)  # fmt: skip


def test_dry_run_shows_live_and_batch_cost(cli: Cli, workspace: Workspace) -> None:
    dry = cli("annotate", workspace.outputs, "--dry-run", env=workspace.env(None))
    live, batch = map(float, re.search(r"~\$([0-9.]+) live, ~\$([0-9.]+) batch", dry.stdout).groups())  # type: ignore[union-attr]
    assert dry.exit_code == 0 and batch == pytest.approx(live / 2, abs=0.011)


def _annotate(workspace: Workspace, server: LocalServer, out: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, **workspace.env(server)}
    cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(workspace.outputs), "-o", str(out), "--no-progress",
           *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _recorded_batches(cache: Path) -> int:
    with contextlib.closing(sqlite3.connect(cache)) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM batches WHERE id IS NOT NULL").fetchone()[0])
        except sqlite3.OperationalError:  # the cache is not made yet
            return 0


class _StderrLines:
    """A process's stderr read on a thread as it comes, so a test can wait for a line without blocking on it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        self._thread = threading.Thread(target=lambda: self._lines.extend(stream), daemon=True)
        self._thread.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self._lines))

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self._lines)


def test_kill_9_while_a_batch_runs_then_rerun_collects_it(cli: Cli, workspace: Workspace) -> None:
    out = workspace.root / "annotations.json"
    with LocalServer(batch_delay_s=4) as server:
        proc = _annotate(workspace, server, out, "--batch")
        wait_until(lambda: server.stats().get("batches", 0) == 1)
        wait_until(lambda: _recorded_batches(workspace.cache) == 1)  # recorded with its id; the process now waits on it
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rerun = cli("annotate", workspace.outputs, "-o", out, "--no-progress", "--batch", env=workspace.env(server))
        stats = server.stats()
    assert rerun.exit_code == 0, rerun.output
    assert stats["batches"] == 1 and stats["batch_answered"] == 805  # collected, never submitted again
    assert len(json.loads(out.read_text())) == 805


def test_no_wait_exits_4_and_the_same_command_collects(cli: Cli, workspace: Workspace) -> None:
    out = workspace.root / "annotations.json"
    with LocalServer(batch_delay_s=3600) as server:  # running until the test says otherwise, however busy the machine
        first = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-wait", env=workspace.env(server))
        assert first.exit_code == 4 and first.stdout.strip().startswith("batch_"), first.output
        assert "submitted, not finished" in first.stderr and not out.exists()
        early = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-wait", env=workspace.env(server))
        assert early.exit_code == 4 and early.stdout == first.stdout  # still running: reported, not resubmitted
        server.configure(batch_delay_s=0.1)  # and now it completes
        done = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-progress", env=workspace.env(server))
        stats = server.stats()
    assert done.exit_code == 0, done.output
    assert stats["batches"] == 1 and stats["batch_answered"] == 805 and len(json.loads(out.read_text())) == 805


@pytest.mark.parametrize(
    ("faults", "batches"),
    [({"batch_error_rate": 0.10, "batch_missing_rate": 0.02}, 2), ({"batch_expire_after": 600}, 2)],
    ids=["error-and-missing-lines", "expired-after-600"],
)
def test_unanswered_lines_are_resubmitted_once(cli: Cli, workspace: Workspace, faults: dict[str, float],
                                               batches: int) -> None:  # fmt: skip
    out = workspace.root / "annotations.json"
    with LocalServer(**FAST, **faults) as server:
        result = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-progress", env=workspace.env(server))
        stats = server.stats()
    assert result.exit_code == 0, result.output
    assert stats["batches"] == batches and stats["batch_answered"] == 805 and len(json.loads(out.read_text())) == 805
    with JudgmentCache(workspace.cache) as cache:
        assert sum(s.batch for s in cache.stats()) == 805


def test_expired_batch_keeps_600_and_resubmits_205(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    with LocalServer(**FAST, batch_expire_after=600, record=str(tmp_path / "answered.jsonl")) as server:
        result = cli("annotate", workspace.outputs, "-o", tmp_path / "a.json", "--batch", "--no-progress",
                     "--batch-fallback", "live", env=workspace.env(server))  # fmt: skip
        stats = server.stats()
    assert result.exit_code == 0, result.output
    # 600 answered in the batch and kept; the 205 it left were judged live (--batch-fallback live).
    assert stats["batch_answered"] == 600 and stats["successes"] == 205 and stats["batches"] == 1


def test_a_batch_that_fails_validation_stops_with_one_line(cli: Cli, workspace: Workspace) -> None:
    with LocalServer(**FAST, batch_invalid="line 3: the model does not support batches") as server:
        result = cli("annotate", workspace.outputs, "-o", workspace.root / "a.json", "--batch",
                     env=workspace.env(server))  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 3 and len(errors) == 1 and "failed validation" in errors[0], result.stderr
    assert "does not support batches" in errors[0]


def test_batch_files_split_at_the_api_limits() -> None:
    lines = [BatchLine(f"k{i}", {"model": "m", "messages": [{"role": "user", "content": "x" * 100}]})
             for i in range(10)]  # fmt: skip
    assert [len(f) for f in split(lines, max_requests=4)] == [4, 4, 2]
    size = len(lines[0].encoded())
    assert [len(f) for f in split(lines, max_bytes=3 * size)] == [3, 3, 3, 1]


def _evaluate(workspace: Workspace, server: LocalServer, folder: Path, calibration: Path, *extra: str
              ) -> subprocess.Popen[str]:  # fmt: skip
    env = {**os.environ, **workspace.env(server)}
    cmd = [sys.executable, "-m", "alpaca_lc", "evaluate", str(workspace.outputs), "--output-dir", str(folder),
           "--calibration", str(calibration), "--bootstrap", "0", "--no-progress", *extra]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("mode", ["live", "batch"])
def test_two_runs_started_together_pay_once(workspace: Workspace, tmp_path: Path, mode: str) -> None:
    calibration = zero_calibration(workspace.eval_set, tmp_path / "cal.json")
    extra = ("--batch",) if mode == "batch" else ()
    with LocalServer(latency_ms=20, **FAST) as server:
        runs = [_evaluate(workspace, server, tmp_path / f"run{i}", calibration, *extra) for i in range(2)]
        outcomes = [p.communicate(timeout=300) for p in runs]
        stats = server.stats()
    assert [p.returncode for p in runs] == [0, 0], [o[1][-2000:] for o in outcomes]
    paid = stats["batch_answered"] if mode == "batch" else stats["successes"]
    assert paid == 805 and stats.get("batches", 0) == (1 if mode == "batch" else 0)
    boards = [next((tmp_path / f"run{i}").rglob("leaderboard.csv")).read_text() for i in range(2)]
    assert boards[0] == boards[1]


def test_a_lease_holder_killed_9_is_taken_over(workspace: Workspace, tmp_path: Path) -> None:
    concurrency = 4
    with LocalServer(latency_ms=50) as server:
        holder = _annotate(workspace, server, tmp_path / "a.json", "--concurrency", str(concurrency))
        wait_until(lambda: server.stats().get("successes", 0) >= 100)
        waiter = _annotate(workspace, server, tmp_path / "b.json", "--concurrency", "32")
        said = _StderrLines(waiter)
        wait_until(lambda: said.has("waiting for"))  # the waiter found every missing key leased, and waits
        assert waiter.poll() is None
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        waiter.wait(timeout=120)
        stderr = said.text()
        stats = server.stats()
    assert waiter.returncode == 0, stderr
    assert "waiting for" in stderr and len(json.loads((tmp_path / "b.json").read_text())) == 805
    assert 805 <= stats["successes"] <= 805 + concurrency  # only what was in flight at the kill is paid again


def test_leases_block_live_owners_and_yield_dead_or_silent_ones(workspace: Workspace) -> None:
    me = Owner.this_process()
    alive_elsewhere = Owner("other-host:1:x", "other-host", 1)
    dead_here = Owner(f"{me.host}:999999:y", me.host, 999999)
    with JudgmentCache(workspace.cache) as cache:
        assert cache.claim(["a", "b"], alive_elsewhere, timeout=60) == ["a", "b"]
        assert cache.claim(["a", "b", "c"], me, timeout=60) == ["c"]  # a live lease elsewhere holds a and b
        assert cache.claim(["a"], me, timeout=0.0) == ["a"]  # silent past the timeout: taken over
        assert cache.claim(["d"], dead_here, timeout=60) == ["d"]
        assert cache.claim(["d"], me, timeout=60) == ["d"]  # its process is gone: taken over at once
        cache.release(me)
        assert cache.claim(["c"], alive_elsewhere, timeout=60) == ["c"]


def test_the_enqueued_token_limit_is_waited_out(workspace: Workspace) -> None:
    from alpaca_lc.config import Endpoint
    from alpaca_lc.endpoint.batches import BatchClient

    lines = [BatchLine(f"k{i}", {"model": "m", "messages": [{"role": "user", "content": "x" * 400}]})
             for i in range(10)]  # fmt: skip
    with LocalServer(batch_delay_s=1.0, batch_enqueued_tokens=1500) as server:  # one file of ~1,010 tokens fits
        client = BatchClient(Endpoint(base_url=server.base_url), stall_timeout=30)
        first = client.create(client.upload(lines), {})
        start = time.monotonic()
        second = client.create(client.upload(lines), {})  # refused (429) until the first has completed
        waited = time.monotonic() - start
        client.close()
        refusals = server.stats()["batch_429"]
    assert first.id != second.id and refusals >= 1 and waited >= 0.5


def test_a_cancelled_batch_keeps_its_answers_and_the_rest_is_resubmitted(cli: Cli, workspace: Workspace) -> None:
    from alpaca_lc.config import Endpoint
    from alpaca_lc.endpoint.batches import BatchClient

    out = workspace.root / "annotations.json"
    with LocalServer(batch_delay_s=20.0) as server:
        first = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-wait", env=workspace.env(server))
        assert first.exit_code == 4, first.output
        client = BatchClient(Endpoint(base_url=server.base_url))
        wait_until(lambda: client.state(first.stdout.strip()).completed > 0)  # some answered, most not
        cancelled = client.cancel(first.stdout.strip())
        client.close()
        server.configure(batch_delay_s=0.1)  # the resubmitted rest completes at once
        rerun = cli("annotate", workspace.outputs, "-o", out, "--batch", "--no-progress", env=workspace.env(server))
        stats = server.stats()
    assert cancelled.status == "cancelled" and 0 < cancelled.completed < 805
    assert rerun.exit_code == 0, rerun.output
    assert stats["batches"] == 2 and stats["batch_answered"] == 805 and len(json.loads(out.read_text())) == 805


def test_dry_run_counts_what_open_batches_hold_as_paid_for(cli: Cli, workspace: Workspace) -> None:
    with LocalServer(batch_delay_s=5) as server:
        submitted = cli("annotate", workspace.outputs, "--batch", "--no-wait", env=workspace.env(server))
        dry = cli("annotate", workspace.outputs, "--dry-run", env=workspace.env(server))
    assert submitted.exit_code == 4 and dry.exit_code == 0
    assert "805 in batches already submitted; 0 calls" in dry.stdout and "~$0.00 live" in dry.stdout, dry.stdout


def test_a_live_holder_keeps_its_leases_past_the_timeout_by_heartbeat(workspace: Workspace, tmp_path: Path) -> None:
    short = {"ALPACA_LC_LEASE_TIMEOUT": "1"}  # heartbeats every 0.25 s; a silent lease is taken over after 1 s
    with LocalServer(latency_ms=40) as server:
        env = {**os.environ, **workspace.env(server), **short}
        cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(workspace.outputs), "--no-progress",
               "--concurrency", "4"]  # fmt: skip
        holder = subprocess.Popen([*cmd, "-o", str(tmp_path / "a.json")], env=env, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: server.stats().get("successes", 0) >= 50)
        waiter = subprocess.Popen([*cmd, "-o", str(tmp_path / "b.json")], env=env, stderr=subprocess.PIPE, text=True)
        outcomes = [holder.communicate(timeout=120), waiter.communicate(timeout=120)]
        stats = server.stats()
    assert [holder.returncode, waiter.returncode] == [0, 0], [o[1][-1000:] for o in outcomes]
    assert stats["successes"] == 805  # the holder ran ~8 s, far past the timeout: its heartbeat kept its leases
