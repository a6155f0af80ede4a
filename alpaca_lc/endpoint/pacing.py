"""Pacing requests to a provider's limits: a token and request budget (the in-flight limit is `inflight`).

Providers limit tokens and requests per minute and say where a key stands in every answer's
`x-ratelimit-limit-*`, `-remaining-*` and `-reset-*` headers (reset: the time until the limit is whole again,
written like `20ms`, `8.64s`, `6m0s`). The budget is a pair of continuously refilled buckets: capacity = the
limit, refill rate = (limit - remaining) / reset, learned from the headers rather than assumed to be per minute
(a server that compresses time works the same way), or set by the user (`--tpm`, `--rpm`). Each answer's
`remaining` lowers the local level when it is below it: when another process spends from the same key, this run
slows down instead of fighting it. aiolimiter's leaky bucket cannot be re-synced to a server's count, hence
these few lines of our own.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

FOREIGN_SECONDS = 10.0  # how far back others' spending is averaged
FOREIGN_MIN_SECONDS = 1.0  # ...and over how long at least
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
KINDS = ("tokens", "requests")


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OpenAI-style duration (`20ms`, `8.64s`, `6m0s`, `1h2m3s`) or a plain number; None if neither."""
    if text is None:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


@dataclass
class Bucket:
    """One limit: capacity, the server's refill rate (None while unknown: no pacing), this run's level.

    This run refills at the server's rate less what others spend from the same key (`foreign`), measured as
    the part of the server's count that this run's own charges and the refill do not explain, so that two
    processes on one key settle on shares that add up to the limit instead of taking turns at 429s.
    """

    user_rate: float | None = None  # the user's own cap (--tpm / 60), per second
    capacity: float | None = None
    server_rate: float | None = None
    level: float = 0.0
    stamp: float = 0.0
    foreign: float = 0.0  # others' spending, per second
    _deficit: float = 0.0  # decayed sums of (limit - remaining) and reset, whose ratio is the server's rate
    _reset: float = 0.0
    _seen: tuple[float, float] | None = None  # the last observation: (remaining, time)
    _charged: float = 0.0  # this run's charges since then
    _spent: float = 0.0  # decayed sums of others' spending and of the time it was measured over
    _over: float = 0.0

    def __post_init__(self) -> None:
        if self.user_rate is not None:
            self.capacity = self.level = self.user_rate * 60

    @property
    def rate(self) -> float | None:
        """This run's refill rate: the server's less others' spending, within the user's cap."""
        if self.server_rate is None:
            return self.user_rate
        own = max(0.05 * self.server_rate, self.server_rate - self.foreign)
        return own if self.user_rate is None else min(own, self.user_rate)

    def refill(self, now: float) -> None:
        rate = self.rate
        if self.capacity is not None and rate is not None:
            self.level = min(self.capacity, self.level + (now - self.stamp) * rate)
        self.stamp = now

    def take(self, amount: float) -> None:
        """Charge `amount` (negative: give back what a request turned out not to cost)."""
        self.level = self.level - amount if self.capacity is None else min(self.capacity, self.level - amount)
        self._charged += amount

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` fits (0 when the limit is unknown)."""
        rate = self.rate
        if self.capacity is None or rate is None or self.level >= min(amount, self.capacity):
            return 0.0
        return (min(amount, self.capacity) - self.level) / rate

    def observe(self, limit: float, remaining: float, reset: float | None, now: float) -> None:
        """Sync with the server's view: its limit, what remains, and how long until it is whole again."""
        self.refill(now)
        if self.capacity is None:
            self.level = remaining
        self.capacity = limit if self.user_rate is None else min(limit, self.user_rate * 60)
        if reset is not None and reset > 0 and remaining < limit:
            self._deficit = 0.9 * self._deficit + (limit - remaining)
            self._reset = 0.9 * self._reset + reset
            self.server_rate = self._deficit / self._reset
        self._measure_foreign(limit, remaining, now)
        self.level = min(self.level, remaining, self.capacity)

    def _measure_foreign(self, limit: float, remaining: float, now: float) -> None:
        seen, self._seen = self._seen, (remaining, now)
        charged, self._charged = self._charged, 0.0
        if seen is None or self.server_rate is None or now <= seen[1]:
            return
        dt = now - seen[1]
        # When the server's bucket is (nearly) full, nobody is short, whoever spends: count nothing.
        full = max(seen[0], remaining) >= 0.9 * limit
        spent = 0.0 if full else seen[0] + self.server_rate * dt - charged - remaining
        decay = math.exp(-dt / FOREIGN_SECONDS)
        self._spent = decay * self._spent + spent
        self._over = decay * self._over + dt
        # Over less than a second, the counts of a run's first burst (charged before the first answer, deducted by
        # the server after it) would read as thousands of tokens a second spent by others: average over one at least.
        self.foreign = max(0.0, self._spent / max(self._over, FOREIGN_MIN_SECONDS))


class Budget:
    """The token and request budget of one endpoint, shared by all of a run's requests."""

    def __init__(self, tpm: float | None = None, rpm: float | None = None) -> None:
        self.buckets = {
            "tokens": Bucket(None if tpm is None else tpm / 60),
            "requests": Bucket(None if rpm is None else rpm / 60),
        }
        now = time.monotonic()
        for bucket in self.buckets.values():
            bucket.stamp = now
        self._lock = asyncio.Lock()  # first come, first served: a large request is not starved
        self._not_before = 0.0
        self.waited = 0.0  # seconds the run spent waiting for budget
        self.waiting = False

    async def acquire(self, tokens: float) -> None:
        """Wait until `tokens` and one request fit, then take them."""
        async with self._lock:
            while True:
                now = time.monotonic()
                for bucket in self.buckets.values():
                    bucket.refill(now)
                wait = max(self._not_before - now, self.buckets["tokens"].wait_for(tokens),
                           self.buckets["requests"].wait_for(1))  # fmt: skip
                if wait <= 0:
                    self.buckets["tokens"].take(tokens)
                    self.buckets["requests"].take(1)
                    self.waiting = False
                    return
                self.waiting = True
                await asyncio.sleep(min(wait, 1.0))
                self.waited += time.monotonic() - now

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn from an answer's `x-ratelimit-*` headers (absent headers change nothing)."""
        now = time.monotonic()
        for kind, bucket in self.buckets.items():
            limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
            remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
            if limit is not None and remaining is not None and limit > 0:
                bucket.observe(limit, remaining, parse_duration(headers.get(f"x-ratelimit-reset-{kind}")), now)

    def refund(self, tokens: float) -> None:
        """Give back what an answer turned out not to cost (negative: charge more)."""
        self.buckets["tokens"].take(-tokens)

    def hold(self, seconds: float) -> None:
        """Send nothing for `seconds` (after a rate limit from a server that gives no budget headers)."""
        self._not_before = max(self._not_before, time.monotonic() + seconds)

    @property
    def tokens_per_minute(self) -> float | None:
        """The token limit, per minute, if known (the server's, within the user's cap)."""
        bucket = self.buckets["tokens"]
        rates = [r for r in (bucket.server_rate, bucket.user_rate) if r is not None]
        return min(rates) * 60 if rates else None

    @property
    def foreign_tokens_per_minute(self) -> float:
        """What others spend from the same key's token limit, per minute, as measured."""
        return self.buckets["tokens"].foreign * 60


def _number(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


class TokenEstimator:
    """A request's prompt tokens before it is sent: tiktoken's count for OpenAI's models when its encoding is at
    hand (it is downloaded once, so offline machines may not have it), else characters / 4; either corrected by
    the ratio between the answers' reported usage and the estimate."""

    def __init__(self, model: str) -> None:
        self._encode = _tiktoken_encoder(model)
        self.ratio = 1.0

    def raw(self, messages: list[dict[str, str]]) -> int:
        """The uncorrected estimate."""
        if self._encode is not None:
            return sum(len(self._encode(m.get("content") or "")) + 4 for m in messages) + 3
        return sum(len(m.get("content") or "") for m in messages) // 4 + 4 * len(messages)

    def estimate(self, messages: list[dict[str, str]]) -> int:
        """The corrected estimate."""
        return max(1, round(self.raw(messages) * self.ratio))

    def learn(self, raw: int, reported: int) -> None:
        """Move the correction toward what an answer reported for a request estimated at `raw`."""
        if raw > 0 and reported > 0:
            self.ratio = 0.8 * self.ratio + 0.2 * reported / raw


_OPENAI_MODEL = re.compile(r"^(gpt-|o\d|text-|davinci|chatgpt)")


@functools.lru_cache(maxsize=16)
def _tiktoken_encoder(model: str) -> Callable[[str], list[int]] | None:
    """tiktoken's encoder for an OpenAI model name, if its encoding can be had within a few seconds."""
    if not _OPENAI_MODEL.match(model):
        return None

    found: list[Callable[[str], list[int]]] = []

    def load() -> None:
        try:
            import tiktoken

            found.append(tiktoken.encoding_for_model(model).encode_ordinary)
        except Exception:  # unknown model, no network, no cache: the character estimate will do
            pass

    # A daemon thread: a download that hangs behind a firewall must not hold up the run or its exit.
    thread = threading.Thread(target=load, name="tiktoken", daemon=True)
    thread.start()
    thread.join(timeout=3)
    return found[0] if found else None
