"""Progress: a bar on a terminal, a few plain lines in a log, nothing with --no-progress."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from alpaca_lc.progress import Progress
from alpaca_lc.testing.openai_server import LocalServer

from .annotation.conftest import write_workspace


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_per_tenth_and_a_terminal_a_bar() -> None:
    log = io.StringIO()
    progress = Progress(805, "judging", "pair", stream=log)
    for _ in range(805):
        progress.update(1, spent="$0.01")
    progress.close()
    lines = log.getvalue().splitlines()
    assert (
        10 <= len(lines) <= 11 and lines[-1].startswith("judging: 805/805 pairs (100%)") and "spent $0.01" in lines[-1]
    )
    terminal = _Terminal()
    bar = Progress(50, "judging", "pair", stream=terminal)
    for _ in range(50):
        bar.update(1)
    bar.close()
    assert "\r" in terminal.getvalue() and "50/50" in terminal.getvalue()
    quiet = io.StringIO()
    off = Progress(50, "judging", "pair", enabled=False, stream=quiet)
    off.update(50)
    off.close()
    assert quiet.getvalue() == ""


def test_annotating_805_pairs_leaves_a_small_log(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path)
    with LocalServer() as server:
        cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(ws.outputs), "-o", str(tmp_path / "a.json")]
        done = subprocess.run(cmd, env={**os.environ, **ws.env(server)}, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    print(f"\nnon-terminal log of annotate over 805 pairs: {len(done.stderr):,} bytes")
    assert len(done.stderr) < 20_000 and done.stderr.count(b"judging:") >= 5


def test_generate_takes_no_progress(tmp_path: Path) -> None:
    from .generation.test_generate import write_eval_set

    write_eval_set(tmp_path, 40)
    with LocalServer(generation_words=5) as server:
        base = [sys.executable, "-m", "alpaca_lc", "generate", "--model", "m", "--backend", "openai", "--base-url",
                server.base_url, "--eval-set", str(tmp_path / "eval_set.json")]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": "sk-local"}
        shown = subprocess.run([*base, "-o", str(tmp_path / "a.json")], env=env, capture_output=True, check=False)
        quiet = subprocess.run([*base, "-o", str(tmp_path / "b.json"), "--no-progress"], env=env, capture_output=True,
                               check=False)  # fmt: skip
    assert shown.returncode == quiet.returncode == 0
    assert b"generating m: 40/40" in shown.stderr and b"generating" not in quiet.stderr
