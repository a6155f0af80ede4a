"""How many requests a run keeps in flight: cut only where cutting lowers the rate limits it meets.

Two kinds of 429 (or 503) reach a client, and they want opposite answers:
- A **budget** answer: the headers show an exhausted token or request limit, or the message names one
  ("Rate limit reached ... tokens per min"). Fewer requests in flight do help: the in-flight limit is halved
  (once per round) while the budget paces the rest (`pacing.Budget`).
- An answer with no sign of a budget is either **load** (a server or proxy refusing what is beyond what it can
  hold: the more in flight, the more refusals) or **load-independent** (a provider's bad hour: a share of all
  requests refused whatever their number). Cutting the limit for the second kind only slows the run: its
  refusals do not fall, and the few slots left are held by whatever hangs.

So a budget-less refusal is judged by the evidence of the run itself. Each request remembers its *level*, the
number in flight when it was sent (itself included). The limit is cut to `level - 1` only when the refusals are
concentrated at and above that level: their recent share there is markedly higher than below it (or, while
little is known below it, most requests sent there were refused). When fewer in flight fare no better, the 429
is load-independent: the request waits as the answer asks and is retried, and the limit is kept. A success from
a level above a load cut, where refusals are not concentrated, shows the cut was wrong: the limit goes back up.
After a load cut the limit probes above it only after a pause that doubles with every probe the server refuses,
so an overloaded server is asked about its limit rarely, not every round.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time

HALF_LIFE = 30.0  # seconds over which the evidence of refusals by level fades
_MAJORITY = 0.5  # refused share at and above a level that makes it suspect while nothing is known below it
_BETTER = 0.25  # how much lower the refused share below a level must be for load to be the cause
_KNOWN = 8.0  # requests below a level that make its refused share known
_CLEAR = 2.5  # standard errors by which the refused share above a level must exceed the share below it
_FIRST_PROBE = 4  # rounds at a load cut before the first probe above it
_LAST_PROBE = 64  # the longest pause between probes, in rounds


class LoadEvidence:
    """Recent outcomes by level (requests in flight when sent): successes and budget-less refusals, fading with
    a half-life of `HALF_LIFE` seconds."""

    def __init__(self, maximum: int) -> None:
        self.ok = [0.0] * (maximum + 2)
        self.refused = [0.0] * (maximum + 2)
        self._stamp = time.monotonic()

    def _fade(self) -> None:
        now = time.monotonic()
        if now - self._stamp >= 1.0:
            factor = 0.5 ** ((now - self._stamp) / HALF_LIFE)
            self.ok = [v * factor for v in self.ok]
            self.refused = [v * factor for v in self.refused]
            self._stamp = now

    def record(self, level: int, refused: bool) -> None:
        """One outcome of a request sent at `level`."""
        self._fade()
        level = min(level, len(self.ok) - 1)
        (self.refused if refused else self.ok)[level] += 1.0

    def from_load(self, level: int) -> bool:
        """Whether refusals at `level` are explained by load: their share at and above it is markedly higher
        than below it, or, while too little is known below it, most requests there were refused."""
        level = min(level, len(self.ok) - 1)
        ok_hi, refused_hi = sum(self.ok[level:]), sum(self.refused[level:])
        share_hi = refused_hi / max(ok_hi + refused_hi, 1e-9)
        ok_lo, refused_lo = sum(self.ok[:level]), sum(self.refused[:level])
        n_hi, n_lo = ok_hi + refused_hi, ok_lo + refused_lo
        if n_lo < _KNOWN:
            return share_hi >= _MAJORITY
        share_lo = refused_lo / n_lo
        if share_hi - share_lo < _BETTER:
            return False
        # A few refusals where little has been sent are chance (a 30% storm refuses 3 of 4 now and then):
        # the difference must also be clear of the noise of the counts behind it.
        pooled = (refused_hi + refused_lo) / (n_hi + n_lo)
        noise = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (1 / max(n_hi, 1e-9) + 1 / n_lo))
        return share_hi - share_lo >= _CLEAR * noise


class AdaptiveLimit:
    """In-flight requests between 1 and `maximum`: additive increase per round of successes; halved on a budget
    rate limit (at most once per round); cut to the level refusals start at when they come from load; kept when
    they do not (see the module's docstring). `adaptive=False` holds it at `maximum` (for comparisons only).

    Waiters queue first come, first served, and a freed slot wakes one of them (a condition variable waking
    every waiter to re-check would cost quadratic time with hundreds of queued requests).
    """

    def __init__(self, maximum: int, adaptive: bool = True) -> None:
        self.maximum = maximum
        self.adaptive = adaptive
        self.limit = float(maximum)
        self.in_flight = 0
        self.evidence = LoadEvidence(maximum)
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_cut = 0.0
        self._load_cut: int | None = None  # the level of the last cut for load, while it stands
        self._last_for_load = False  # the last cut was for load (not a budget): a success above it can undo it
        self._probe_wait = 0  # successes to see at a load cut before probing above it
        self._since_cut = 0

    async def __aenter__(self) -> int:
        """Wait for a slot; the level it was taken at (requests in flight, this one included)."""
        if self.in_flight < self._slots() and not self._waiters:
            self.in_flight += 1
            return self.in_flight
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # the slot is ours when woken (`_wake` counts it)
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # woken and cancelled at once: give the slot back
                self._wake()
            raise
        return self.in_flight

    async def __aexit__(self, *exc: object) -> None:
        self.in_flight -= 1
        self._wake()

    def _slots(self) -> int:
        return max(1, int(self.limit))

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self._slots():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def succeeded(self, level: int) -> None:
        """A success of a request sent at `level`: grow by one request per round of `limit` successes."""
        self.evidence.record(level, refused=False)
        if self._last_for_load and level > self.limit and not self.evidence.from_load(level):
            self.limit = float(min(level, self.maximum))  # the server held more than the cut assumed
            self._load_cut = None
        grown = min(float(self.maximum), self.limit + 1 / self.limit)
        if self._load_cut is not None and grown >= self._load_cut + 1:
            self._since_cut += 1
            if self._since_cut < self._probe_wait:
                grown = min(grown, self._load_cut + 1 - 1e-9)  # not above the cut until the pause is over
        self.limit = grown
        self._wake()

    def throttled(self, round_seconds: float, level: int, budget: bool) -> bool:
        """A rate limit for a request sent at `level` (`budget`: its answer shows an exhausted budget). True when
        the limit was cut for it: the server is telling this run to send less, not to send later."""
        if not self.adaptive:
            return False
        if budget:
            now = time.monotonic()
            if now - self._last_cut < round_seconds:
                return False
            self.limit = max(1.0, self.limit / 2)
            self._last_cut = now
            self._load_cut = None
            self._last_for_load = False
            return True
        self.evidence.record(level, refused=True)
        if not self.evidence.from_load(level):
            return False
        if level <= self.limit:  # a request sent after earlier cuts: the level it was refused at is news
            self._cut_for_load(max(1, level - 1))
        return True

    def _cut_for_load(self, level: int) -> None:
        probing = self._load_cut is not None and level >= self._load_cut
        rounds = min(_LAST_PROBE, max(_FIRST_PROBE, 2 * self._probe_wait // max(level, 1))) if probing else None
        self._probe_wait = level * (rounds if rounds is not None else _FIRST_PROBE)
        self._since_cut = 0
        self._load_cut = level
        self._last_for_load = True
        self.limit = float(min(self.limit, level))
