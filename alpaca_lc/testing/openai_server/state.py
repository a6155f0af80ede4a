"""What the server knows while it runs."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from alpaca_lc.testing.openai_server.settings import Settings


@dataclass
class Bucket:
    """A continuously refilled bucket of `capacity` per `window` seconds (OpenAI's limits behave like this)."""

    capacity: float
    window: float
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.capacity / self.window)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` fits."""
        return max(0.0, amount - self.level) * self.window / self.capacity

    def reset(self) -> float:
        """Seconds until full."""
        return self.wait_for(self.capacity)


@dataclass
class State:
    """What the server knows while it runs: its settings, counters, requests in progress, budget buckets."""

    settings: Settings
    rng: random.Random
    counts: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def configure(self, settings: Settings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        now = time.monotonic()
        limits = {"tokens": settings.budget_tokens, "requests": settings.budget_requests}
        self.buckets = {k: Bucket(v, settings.budget_window_s, v, now) for k, v in limits.items() if v > 0}
