"""The gate's judge-drift check: its false-alarm rate on an unchanged judge, and its power against one that flips 10%
of its verdicts, at the default sample (100) and tolerance (2%, a judge read from logprobs).

1. Simulated: 200 runs each of 100 verdicts re-judged by a judge that disagrees with itself 2% of the time (no
   drift), and by one that also flips 10% of its verdicts (drift); the share of runs the check alarms on.
2. Through the test server (`jitter` is a judge's own run-to-run noise, `drift` a share of requests whose verdict
   the judge now gives the other way): 200 re-judgings of the same 100 judge requests each, compared with the
   first judging by the check's own test (`stats.drift.flip_test`).

Usage: python benchmarks/drift_check.py [--runs 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os

import numpy as np
from _common import section

from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.calls import ChatRequest, ClientSettings
from alpaca_lc.stats.drift import alarm_threshold, flip_test
from alpaca_lc.testing.openai_server import LocalServer

SAMPLE, TOLERANCE, DRIFT = 100, 0.02, 0.10


def simulated(runs: int, rng: np.random.Generator) -> None:
    old = np.where(rng.random((runs, SAMPLE)) < 0.5, 1.1, 1.9)
    for label, rate in (
        ("no drift (2% self-disagreement)", TOLERANCE),
        ("drift: 10% more verdicts flipped", TOLERANCE + DRIFT * (1 - 2 * TOLERANCE)),
    ):
        new = np.where(rng.random(old.shape) < rate, 3.0 - old, old)
        alarms = np.mean([flip_test(o, n, TOLERANCE).drifted for o, n in zip(old, new, strict=True)])
        print(f"{label}: alarm in {alarms:.1%} of {runs} runs")


async def _judge(client: object, bodies: list[list[dict[str, str]]]) -> np.ndarray:
    from alpaca_lc.endpoint.client import ChatClient

    assert isinstance(client, ChatClient)
    decoding = {"max_tokens": 1, "logprobs": True, "top_logprobs": 2, "temperature": 0}

    def read(choice: dict[str, object]) -> float:
        top = choice["logprobs"]["content"][0]["top_logprobs"]  # type: ignore[index]
        return float(1 + np.exp(next(t["logprob"] for t in top if t["token"] == "M")))  # type: ignore[index]

    done = await asyncio.gather(*(client.complete(ChatRequest("judge", m, decoding, read)) for m in bodies))
    return np.array([d.value for d in done])


async def through_server(runs: int) -> None:
    from alpaca_lc.endpoint.client import ChatClient

    bodies = [[{"role": "user", "content": f"pair {i}: which is better, m or M?"}] for i in range(SAMPLE)]
    with LocalServer() as server:
        os.environ.setdefault("OPENAI_API_KEY", "sk-local")
        client = ChatClient(Endpoint(base_url=server.base_url), ClientSettings(concurrency=64))
        first = await _judge(client, bodies)
        for label, settings in (("no drift (jitter 2%)", {"jitter": TOLERANCE}),
                                ("drift 10% (and jitter 2%)", {"jitter": TOLERANCE, "drift": DRIFT})):  # fmt: skip
            server.configure(**settings)
            alarms, flips = 0, []
            for _ in range(runs):
                test = flip_test(first, await _judge(client, bodies), TOLERANCE)
                alarms += test.drifted
                flips.append(test.flips / max(test.compared, 1))
            print(f"{label}: alarm in {alarms / runs:.1%} of {runs} runs (mean flip rate {np.mean(flips):.3f})")
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(f"sample {SAMPLE}, tolerance {TOLERANCE:.0%}: drift is signalled at {alarm_threshold(SAMPLE, TOLERANCE)} "
          f"flips or more of {SAMPLE} (fewer when near-ties are left out)")  # fmt: skip
    with section("simulated verdicts"):
        simulated(args.runs, np.random.default_rng(0))
    with section("through the test server"):
        asyncio.run(through_server(args.runs))


if __name__ == "__main__":
    main()
