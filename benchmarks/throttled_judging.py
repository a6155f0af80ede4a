"""Judging under a provider's rate limits: whole `alpaca-lc annotate` commands against a local server that
enforces an OpenAI-like token budget, each scenario's wall time as a ratio to its ideal.

Ideal of a budget-bound run: (tokens billed - the bucket's initial tokens) / refill rate; of a latency-bound
run: pairs / (concurrency / latency); of a server that holds K requests at once: pairs x latency / K; of a run
through a provider's bad hour: the same command with the in-flight limit held at --concurrency
(`ALPACA_LC_HOLD_CONCURRENCY=1`), run beside it. The server counts what it billed and every answer of 429.

Scenarios (805 pairs of a shared model, AlpacaEval 2.0's judge, default settings unless said):
1. 30,000 tokens per 2 s (a 30k TPM limit with time compressed 30x), 300 ms latency, no Retry-After;
2a. the same with Retry-After; 2b. a 10 s window (150,000 tokens per 10 s); 2c. two processes judging two
    models at once against one shared 30,000 / 2 s budget;
3. a generous budget (2M tokens per 60 s), 2 s latency, --concurrency 64;
4. a provider's bad hour: 30% of requests 429 with Retry-After: 1 and no rate-limit headers (whatever the load),
   10% 500, 5% hangs of 30 s, 5% malformed, 50 ms latency, --concurrency 32, default --timeout (60 s);
5. the same faults on top of the 30,000 tokens / 2 s budget;
6. an overloaded server: 429 with no headers to whatever is beyond 8 requests in flight, 100 ms, --concurrency 32.

Usage: python benchmarks/throttled_judging.py [--pairs 805] [--scenarios 1 2a 2b 2c 3 4 5 6]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import cli, require_shared

from alpaca_lc.testing.openai_server import LocalServer

BUDGET = {"budget_tokens": 30_000, "budget_window_s": 2.0, "latency_ms": 300}
BAD_HOUR = {"rate_429": 0.30, "retry_after_s": 1.0, "rate_500": 0.10, "rate_hang": 0.05, "hang_s": 30.0,
            "rate_malformed": 0.05, "latency_ms": 50, "seed": 11}  # fmt: skip
HOLD = {"ALPACA_LC_HOLD_CONCURRENCY": "1"}
SCENARIOS = {
    "1": ("30k tokens / 2 s, 300 ms, no Retry-After", BUDGET, 1, []),
    "2a": ("the same with Retry-After", {**BUDGET, "budget_retry_after": True}, 1, []),
    "2b": ("150k tokens / 10 s window, 300 ms", {**BUDGET, "budget_tokens": 150_000, "budget_window_s": 10.0}, 1, []),
    "2c": ("two processes, one shared 30k / 2 s budget", BUDGET, 2, []),
    "3": ("2M tokens / 60 s, 2 s latency, --concurrency 64",
          {"budget_tokens": 2_000_000, "budget_window_s": 60.0, "latency_ms": 2000}, 1, ["--concurrency", "64"]),
    "4": ("a bad hour: 30% 429 (Retry-After 1, no headers), 10% 500, 5% 30 s hangs, 5% malformed, 50 ms",
          BAD_HOUR, 1, ["--concurrency", "32"]),
    "5": ("the bad hour on top of 30k tokens / 2 s", {**BAD_HOUR, **BUDGET, "latency_ms": 50}, 1, []),
    "6": ("429 (no headers) beyond 8 in flight, 100 ms, --concurrency 32", {"max_in_flight": 8, "latency_ms": 100},
          1, ["--concurrency", "32"]),
}  # fmt: skip
MODELS = ("claude-2", "vicuna-7b-v1.5")


def outputs(shared: Path, root: Path, model: str, pairs: int) -> Path:
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "index", "instruction", "output_2"])
    rows = table[table.model == model].sort_values("index").head(pairs)
    path = root / f"{model}.json"
    path.write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": model}
                                for r in rows.itertuples()]))  # fmt: skip
    return path


def judge(shared: Path, key: str, pairs: int, hold: bool = False) -> tuple[float, dict[str, int], list[str]] | None:
    """One scenario's whole commands: (seconds, the server's counters, their stderr), None if one failed."""
    title, settings, processes, extra = SCENARIOS[key]
    with tempfile.TemporaryDirectory() as tmp, LocalServer(**settings) as server:
        root = Path(tmp)
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-bench",
               "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
               "ALPACA_LC_CACHE": str(root / "cache.sqlite"), **(HOLD if hold else {})}  # fmt: skip
        start = time.perf_counter()
        procs = [
            subprocess.Popen([*cli(), "annotate", str(outputs(shared, root, m, pairs)),
                              "-o", str(root / f"{m}.annotations.json"), "--no-progress", *extra],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for m in MODELS[:processes]
        ]  # fmt: skip
        results = [p.communicate() for p in procs]
        seconds = time.perf_counter() - start
        stats = server.stats()
    failed = [err for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    if failed:
        print(f"{key}. {title}{' (limit held)' if hold else ''}: FAILED\n{failed[0][-2000:]}")
        return None
    return seconds, stats, [err for _, err in results]


def run(shared: Path, key: str, pairs: int) -> None:
    title, settings, _, extra = SCENARIOS[key]
    judged = judge(shared, key, pairs)
    if judged is None:
        return
    seconds, stats, errors = judged
    paid = stats.get("successes", 0)
    reference = ""
    if key == "4":  # against the same command with the in-flight limit held at --concurrency
        held = judge(shared, key, pairs, hold=True)
        if held is None:
            return
        ideal = held[0]
        reference = f" (held at 32: {held[1].get('successes', 0)} judgments, {held[1].get('429', 0)} answers of 429)"
    elif "max_in_flight" in settings:
        ideal = pairs * settings["latency_ms"] / 1000 / settings["max_in_flight"]
    elif "latency_ms" in settings and settings["latency_ms"] >= 1000:
        concurrency = int(extra[1]) if extra else 32
        ideal = paid / (concurrency / (settings["latency_ms"] / 1000))
    else:
        rate = settings["budget_tokens"] / settings["budget_window_s"]
        ideal = (stats.get("tokens_billed", 0) - settings["budget_tokens"]) / rate
    throughput = paid / seconds
    print(f"{key}. {title}: {paid} judgments in {seconds:.1f} s, {seconds / ideal:.3f}x the ideal {ideal:.1f} s; "
          f"{stats.get('429', 0)} answers of 429 ({100 * stats.get('429', 0) / max(paid, 1):.1f}% of paid); "
          f"{throughput:.1f} judgments/s; peak in flight {stats.get('peak_in_flight')}{reference}")  # fmt: skip
    for err in errors:
        own = re.search(r"new in ([\d.]+) s \(([\d.]+)/s\)", err)
        judging = f"judging itself {own.group(2)}/s over {own.group(1)} s; " if own else ""
        if "latency_ms" in settings and settings["latency_ms"] >= 1000 and own:
            judging += f"{float(own.group(2)) / (paid / ideal):.3f} of concurrency/latency; "
        print("   " + judging + " | ".join(line for line in err.strip().splitlines() if "rate limits" in line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=805)
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    args = parser.parse_args()
    shared = require_shared()
    print(f"{args.pairs} pairs per model, whole `alpaca-lc annotate` processes, default settings unless said")
    for key in args.scenarios:
        run(shared, key, args.pairs)


if __name__ == "__main__":
    main()
