"""Generation throughput through the openai backend against a local server with a set latency.

The reference is the ideal rate, concurrency / latency (320 requests/s at 64 and 200 ms); the ratio says
how much of it the shared client and the per-output partial-file writes keep. The server runs in its own
process on 127.0.0.1 and stops by itself.

Usage: python benchmarks/generate_throughput.py [--requests 805] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from alpaca_lc.config import GenerateConfig
from alpaca_lc.generation.run import run_generate
from alpaca_lc.testing.openai_server import LocalServer


def run(latency_ms: float, n: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, LocalServer(latency_ms=latency_ms, generation_words=200) as server:
        eval_set = Path(tmp) / "eval.json"
        eval_set.write_text(json.dumps([{"instruction": f"Benchmark instruction {i}."} for i in range(n)]))
        os.environ["OPENAI_API_KEY"] = "sk-bench"
        config = GenerateConfig(model="bench-model", backend="openai", base_url=server.base_url, eval_set=eval_set,
                                progress=False,
                                output=Path(tmp) / "outputs.json", concurrency=concurrency)  # fmt: skip
        start = time.perf_counter()
        result = run_generate(config)
        seconds = time.perf_counter() - start
        assert result.generated == n and server.stats()["successes"] == n
        return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=805)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(f"{args.requests} generations (200 words each), concurrency {args.concurrency}, local server")
    for latency in (200.0, 0.0):
        rate = run(latency, args.requests, args.concurrency)
        if latency:
            ideal = args.concurrency / (latency / 1000)
            print(f"latency {latency:>5.0f} ms: {rate:7.1f} requests/s, {rate / ideal:.2f} of the ideal {ideal:.0f}/s")
        else:
            print(f"latency     0 ms: {rate:7.1f} requests/s (client-bound)")


if __name__ == "__main__":
    main()
