"""Arena-Hard-Auto scoring speed: our `leaderboard --benchmark arena-hard-v2.0 --control length,markdown` against
the benchmark's own `show_result.py -f length markdown`, whole commands, on the same judgment and answer files.

20 models x 750 prompts (500 hard prompts, 250 creative writing) x 2 games, 100 bootstrap rounds, each category
scored by its own command (the reference scores one category per run: given two, it filters the second out of
the first's battles and stops). The reference needs torch: pass a python that has it.

    python benchmarks/arena_speed.py --python /tmp/ref/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import cli
from arena_reference import ARENA, BASELINE, questions, reference_layout, write_models

CATEGORIES = ("hard_prompt", "creative_writing")


def _timed(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a python with torch, pandas, numpy, tqdm and pyyaml")
    parser.add_argument("--models", type=int, default=20)
    args = parser.parse_args()
    if not (ARENA / f"{BASELINE}.jsonl").exists():
        print(f"skipped: shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
        return
    rng = np.random.default_rng(1)
    models = {f"model-{i:02d}": (rng.normal(0, 1), rng.normal(0, 0.4), rng.uniform(0.3, 3)) for i in range(args.models)}
    with tempfile.TemporaryDirectory() as tmp:
        ours, scratch = Path(tmp) / "ours", Path(tmp) / "reference"
        prompts = questions(None, CATEGORIES)
        write_models(ours, models, prompts, seed=2)
        answers = reference_layout(ours / "judgments", ours / "answers", scratch)
        env = dict(os.environ, PYTHONPATH=str(ARENA / "reference"))
        show = [args.python, str(ARENA / "reference" / "show_result.py"), "-f", "length", "markdown", "-c"]
        mine = [*cli(), "leaderboard", "--benchmark", "arena-hard-v2.0", str(ours / "judgments"), "--answers",
                str(answers), "--control", "length,markdown", "--category"]  # fmt: skip
        reference = sum(_timed([*show, c], cwd=scratch, env=env) for c in CATEGORIES)
        ours_s = sum(_timed([*mine, c]) for c in CATEGORIES)
    print(f"{len(models)} models x {len(prompts)} prompts x 2 games, style control (length, markdown), 100 rounds")
    print(f"reference show_result.py (both categories): {reference:.1f} s")
    print(f"alpaca-lc leaderboard   (both categories): {ours_s:.1f} s")
    print(f"speed-up: {reference / ours_s:.1f}x")


if __name__ == "__main__":
    main()
