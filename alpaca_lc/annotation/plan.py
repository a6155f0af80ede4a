"""What judging a set of pairs asks for: the pairs, the requests planned for them (keys, order, messages), the
options of a run, and its tally."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.keys import pair_key, request_key
from alpaca_lc.annotation.official import RenderError
from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.calls import ClientSettings, PaceReport, base_url, endpoint_identity
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
    source: str = ""  # the model outputs' file and the record of this output in it, for messages
    record: int = 0


@dataclass(frozen=True)
class Planned:
    """One request to make or look up. Its messages are rendered only when needed (a judge keyed by pair needs
    none for what the cache has); there are none for a cache-only judge. `older` gives, only for what the cache
    lacks under `key`, the keys the same judgment may have been stored under: at the endpoints the user said are
    the same service, then as an import or from before endpoints were recorded."""

    pair: int
    key: str
    model_first: bool
    render: Callable[[], list[dict[str, str]]] | None
    older: Callable[[], tuple[str, ...]] = lambda: ()

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
    same_endpoints: tuple[str, ...] = ()  # base URLs of the same service as the judge's: their judgments are its
    strict_endpoint: bool = False  # judgments that record no endpoint are not served
    context_tokens: int | None = None  # the judge's context window where the model's is not documented
    fresh: str | None = None  # judge again whatever the cache holds, under keys of this tag (a drift check)
    judge_identical: bool = False  # ask about identical outputs too (Arena-Hard-Auto does), not a tie without a call


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
    failure_samples: dict[str, str] = field(default_factory=dict)  # the first message of each cause
    retries: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    estimated_cost: float = 0.0
    estimated_batch_cost: float = 0.0  # the same calls through the Batch API
    estimated_tokens: int = 0
    estimated_minutes: float | None = None  # at the known budget
    in_batches: int = 0  # needed, not cached, but in batches already submitted (collected, not paid, by a run)
    by_others: int = 0  # judged meanwhile by another process sharing the cache (waited for, not paid here)
    unrecorded: int = 0  # served from the cache though made before endpoints were recorded (endpoint unknown)
    reasoning_tokens: int = 0  # hidden reasoning tokens of the new judgments (billed within their completion tokens)
    price: str = ""  # "" when the judge's price is known; else what to say instead of a cost
    expected_reasoning: str = ""  # --dry-run: the hidden reasoning each judgment is expected to take, and why
    unrecorded_refused: int = 0  # such judgments not served (`--strict-endpoint`): judged again
    pace: PaceReport | None = None

    def fail(self, cause: str, message: str) -> None:
        """One request that failed for good, and why."""
        self.failures[cause] += 1
        self.failure_samples.setdefault(cause, message)

    def failure_line(self) -> str:
        """The failures by cause, each with its first message: "malformed 10 (first: ...)"."""
        return ", ".join(f"{cause} {n}" + (f" (first: {self.failure_samples[cause]})"
                                           if cause in self.failure_samples else "")
                         for cause, n in sorted(self.failures.items()))  # fmt: skip

    def summary(self) -> str:
        """A few lines for stderr."""
        rate = self.new / self.seconds if self.seconds > 0 else 0.0
        others = f", {self.by_others} judged by another process meanwhile" if self.by_others else ""
        lines = [
            f"judgments: {self.requested} needed, {self.cached} cached, {self.identical} identical (1.5, no call), "
            f"{self.new} new in {self.seconds:.1f} s ({rate:.1f}/s){others}, spent "
            + (f"${self.spent:.4f}" if not self.price else f"? ({self.price})")
            + (
                f"; {self.reasoning_tokens:,} hidden reasoning tokens, billed as output"
                if self.reasoning_tokens
                else ""
            ),
        ]
        lines += self.endpoint_notes()
        if self.pace is not None and (self.pace.throttled or self.pace.waited or self.pace.limit_tokens_per_minute):
            lines.append(self.pace.summary())
        if self.retries:
            lines.append("retries by cause: " + ", ".join(f"{k} {v}" for k, v in sorted(self.retries.items())))
        if self.failures:
            lines.append("failed for good: " + self.failure_line())
        if self.skipped_for_cost:
            lines.append(f"not requested (--max-cost reached): {self.skipped_for_cost}")
        return "\n".join(lines)

    def endpoint_notes(self) -> list[str]:
        """What a reader must know of cached judgments whose endpoint was not recorded."""
        notes = []
        if self.unrecorded:
            notes.append(f"{self.unrecorded} cached judgments were made before this cache recorded endpoints: served "
                         "as before, whatever endpoint made them (--strict-endpoint judges them again)")  # fmt: skip
        if self.unrecorded_refused:
            notes.append(f"{self.unrecorded_refused} cached judgments that record no endpoint were not served "
                         "(--strict-endpoint)")  # fmt: skip
        return notes

    def estimate_line(self) -> str:
        """The line `--dry-run` prints: judgments needed and what the missing ones would cost."""
        at_budget = "" if self.estimated_minutes is None else f", ~{self.estimated_minutes:.1f} min at the budget"
        submitted = f", {self.in_batches} in batches already submitted" if self.in_batches else ""
        submitted += f" ({self.unrecorded} cached before endpoints were recorded)" if self.unrecorded else ""
        calls = self.requested - self.cached - self.in_batches
        cost = (f"~${self.estimated_cost:.2f} live, ~${self.estimated_batch_cost:.2f} batch" if not self.price else
                f"cost unknown ({self.price})")  # fmt: skip
        reasoning = f" ({self.expected_reasoning})" if self.expected_reasoning and calls else ""
        return (
            f"dry run: {self.requested} judgments needed, {self.cached} cached, {self.identical} identical"
            f"{submitted}; {calls} calls, ~{self.estimated_tokens} tokens{reasoning}, {cost}{at_budget}"
        )

    def __add__(self, other: Tally) -> Tally:
        """Two estimates together (several files judged by one command)."""
        minutes = [m for m in (self.estimated_minutes, other.estimated_minutes) if m is not None]
        return Tally(requested=self.requested + other.requested, cached=self.cached + other.cached,
                     identical=self.identical + other.identical, in_batches=self.in_batches + other.in_batches,
                     estimated_cost=self.estimated_cost + other.estimated_cost,
                     estimated_batch_cost=self.estimated_batch_cost + other.estimated_batch_cost,
                     estimated_tokens=self.estimated_tokens + other.estimated_tokens,
                     estimated_minutes=sum(minutes) if minutes else None, price=self.price or other.price,
                     expected_reasoning=self.expected_reasoning or other.expected_reasoning)  # fmt: skip


def judge_endpoints(judge: Judge | None, options: AnnotateOptions) -> tuple[str, ...]:
    """The identity of the endpoint the judge is asked at, then those of the endpoints the user said are the same
    service (`--same-endpoint`, the judge config's `aliases`)."""
    endpoint = judge.endpoint if judge is not None else Endpoint()
    own = endpoint_identity(base_url(endpoint))
    aliases = [endpoint_identity(url) for url in (*endpoint.aliases, *options.same_endpoints)]
    return (own, *[a for a in dict.fromkeys(aliases) if a != own])


def plan(pairs: list[Pair], judge: Judge | None, judge_name: str, options: AnnotateOptions) -> list[list[Planned]]:
    """The requests for each pair (none for identical outputs; two with --both-orders)."""
    endpoints = judge_endpoints(judge, options)
    planned: list[list[Planned]] = []
    for i, pair in enumerate(pairs):
        if pair.output_1 == pair.output_2 and not options.judge_identical:
            planned.append([])
        elif judge is None:  # a judge known only from the cache: its imported judgments, or those made here
            key, *older = [pair_key(judge_name, pair.instruction, pair.output_1, pair.output_2, endpoint=e)
                           for e in (None, *endpoints)]  # fmt: skip
            planned.append([Planned(i, key, False, None, functools.partial(tuple, older))])
        else:
            first = judge.order.model_first(pair.instruction)
            orders = [first, not first] if options.both_orders else [first]
            planned.append([_request(i, pair, judge, order, order != first, endpoints) for order in orders])
    if options.fresh is not None:  # judged again whatever the cache holds: keys of their own, cached as any
        planned = [[dataclasses.replace(p, key=f"{options.fresh}:{p.key}", older=tuple) for p in reqs]
                   for reqs in planned]  # fmt: skip
    return planned


def _request(i: int, pair: Pair, judge: Judge, model_shown_first: bool, reversed_order: bool,
             endpoints: tuple[str, ...]) -> Planned:  # fmt: skip
    first, second = (pair.output_2, pair.output_1) if model_shown_first else (pair.output_1, pair.output_2)

    def render() -> list[dict[str, str]]:
        try:
            return judge.prompt.render(pair.instruction, first, second)
        except RenderError as exc:
            raise InputError(f"pair {i + 1} ({pair.instruction[:40]!r}): {exc}") from None

    if judge.pair_keyed:

        def key_at(endpoint: str | None) -> str:
            return pair_key(judge.name, pair.instruction, pair.output_1, pair.output_2, reversed_order=reversed_order,
                            endpoint=endpoint)  # fmt: skip

        return Planned(i, key_at(endpoints[0]), model_shown_first, render,
                       lambda: tuple(key_at(e) for e in (*endpoints[1:], None)))  # fmt: skip
    messages = render()
    return Planned(
        i,
        request_key(judge.model, messages, judge.decoding, endpoints[0]),
        model_shown_first,
        lambda: messages,
        lambda: tuple(request_key(judge.model, messages, judge.decoding, e) for e in (*endpoints[1:], None)),
    )
