"""Whole commands as a user types them, process start to exit: `--help`, a fully cached `evaluate`, and cold
judging against a local server with a set latency (its ideal is concurrency / latency).

Each command runs once to warm Python's bytecode and the OS file cache, then several times; the median is
printed with the spread. The environment drops PYTHONDONTWRITEBYTECODE (a sandbox setting, not a user's) so
that imports read compiled bytecode as on a user's machine.

Usage: python benchmarks/command_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import cli, require_shared

from alpaca_lc.testing.openai_server import LocalServer

MODEL = "claude-2"


def run(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    start = time.perf_counter()
    done = subprocess.run([*cli(), *args], env=env, capture_output=True, check=False)
    return time.perf_counter() - start, done


def timed(label: str, args: list[str], env: dict[str, str], runs: int) -> list[float]:
    run(args, env)  # warm-up: bytecode, file cache
    times = []
    for _ in range(runs):
        seconds, done = run(args, env)
        if done.returncode != 0:
            sys.exit(f"{label} failed:\n{done.stderr.decode()[-2000:]}")
        times.append(seconds)
    print(f"{label}: median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, {runs} runs)")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    shared = require_shared()
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = pd.read_parquet(shared / "annotations.parquet").query("model == @MODEL").sort_values("index")
        annotations, outputs = root / "annotations.json", root / "model_outputs.json"
        annotations.write_text(rows.drop(columns=["index", "model"]).to_json(orient="records"))
        outputs.write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": MODEL}
                                       for r in rows.itertuples()]))  # fmt: skip
        env = {**base, "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"), "OPENAI_API_KEY": "sk-bench",
               "ALPACA_LC_CACHE": str(root / "cache.sqlite"), "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # fmt: skip

        timed("alpaca-lc --help", ["--help"], env, args.runs)
        subprocess.run([*cli(), "cache", "import", str(annotations)], env=env, check=True, capture_output=True)
        cached = ["evaluate", str(outputs), "--output-dir", str(root / "results"), "--no-progress"]
        timed(f"fully cached evaluate of {MODEL}'s 805 pairs (bootstrap 1000)", cached, env, args.runs)

        with LocalServer(latency_ms=200) as server:
            rates = []
            for i in range(-1, 3):  # the first is a warm-up
                cold = {**env, "OPENAI_BASE_URL": server.base_url, "ALPACA_LC_CACHE": str(root / f"cold{i}.sqlite")}
                judge = ["annotate", str(outputs), "-o", str(root / f"cold{i}.json"), "--concurrency", "64"]
                seconds, done = run(judge, cold)
                if done.returncode != 0:
                    sys.exit(done.stderr.decode()[-2000:])
                if i >= 0:
                    rates.append(804 / seconds)
                    log = len(done.stderr)
        print(f"cold judging, 804 pairs at 200 ms, concurrency 64, whole command: median "
              f"{statistics.median(rates):.0f} pairs/s ({statistics.median(rates) / 320:.2f} of the ideal 320/s; "
              f"{min(rates):.0f}-{max(rates):.0f}); its log on a non-terminal stderr: {log:,} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
