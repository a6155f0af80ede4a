"""Batch judging against live judging, and one payer per judgment: whole `alpaca-lc` commands against the local
server, 805 pairs of claude-2 with AlpacaEval 2.0's judge on a living successor model.

1. live (50 ms latency, --concurrency 32) and --batch (a batch that takes 5 s) on fresh caches: spend, what the
   server was paid, wall time, and whether the preferences are identical;
2. --batch --no-wait, then the same command again after the batch ended: exit codes and batches created;
3. two `evaluate` runs of the model started together on one cache, live and then --batch: judgments paid.

Usage: python benchmarks/batch_judging.py
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import cli, require_shared, section

from alpaca_lc.testing.openai_server import LocalServer

SUCCESSOR = ["--judge-model", "gpt-4.1-2025-04-14"]


def _outputs(shared: Path, root: Path) -> Path:
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "index", "instruction", "output_2"])
    rows = table[table.model == "claude-2"].sort_values("index")
    path = root / "model_outputs.json"
    path.write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": "claude-2"}
                                for r in rows.itertuples()]))  # fmt: skip
    return path


def _run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.perf_counter()
    done = subprocess.run([*cli(), *args], env=env, capture_output=True, text=True, check=False)
    return done, time.perf_counter() - start


def main() -> None:
    shared = require_shared()
    root = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    outputs = _outputs(shared, root)
    base = {**os.environ, "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"), "OPENAI_API_KEY": "sk-bench"}
    with LocalServer(latency_ms=50, batch_delay_s=5) as server:
        env = {**base, "OPENAI_BASE_URL": server.base_url}
        with section("1. live against --batch, 805 pairs"):
            figures = {}
            for mode, extra in (("live", []), ("batch", ["--batch"])):
                server.configure(reset_counts=True)
                out = root / f"{mode}.json"
                done, seconds = _run(["annotate", str(outputs), "-o", str(out), "--no-progress", *SUCCESSOR,
                                      "--cache", str(root / f"{mode}.sqlite"), *extra], env)  # fmt: skip
                spent = float(re.search(r"spent \$([0-9.]+)", done.stderr).group(1))  # type: ignore[union-attr]
                stats = server.stats()
                paid = stats.get("successes", 0) + stats.get("batch_answered", 0)
                figures[mode] = (json.loads(out.read_text()), spent)
                print(f"{mode:>5}: exit {done.returncode}, {paid} judgments paid, ${spent:.4f}, {seconds:.1f} s")
            same = [r["preference"] for r in figures["live"][0]] == [r["preference"] for r in figures["batch"][0]]
            print(f"batch spend / live spend: {figures['batch'][1] / figures['live'][1]:.3f}; preferences identical: "
                  f"{same}")  # fmt: skip
        with section("2. --no-wait, then the same command"):
            server.configure(reset_counts=True)
            args = ["annotate", str(outputs), "-o", str(root / "nw.json"), "--no-progress", *SUCCESSOR, "--batch",
                    "--cache", str(root / "nw.sqlite")]  # fmt: skip
            first, _ = _run([*args, "--no-wait"], env)
            time.sleep(5.5)
            second, _ = _run(args, env)
            stats = server.stats()
            print(
                f"first exit {first.returncode} ({first.stdout.strip()}), second exit {second.returncode}; "
                f"{stats.get('batches', 0)} batch created, {stats.get('batch_answered', 0)} judgments paid"
            )
        with section("3. two evaluate runs started together on one cache"):
            for mode, extra in (("live", []), ("batch", ["--batch"])):
                server.configure(reset_counts=True)
                cache = str(root / f"together-{mode}.sqlite")
                runs = [subprocess.Popen([*cli(), "evaluate", str(outputs), "--output-dir", str(root / f"{mode}{i}"),
                                          "--bootstrap", "0", "--no-progress", "--cache", cache, *SUCCESSOR, *extra],
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                        for i in range(2)]  # fmt: skip
                codes = [p.wait() for p in runs]
                stats = server.stats()
                paid = stats.get("successes", 0) + stats.get("batch_answered", 0)
                rows = {next((root / f"{mode}{i}").rglob("leaderboard.csv")).read_text() for i in range(2)}
                print(f"{mode:>5}: exits {codes}, {paid} judgments paid for 805 pairs; same row: {len(rows) == 1}")


if __name__ == "__main__":
    main()
