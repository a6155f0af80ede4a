"""A new user's first run, as the README writes it: the "try it" block runs as written (local server, generate,
evaluate), and running `evaluate` again makes no call."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def _try_it() -> str:
    """The block as written, but for its port: 8765 is taken by another run of this test on a busy machine (two test
    runs at once, say), so a port free now stands in for it everywhere it appears."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- try-it.*?-->\n```bash\n(.*?)```", readme, re.S)
    assert block, "the README's try-it block is missing"
    assert block.group(1).count("8765") == 2, "the block's server port is expected in two places"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return block.group(1).replace("8765", str(s.getsockname()[1]))


def test_the_readme_try_it_block_runs_as_written(shared: Path, tmp_path: Path) -> None:
    # The block is run from a project folder with ../shared beside it, as in a checkout.
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "shared").symlink_to(shared.parents[1], target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ALPACA_LC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    last = _try_it().strip().splitlines()[-1]  # the evaluate command, run a second time below
    script = f"set -e\ntrap 'kill $! 2>/dev/null || true' EXIT\n{_try_it()}\n{last} 2> again.log\n"
    done = subprocess.run(["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"^\| ⚠️ my-model \| \d", done.stdout, re.M), done.stdout  # flagged partial: 50 of 805
    assert "flag partial: judged on 50 of 805 instructions of the eval set (--max-instances 50)" in done.stdout
    boards = list((project / "results" / "my-model").glob("*/leaderboard.csv"))
    assert len(boards) == 1 and boards[0].parent.name == "weighted_alpaca_eval_gpt4_turbo@gpt-5.4-mini+verdict+low"
    rows = list(csv.DictReader(boards[0].open()))
    assert len(rows) == 1 and rows[0]["n_total"] == "50" and 0 < float(rows[0]["length_controlled_winrate"]) < 100
    assert re.search(r"50 needed, 50 cached, 0 identical \(1\.5, no call\), 0 new", (project / "again.log").read_text())
