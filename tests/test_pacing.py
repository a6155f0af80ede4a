"""The budget and the in-flight limit, unit by unit: what a provider's headers and 429 answers teach the client."""

from __future__ import annotations

import asyncio
import random

import pytest

from alpaca_lc.endpoint.client import exhausted_budget, server_wait
from alpaca_lc.endpoint.inflight import AdaptiveLimit
from alpaca_lc.endpoint.pacing import Bucket, Budget, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("8.64s", 8.64), ("6m0s", 360.0), ("1h2m3s", 3723.0), ("1.5", 1.5), ("0s", 0.0), ("soon", None)],
)
def test_openai_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (None if seconds is None else pytest.approx(seconds))


def test_rate_is_learned_from_headers_whatever_the_window() -> None:
    """30,000 tokens per 2 s: (limit - remaining) / reset gives 15,000 a second, not 30,000 a minute."""
    bucket = Bucket()
    bucket.observe(30_000, 30_000, 0.0, now=0.0)
    assert bucket.rate is None  # a full bucket tells nothing about its refill
    for t, remaining in enumerate([24_000, 12_000, 3_000]):
        bucket.observe(30_000, remaining, (30_000 - remaining) / 15_000, now=1.0 + t)
    assert bucket.server_rate == pytest.approx(15_000) and bucket.capacity == 30_000
    assert bucket.level <= 3_000  # never more than the server says remains
    assert bucket.wait_for(4_500) == pytest.approx((4_500 - bucket.level) / bucket.rate)  # type: ignore[operator]


def test_the_users_cap_wins_when_lower() -> None:
    bucket = Bucket(user_rate=100.0)  # --tpm 6000
    bucket.observe(30_000, 10_000, 20 / 15, now=0.0)
    assert bucket.rate == 100.0 and bucket.capacity == 6_000


def test_others_spending_on_the_key_slows_this_run_down() -> None:
    """The server's count falls by more than this run spends: the difference is someone else's, per second."""
    bucket = Bucket()
    bucket.observe(30_000, 20_000, 10_000 / 15_000, now=0.0)
    remaining = 20_000.0
    for step in range(1, 40):
        bucket.take(1_000)  # this run: 1,000 tokens per 0.1 s = 10,000/s
        remaining += 1_500 - 1_000 - 400  # refill 15,000/s, this run, another process at 4,000/s
        bucket.observe(30_000, remaining, (30_000 - remaining) / 15_000, now=step * 0.1)
    assert bucket.foreign == pytest.approx(4_000, rel=0.05)
    assert bucket.rate == pytest.approx(11_000, rel=0.05)


def test_budget_paces_and_syncs() -> None:
    async def run() -> float:
        budget = Budget(tpm=60_000)  # 1,000 tokens a second, a bucket of 60,000
        budget.buckets["tokens"].level = 0.0
        loop = asyncio.get_running_loop()
        start = loop.time()
        await budget.acquire(300)
        return loop.time() - start

    assert 0.25 < asyncio.run(run()) < 0.6


def test_adaptive_limit_halves_once_per_round_on_a_budget_and_grows_back() -> None:
    limit = AdaptiveLimit(32)
    assert limit.throttled(round_seconds=10, level=32, budget=True)
    assert not limit.throttled(round_seconds=10, level=31, budget=True)  # the same burst: one cut
    assert limit.limit == 16
    for _ in range(16):
        limit.succeeded(level=16)
    assert 16.9 < limit.limit < 17.1  # one more per round of successes


def test_load_independent_refusals_keep_the_limit() -> None:
    """30% of requests refused whatever the load (a provider's bad hour): no cut, however long it goes on."""
    rng = random.Random(1)
    limit = AdaptiveLimit(32)
    for level in range(1, 33):  # the first burst: every level once
        _outcome(limit, level, refused=rng.random() < 0.3)
    for _ in range(3000):  # then saturated: every request is sent at the limit
        _outcome(limit, int(limit.limit), refused=rng.random() < 0.3)
    assert limit.limit >= 31


def test_refusals_above_what_the_server_holds_settle_the_limit_there() -> None:
    """A server holding 8 at once refuses the rest: the limit goes to 8 and probes above it ever more rarely."""
    limit = AdaptiveLimit(32)
    refused = 0
    for level in range(1, 33):
        refused += _outcome(limit, level, refused=level > 8)
    assert limit.limit == 8
    for _ in range(800):
        level = min(int(limit.limit), 32)
        refused += _outcome(limit, level, refused=level > 8)
    assert 8 <= limit.limit < 9.01 and refused <= 24 + 8  # the first burst, then a few probes


def test_when_the_server_holds_fewer_the_limit_walks_down_to_it() -> None:
    """Refusals over several levels (the server holds 4; answers in transit blur the levels): each level is
    judged against where the server is calm, not against the refused levels just below it."""
    limit = AdaptiveLimit(32)
    for _ in range(20):
        for level in range(1, 5):
            limit.succeeded(level)
    limit.limit = 8.0  # say it grew there while the server held more
    refused = 0
    for _ in range(400):
        level = max(1, int(limit.limit))
        refused += _outcome(limit, level, refused=level > 4)
    assert 4 <= limit.limit < 5.01 and refused <= 12


def test_a_cut_on_suspicion_is_undone_once_the_levels_below_fare_no_better() -> None:
    rng = random.Random(3)
    limit = AdaptiveLimit(32)
    _outcome(limit, 1, refused=False)
    _outcome(limit, 2, refused=True)  # nothing known below yet: suspect, cut to 1
    assert limit.limit == 1
    for level in range(3, 33):  # the rest of the first burst: 30% refused, as anywhere
        _outcome(limit, level, refused=rng.random() < 0.3)
    assert limit.limit < 16
    for _ in range(12):  # below the level refused: refused as often as anywhere
        _outcome(limit, 1, refused=rng.random() < 0.3)
    assert limit.limit >= 31


def _outcome(limit: AdaptiveLimit, level: int, refused: bool) -> bool:
    if refused:
        limit.throttled(round_seconds=1.0, level=level, budget=False)
    else:
        limit.succeeded(level)
    return refused


def test_budget_refusals_are_told_from_the_others() -> None:
    message = "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000"
    assert exhausted_budget(_headers(), message)
    low = _headers(x_ratelimit_limit_requests="500", x_ratelimit_remaining_requests="0")
    assert exhausted_budget(low, "Too Many Requests")
    plenty = _headers(x_ratelimit_limit_tokens="30000", x_ratelimit_remaining_tokens="20000")
    assert not exhausted_budget(plenty, "rate limited") and not exhausted_budget(_headers(), "Too Many Requests")


def _headers(**values: str) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in values.items()}  # lower-case names, as httpx gives them


def test_wait_asked_by_a_rate_limited_answer_in_order_of_authority() -> None:
    message = "Rate limit reached for gpt-4 on tokens per min (TPM): Limit 30000. Please try again in 1.234s. Visit"
    assert server_wait(_headers(retry_after_ms="250", retry_after="3"), message) == 0.25
    assert server_wait(_headers(retry_after="3"), message) == 3.0
    exhausted = _headers(x_ratelimit_limit_tokens="30000", x_ratelimit_remaining_tokens="100",
                         x_ratelimit_reset_tokens="1.8s")  # fmt: skip
    assert server_wait(exhausted, message) == pytest.approx(1.8)
    assert server_wait(_headers(), message) == pytest.approx(1.234)
    assert server_wait(_headers(), "rate limited") is None  # then: backoff with jitter
