"""Pairs in, judgments out: plan the requests, take what the cache has, have the rest judged (`claims`), and
assemble each pair's preference."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from alpaca_lc.annotation.cache import Judgment, JudgmentCache
from alpaca_lc.annotation.claims import judge_missing
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.plan import AnnotateOptions, Pair, Planned, Tally, plan
from alpaca_lc.endpoint.pacing import TokenEstimator
from alpaca_lc.errors import UsageError

logger = logging.getLogger(__name__)

TIE = 1.5


@dataclass(frozen=True)
class Annotated:
    """Per pair: the preference (None if missing), and the judgments behind it."""

    preferences: list[float | None]
    judgments: list[list[Judgment]]
    flip_rate: float | None
    tally: Tally


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
        found.update(judge_missing(todo, judge, cache, options, tally))
        tally.seconds = time.perf_counter() - start
    return _assemble(planned, found, tally)


def estimate(pairs: list[Pair], judge: Judge, cache: JudgmentCache, options: AnnotateOptions) -> Tally:
    """What a run would cost, and take at a known budget, from the cache state, calling nothing (--dry-run)."""
    flat = [p for reqs in plan(pairs, judge, judge.name, options) for p in reqs]
    found = cache.get_many([p.key for p in flat])
    missing = [p.key for p in flat if p.key not in found]
    submitted = {k for b in cache.open_batches(missing) for k in cache.keys_of(b.input_file_id)}  # paid for already
    tally = Tally(requested=len(flat), cached=len(found), identical=sum(p.output_1 == p.output_2 for p in pairs),
                  in_batches=len(submitted & set(missing)))  # fmt: skip
    tokens = TokenEstimator(judge.model)
    for p in flat:
        messages = p.messages if p.key not in found and p.key not in submitted else None
        if messages is not None:
            prompt = tokens.estimate(messages)
            tally.estimated_tokens += prompt + judge.max_tokens
            tally.estimated_cost += judge.price.cost(prompt, judge.max_tokens)
            tally.estimated_batch_cost += judge.price.batch_cost(prompt, judge.max_tokens)
    tpm = options.client.tpm or judge.endpoint.tokens_per_minute
    rpm = options.client.rpm or judge.endpoint.requests_per_minute
    calls = tally.requested - tally.cached - tally.in_batches
    minutes = [tally.estimated_tokens / tpm if tpm else 0.0, calls / rpm if rpm else 0.0]
    tally.estimated_minutes = max(minutes) if tpm or rpm else None
    return tally


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
