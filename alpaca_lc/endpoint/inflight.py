"""How many requests a run keeps in flight: cut only where cutting lowers the rate limits it meets.

Two kinds of 429 (or 503) reach a client, and they want opposite answers:
- A **budget** answer: the headers show an exhausted token or request limit, or the message names one
  ("Rate limit reached ... tokens per min"). Until the budget's rate is known the in-flight limit is halved
  (once per round); from then on the budget's buckets pace the requests (`pacing.Budget`) and the client
  leaves the limit alone.
- An answer with no sign of a budget is either **load** (a server or proxy refusing what is beyond what it can
  hold: the more in flight, the more refusals) or **load-independent** (a provider's bad hour: a share of all
  requests refused whatever their number). Cutting the limit for the second kind only slows the run: its
  refusals do not fall, and the few slots left are held by whatever hangs.

So a budget-less refusal is judged by the evidence of the run itself. Each request remembers its *level*, the
number in flight when it was sent (itself included; a noisy view of the server's count, as answers in transit are
still counted). The limit is cut to `level - 1` only when refusals are concentrated at and just above that level:
their recent share there is markedly higher, beyond chance, than where the server is calmest below it (the run of
levels from 1 up with the fewest refusals), or, while little is known below it, most requests sent there were
refused (a suspicion, undone after 3 s if no answer comes to settle it). Only the levels in use count as "above"
(up to one past the limit): a server refusing beyond K, long ago at 30 in flight, says nothing of a storm's
refusals at 6. When fewer in flight fare no better, the 429 is load-independent: the request waits as the answer
asks and is retried, and the limit is kept. Every cut for load is a trial (the first refusals of a run come before
anything is known below them, and a test run over thousands of refusals is wrong now and then): once more requests
below it have been answered, it stands if the refusals from that level up to the old limit are load by the same
test, and is undone if they are not.
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
_TRIAL_SECONDS = 3.0  # a cut on suspicion that gets no answers by then is undone
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

    def share(self, low: int, high: int) -> tuple[float, float]:
        """The refused share of requests sent at levels `low` to `high`, and how many there were."""
        low, high = max(0, low), min(high, len(self.ok) - 1)
        ok, refused = sum(self.ok[low : high + 1]), sum(self.refused[low : high + 1])
        return refused / max(ok + refused, 1e-9), ok + refused

    def _calmest(self, level: int) -> tuple[float, float] | None:
        """Below `level`, the run of levels from 1 up with the lowest refused share (of those with enough requests
        to know it): what the server does when it is not loaded. None while too little is known."""
        best: tuple[float, float] | None = None
        ok = refused = 0.0
        for m in range(1, min(level, len(self.ok))):
            ok, refused = ok + self.ok[m], refused + self.refused[m]
            if ok + refused >= _KNOWN and (best is None or refused / (ok + refused) < best[0]):
                best = (refused / (ok + refused), ok + refused)
        return best

    def judge(self, level: int, top: int) -> str:
        """Whether refusals at `level` come from load: "load" when their share from there up to `top` (the levels
        in use: the limit and one above) is markedly and clearly higher than where the server is calmest below
        it; "suspect" when too little is known below and most requests sent there were refused; else "no"."""
        share_hi, n_hi = self.share(level, max(level, top))
        calm = self._calmest(level)
        if calm is None:
            return "suspect" if share_hi >= _MAJORITY else "no"
        share_lo, n_lo = calm
        if share_hi - share_lo < _BETTER:
            return "no"
        # A few refusals where little has been sent are chance (a 30% storm refuses 3 of 3 now and then): the
        # difference must also be clear of the noise of the counts behind it.
        pooled = (share_hi * n_hi + share_lo * n_lo) / (n_hi + n_lo)
        noise = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (1 / max(n_hi, 1e-9) + 1 / n_lo))
        return "load" if share_hi - share_lo >= _CLEAR * noise else "no"


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
        # A cut for load on trial: (the level refused, the limit before, requests answered below it by then).
        self._trial: tuple[int, float, float] | None = None
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

    def _top(self) -> int:
        """The highest level in use: one above the limit (where it probes)."""
        return math.ceil(self.limit) + 1

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
        if self._trial is not None:
            self._end_trial(*self._trial)
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
            self._trial = None
            return True
        self.evidence.record(level, refused=True)
        verdict = self.evidence.judge(level, self._top()) if level > 1 else "no"  # nothing below 1 to compare
        if verdict == "no":
            return False
        if level <= self.limit:  # a request sent after earlier cuts: the level it was refused at is news
            before = self.limit if self._trial is None else self._trial[1]
            self._cut_for_load(max(1, level - 1))
            self._trial = (level, before, self.evidence.share(1, level - 1)[1])
            if verdict == "suspect":
                self._expire_later(self._trial)
        return True

    def _expire_later(self, trial: tuple[int, float, float]) -> None:
        """A cut on suspicion whose trial gets no answers within `_TRIAL_SECONDS` (hung requests holding the
        slots it left) is undone: a suspicion never holds the run."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # driven outside an event loop (the unit tests): answers end every trial
            return

        def expire() -> None:
            if self._trial is trial and self.evidence.share(1, trial[0] - 1)[1] < trial[2] + _KNOWN:
                self._trial = None
                self.limit = max(self.limit, trial[1])
                self._load_cut = None
                self._wake()

        loop.call_later(_TRIAL_SECONDS, expire)

    def reset(self) -> None:
        """Back to `maximum`: the budget cuts made before the run knew its budget's rate, now that the budget's
        buckets pace the requests (load cuts stand)."""
        if self._load_cut is None and self._trial is None:
            self.limit = float(self.maximum)
            self._wake()

    def _end_trial(self, refused_at: int, before: float, answered: float) -> None:
        """A cut for load, once `_KNOWN` more requests below the level refused have been answered: it stands if
        the refusals from there up to the limit it cut are load, judged again on what is known now, and is undone
        if they are not (a cut on suspicion, before anything was known below, or a chance one)."""
        if self.evidence.share(1, refused_at - 1)[1] < answered + _KNOWN:
            return
        self._trial = None
        if self.evidence.judge(refused_at, math.ceil(before)) != "load":
            self.limit = max(self.limit, before)  # the server held more than the cut assumed
            self._load_cut = None
            self._wake()

    def _cut_for_load(self, level: int) -> None:
        probing = self._load_cut is not None and level >= self._load_cut
        rounds = min(_LAST_PROBE, max(_FIRST_PROBE, 2 * self._probe_wait // max(level, 1))) if probing else None
        self._probe_wait = level * (rounds if rounds is not None else _FIRST_PROBE)
        self._since_cut = 0
        self._load_cut = level
        self.limit = float(min(self.limit, level))
