"""Pairs in, judgments out: plan the requests, take what the cache has, ask the judge for the rest."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alpaca_lc.annotation.cache import Judgment, JudgmentCache, pair_key, request_key
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.official import RenderError, retired_or_missing
from alpaca_lc.annotation.parse import p_first_from_choice, preference_from_p_first
from alpaca_lc.endpoint.calls import ChatRequest, ClientSettings, PaceReport
from alpaca_lc.errors import IncompleteError, InputError, ModelNotFound, UsageError

if TYPE_CHECKING:
    from alpaca_lc.endpoint.client import ChatClient
from alpaca_lc.endpoint.pacing import TokenEstimator
from alpaca_lc.progress import Progress

logger = logging.getLogger(__name__)

TIE = 1.5


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
    estimated_tokens: int = 0
    estimated_minutes: float | None = None  # at the known budget
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
        return (f"dry run: {self.requested} judgments needed, {self.cached} cached, {self.identical} identical; "
                f"{self.requested - self.cached} calls, ~{self.estimated_tokens} tokens, "
                f"~${self.estimated_cost:.2f}{at_budget}")  # fmt: skip

    def __add__(self, other: Tally) -> Tally:
        """Two estimates together (several files judged by one command)."""
        minutes = [m for m in (self.estimated_minutes, other.estimated_minutes) if m is not None]
        return Tally(requested=self.requested + other.requested, cached=self.cached + other.cached,
                     identical=self.identical + other.identical,
                     estimated_cost=self.estimated_cost + other.estimated_cost,
                     estimated_tokens=self.estimated_tokens + other.estimated_tokens,
                     estimated_minutes=sum(minutes) if minutes else None)  # fmt: skip


@dataclass(frozen=True)
class Annotated:
    """Per pair: the preference (None if missing), and the judgments behind it."""

    preferences: list[float | None]
    judgments: list[list[Judgment]]
    flip_rate: float | None
    tally: Tally


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


def annotate(
    pairs: list[Pair],
    judge: Judge | None,
    judge_name: str,
    cache: JudgmentCache,
    options: AnnotateOptions,
    unavailable: UsageError | None = None,
) -> Annotated:
    """Judge every pair, from the cache where possible; failures stay missing (None), never guessed.

    Args:
        pairs: the comparisons.
        judge: the live judge, or None to use only judgments cached under `judge_name`.
        judge_name: the judge's name in the cache.
        cache: the judgment cache; each new judgment is committed as it arrives.
        options: client settings, cost cap, orders.
        unavailable: for a cache-only judge that could be asked if it were installed (AlpacaEval's files are
            missing), raised before any request when the cache lacks something.
    """
    planned = plan(pairs, judge, judge_name, options)
    flat = [p for reqs in planned for p in reqs]
    found = cache.get_many([p.key for p in flat])
    tally = Tally(requested=len(flat), cached=len(found), identical=sum(not reqs for reqs in planned))
    todo = list({p.key: p for p in flat if p.key not in found}.values())
    if todo and unavailable is not None:
        raise unavailable
    if todo and judge is not None:
        start = time.perf_counter()
        found.update(asyncio.run(_judge_all(todo, judge, cache, options, tally)))
        tally.seconds = time.perf_counter() - start
    return _assemble(planned, found, tally)


def estimate(pairs: list[Pair], judge: Judge, cache: JudgmentCache, options: AnnotateOptions) -> Tally:
    """What a run would cost, and take at a known budget, from the cache state, calling nothing (--dry-run)."""
    flat = [p for reqs in plan(pairs, judge, judge.name, options) for p in reqs]
    found = cache.get_many([p.key for p in flat])
    tally = Tally(requested=len(flat), cached=len(found), identical=sum(p.output_1 == p.output_2 for p in pairs))
    tokens = TokenEstimator(judge.model)
    for p in flat:
        messages = p.messages if p.key not in found else None
        if messages is not None:
            prompt = tokens.estimate(messages)
            tally.estimated_tokens += prompt + judge.max_tokens
            tally.estimated_cost += judge.price.cost(prompt, judge.max_tokens)
    tpm = options.client.tpm or judge.endpoint.tokens_per_minute
    rpm = options.client.rpm or judge.endpoint.requests_per_minute
    calls = tally.requested - tally.cached
    minutes = [tally.estimated_tokens / tpm if tpm else 0.0, calls / rpm if rpm else 0.0]
    tally.estimated_minutes = max(minutes) if tpm or rpm else None
    return tally


async def _judge_all(
    todo: list[Planned], judge: Judge, cache: JudgmentCache, options: AnnotateOptions, tally: Tally
) -> dict[str, Judgment]:
    from alpaca_lc.endpoint.client import (  # only a run that sends requests
        ChatClient,
        describe_failure,
        gather_or_cancel,
    )

    client = ChatClient(judge.endpoint, options.client)
    results: dict[str, Judgment] = {}
    reserved = 0.0
    progress = Progress(len(todo), "judging", "pair", options.progress)
    tokens = TokenEstimator(judge.model)

    async def one(req: Planned) -> None:
        nonlocal reserved
        messages = req.messages
        assert messages is not None
        estimate = judge.price.cost(tokens.estimate(messages), judge.max_tokens)
        if options.max_cost is not None and tally.spent + reserved + estimate > options.max_cost:
            tally.skipped_for_cost += 1
            return
        reserved += estimate
        try:
            done = await client.complete(
                ChatRequest(judge.model, messages, judge.decoding, lambda c: p_first_from_choice(c, judge.answer))
            )
        except ModelNotFound as exc:
            raise retired_or_missing(exc) from None
        except IncompleteError:
            raise
        except Exception as exc:  # a request that failed for good: logged, left missing, retried next run
            cause, message = describe_failure(exc, client)
            tally.failures[cause] += 1
            cache.record_failure(req.key, judge.name, cause, message)
            return
        finally:
            reserved -= estimate
            progress.update(1, **_pace_status(client, len(todo) - progress.done - 1, tally.spent))
        cost = judge.price.cost(done.prompt_tokens, done.completion_tokens)
        judgment = Judgment(
            req.key, judge.name, preference_from_p_first(done.value, req.model_first), json.dumps(done.choice),
            done.prompt_tokens, done.completion_tokens, cost, done.latency, "api",
        )  # fmt: skip
        results[req.key] = cache.put(judgment, p_first=done.value, model_first=req.model_first)
        tally.new += 1
        tally.spent += cost

    # Hundreds of requests in flight allocate many short-lived objects: what exists now lives to the end, and
    # collecting every 700 allocations (Python's default) costs more CPU than it frees here.
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        await gather_or_cancel(one(r) for r in todo)
    finally:
        gc.set_threshold(*threshold)
        tally.retries.update(client.retries)
        tally.pace = client.report()
        progress.close()
        await client.close()
    return results


def _pace_status(client: ChatClient, remaining: int, spent: float) -> dict[str, str]:
    """What the progress line shows beside the count: spend, pacing, and an ETA from the budget when known."""
    pace = client.report()
    status = {"spent": f"${spent:.3f}", "in_flight": str(pace.concurrency), "tpm": f"{pace.tokens_per_minute:,.0f}"}
    if pace.limit_tokens_per_minute:
        status["tpm"] += f"/{pace.limit_tokens_per_minute:,.0f}"
        per_request = client.tokens_used / max(1, client.limit_successes)
        status["eta"] = f"{remaining * per_request / pace.limit_tokens_per_minute:.1f} min"
    if pace.waiting:
        status["waiting"] = "budget"
    return status


def _assemble(planned: list[list[Planned]], found: dict[str, Judgment], tally: Tally) -> Annotated:
    preferences: list[float | None] = []
    judgments: list[list[Judgment]] = []
    flips = []
    for reqs in planned:
        got = [found[p.key] for p in reqs if p.key in found]
        judgments.append(got)
        if not reqs:
            preferences.append(TIE)
        elif len(got) < len(reqs):
            preferences.append(None)
        else:
            preferences.append(sum(j.preference for j in got) / len(got))
            if len(got) == 2:
                flips.append((got[0].preference - TIE) * (got[1].preference - TIE) < 0)
    flip_rate = sum(flips) / len(flips) if flips else None
    return Annotated(preferences, judgments, flip_rate, tally)
