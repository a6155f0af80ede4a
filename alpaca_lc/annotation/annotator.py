"""Pairs in, judgments out: plan the requests, take what the cache has, have the rest judged (`claims`), and
assemble each pair's preference."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from alpaca_lc.annotation.adapt import expected_completion
from alpaca_lc.annotation.cache import Judgment, JudgmentCache
from alpaca_lc.annotation.claims import collect_older_batches, judge_missing
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.keys import unrecorded_endpoint
from alpaca_lc.annotation.plan import AnnotateOptions, Pair, Planned, Tally, plan
from alpaca_lc.endpoint.calls import base_url
from alpaca_lc.endpoint.models import is_reasoning, model_facts, retired_line, retirement
from alpaca_lc.endpoint.pacing import TokenEstimator
from alpaca_lc.errors import InputError, UsageError

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
    tally = Tally(requested=len(flat), identical=sum(not reqs for reqs in planned))
    found = cached(cache, flat, options, tally)
    todo = list({p.key: p for p in flat if p.key not in found}.values())
    if (
        todo
        and judge is not None
        and not options.strict_endpoint
        and collect_older_batches(todo, judge, cache, options, tally)
    ):
        found.update(cached(cache, todo, options, tally))
        todo = [p for p in todo if p.key not in found]
    tally.cached = sum(p.key in found for p in flat)
    if todo and unavailable is not None:
        raise unavailable
    if todo and judge is not None:
        check_context(todo, pairs, judge, options)
        check_not_retired(judge)
        tally.price = "" if judge.price.known else f"no price is known for {judge.model}"
    if todo and judge is not None:
        start = time.perf_counter()
        found.update(judge_missing(todo, judge, cache, options, tally))
        tally.seconds = time.perf_counter() - start
    return _assemble(planned, found, tally)


def cached(cache: JudgmentCache, flat: list[Planned], options: AnnotateOptions, tally: Tally) -> dict[str, Judgment]:
    """What the cache holds for the planned requests, by their keys: under the key itself, else under an older key
    of the same judgment (the same request at an endpoint the user said is the same service, an imported
    judgment, or one made before endpoints were recorded: counted, and not served with `strict_endpoint`)."""
    found = cache.get_many(list(dict.fromkeys(p.key for p in flat)))
    older = {p.key: p.older() for p in flat if p.key not in found}
    have = cache.get_many(list(dict.fromkeys(k for keys in older.values() for k in keys))) if older else {}
    for key, keys in older.items():
        hits = [have[k] for k in keys if k in have]
        usable = [j for j in hits if not (options.strict_endpoint and unrecorded_endpoint(j))]
        tally.unrecorded_refused += bool(hits) and not usable
        if usable:
            found[key] = usable[0]
            tally.unrecorded += unrecorded_endpoint(usable[0])
    return found


def estimate(pairs: list[Pair], judge: Judge, cache: JudgmentCache, options: AnnotateOptions) -> Tally:
    """What a run would cost, and take at a known budget, from the cache state, calling nothing (--dry-run)."""
    flat = [p for reqs in plan(pairs, judge, judge.name, options) for p in reqs]
    tally = Tally(requested=len(flat), identical=sum(p.output_1 == p.output_2 for p in pairs))
    found = cached(cache, flat, options, tally)
    tally.cached = sum(p.key in found for p in flat)
    missing = [p.key for p in flat if p.key not in found]
    older = [k for p in flat if p.key not in found for k in p.older()]
    submitted = {k for b in cache.open_batches(missing + older) for k in cache.keys_of(b)}  # paid for already
    tally.in_batches = sum(p.key in submitted or any(k in submitted for k in p.older()) for p in flat
                           if p.key not in found)  # fmt: skip
    check_context([p for p in flat if p.key not in found], pairs, judge, options)
    if len(found) + tally.in_batches < len(flat):
        check_not_retired(judge)
    tokens = TokenEstimator(judge.model)
    completion, tally.expected_reasoning = expected_completion(judge, cache)
    tally.price = "" if judge.price.known else f"no price is known for {judge.model}"
    for p in flat:
        paid = p.key in found or p.key in submitted or any(k in submitted for k in p.older())
        messages = None if paid else p.messages
        if messages is not None:
            prompt = tokens.estimate(messages)
            tally.estimated_tokens += prompt + completion
            tally.estimated_cost += judge.price.cost(prompt, completion)
            tally.estimated_batch_cost += judge.price.batch_cost(prompt, completion)
    tpm = options.client.tpm or judge.endpoint.tokens_per_minute
    rpm = options.client.rpm or judge.endpoint.requests_per_minute
    calls = tally.requested - tally.cached - tally.in_batches
    minutes = [tally.estimated_tokens / tpm if tpm else 0.0, calls / rpm if rpm else 0.0]
    tally.estimated_minutes = max(minutes) if tpm or rpm else None
    return tally


def check_not_retired(judge: Judge) -> None:
    """Refuse (exit 2), before any call, a judge model its provider has retired, asked at that provider's API."""
    facts = retirement(judge.model, base_url(judge.endpoint))
    if facts is None:
        return
    if judge.answer.kind == "arena":  # the benchmark's rule reads any judge's verdict from its text
        raise UsageError(retired_line(facts, "Arena-Hard-Auto judge"))
    logprobs = judge.answer.kind == "logprob" and facts.substitute is not None and is_reasoning(facts.substitute)
    raise UsageError(retired_line(facts, "judge", " with --answer verdict (docs/judge-bridge.md)" if logprobs else ""))


def check_context(todo: list[Planned], pairs: list[Pair], judge: Judge, options: AnnotateOptions) -> None:
    """Refuse, before anything is paid for, a request longer than the judge's context window (documented for named
    models, else `--judge-context-tokens`), naming the output's file and record: the provider would refuse it, or
    cut it, after billing its tokens."""
    facts = model_facts(judge.model)
    window = options.context_tokens or (facts.context if facts is not None else None)
    if window is None:
        return
    tokens = TokenEstimator(judge.model)
    for p in todo:
        messages = p.messages or []
        if sum(len(m.get("content") or "") for m in messages) + judge.max_tokens <= window:
            continue  # a token is at least one character: it fits
        need = tokens.estimate(messages) + judge.max_tokens
        if need > window:
            pair = pairs[p.pair]
            raise InputError(f"this output ({len(pair.output_2):,} characters) makes a judge request of ~{need:,} "
                             f"tokens, beyond {judge.model}'s context window of {window:,}: shorten it (an output this "
                             "long also dominates the length term), or give --judge-context-tokens N if the window is "
                             "larger", path=pair.source or None, record=pair.record or None)  # fmt: skip


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
