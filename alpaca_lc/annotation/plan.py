"""What judging a set of pairs asks for: the pairs, the requests planned for them (keys, order, messages), the
options of a run, and its tally."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from alpaca_lc.annotation.cache import pair_key, request_key
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.official import RenderError
from alpaca_lc.endpoint.calls import ClientSettings, PaceReport
from alpaca_lc.errors import InputError


@dataclass(frozen=True)
class Pair:
    """One comparison: the reference (baseline) output and the model's output for an instruction."""

    instruction: str
    output_1: str
    output_2: str
    generator_1: str
    generator_2: str
    dataset: str = ""


@dataclass(frozen=True)
class Planned:
    """One request to make or look up. Its messages are rendered only when needed (a judge keyed by pair needs
    none for what the cache has); there are none for a cache-only judge."""

    pair: int
    key: str
    model_first: bool
    render: Callable[[], list[dict[str, str]]] | None

    @property
    def messages(self) -> list[dict[str, str]] | None:
        """The request's chat messages (None for a cache-only judge)."""
        return None if self.render is None else self.render()


@dataclass(frozen=True)
class AnnotateOptions:
    """How to judge: client settings, a spending cap, and whether to judge both orders."""

    client: ClientSettings = field(default_factory=ClientSettings)
    max_cost: float | None = None
    both_orders: bool = False
    progress: bool = True
    batch: bool = False  # through the Batch API (half price, answered within 24 h) instead of live calls
    batch_fallback: str = "batch"  # lines a batch did not answer: in a new batch, or "live"
    wait: bool = True  # False (--no-wait): submit the batches and stop (exit 4); a re-run collects them


@dataclass
class Tally:
    """What a run did: calls, cache hits, failures and retries by cause, spend, time."""

    requested: int = 0
    cached: int = 0
    identical: int = 0
    new: int = 0
    spent: float = 0.0
    skipped_for_cost: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    estimated_cost: float = 0.0
    estimated_batch_cost: float = 0.0  # the same calls through the Batch API
    estimated_tokens: int = 0
    estimated_minutes: float | None = None  # at the known budget
    in_batches: int = 0  # needed, not cached, but in batches already submitted (collected, not paid, by a run)
    pace: PaceReport | None = None

    def summary(self) -> str:
        """A few lines for stderr."""
        rate = self.new / self.seconds if self.seconds > 0 else 0.0
        lines = [
            f"judgments: {self.requested} needed, {self.cached} cached, {self.identical} identical (1.5, no call), "
            f"{self.new} new in {self.seconds:.1f} s ({rate:.1f}/s), spent ${self.spent:.4f}",
        ]
        if self.pace is not None and (self.pace.throttled or self.pace.waited or self.pace.limit_tokens_per_minute):
            lines.append(self.pace.summary())
        if self.retries:
            lines.append("retries by cause: " + ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())))
        if self.failures:
            lines.append("failed for good: " + ", ".join(f"{k} {v}" for k, v in sorted(self.failures.items())))
        if self.skipped_for_cost:
            lines.append(f"not requested (--max-cost reached): {self.skipped_for_cost}")
        return "\n".join(lines)

    def estimate_line(self) -> str:
        """The line `--dry-run` prints: judgments needed and what the missing ones would cost."""
        at_budget = "" if self.estimated_minutes is None else f", ~{self.estimated_minutes:.1f} min at the budget"
        submitted = f", {self.in_batches} in batches already submitted" if self.in_batches else ""
        calls = self.requested - self.cached - self.in_batches
        return (f"dry run: {self.requested} judgments needed, {self.cached} cached, {self.identical} identical"
                f"{submitted}; {calls} calls, ~{self.estimated_tokens} tokens, "
                f"~${self.estimated_cost:.2f} live, ~${self.estimated_batch_cost:.2f} batch{at_budget}")  # fmt: skip

    def __add__(self, other: Tally) -> Tally:
        """Two estimates together (several files judged by one command)."""
        minutes = [m for m in (self.estimated_minutes, other.estimated_minutes) if m is not None]
        return Tally(requested=self.requested + other.requested, cached=self.cached + other.cached,
                     identical=self.identical + other.identical, in_batches=self.in_batches + other.in_batches,
                     estimated_cost=self.estimated_cost + other.estimated_cost,
                     estimated_batch_cost=self.estimated_batch_cost + other.estimated_batch_cost,
                     estimated_tokens=self.estimated_tokens + other.estimated_tokens,
                     estimated_minutes=sum(minutes) if minutes else None)  # fmt: skip


def plan(pairs: list[Pair], judge: Judge | None, judge_name: str, options: AnnotateOptions) -> list[list[Planned]]:
    """The requests for each pair (none for identical outputs; two with --both-orders)."""
    planned: list[list[Planned]] = []
    for i, pair in enumerate(pairs):
        if pair.output_1 == pair.output_2:
            planned.append([])
        elif judge is None:
            planned.append([Planned(i, pair_key(judge_name, pair.instruction, pair.output_1, pair.output_2), False,
                                    None)])  # fmt: skip
        else:
            first = judge.order.model_first(pair.instruction)
            orders = [first, not first] if options.both_orders else [first]
            planned.append([_request(i, pair, judge, order, order != first) for order in orders])
    return planned


def _request(i: int, pair: Pair, judge: Judge, model_shown_first: bool, reversed_order: bool) -> Planned:
    first, second = (pair.output_2, pair.output_1) if model_shown_first else (pair.output_1, pair.output_2)

    def render() -> list[dict[str, str]]:
        try:
            return judge.prompt.render(pair.instruction, first, second)
        except RenderError as exc:
            raise InputError(f"pair {i + 1} ({pair.instruction[:40]!r}): {exc}") from None

    if judge.pair_keyed:
        key = pair_key(judge.name, pair.instruction, pair.output_1, pair.output_2, reversed_order=reversed_order)
        return Planned(i, key, model_shown_first, render)
    messages = render()
    return Planned(i, request_key(judge.model, messages, judge.decoding), model_shown_first, lambda: messages)
