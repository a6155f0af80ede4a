"""Rate limits as OpenAI's behave: token and request buckets that refill continuously over a window, charged when a
request is admitted, with `x-ratelimit-*` headers on every answer and 429s with OpenAI's messages."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from alpaca_lc.testing.openai_server.chat import prompt_tokens
from alpaca_lc.testing.openai_server.errors import error

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.state import State


def openai_duration(seconds: float) -> str:
    """A duration as OpenAI writes its reset headers: `20ms`, `8.64s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours or minutes:
        return (f"{int(hours)}h" if hours else "") + f"{int(minutes)}m{secs:.0f}s"
    return f"{secs:.3g}s"


def limit_headers(state: State, now: float) -> dict[str, str]:
    """The `x-ratelimit-*` headers of an answer."""
    headers = {}
    for name, bucket in state.buckets.items():
        bucket.refill(now)
        headers[f"x-ratelimit-limit-{name}"] = str(int(bucket.capacity))
        headers[f"x-ratelimit-remaining-{name}"] = str(int(bucket.level))
        headers[f"x-ratelimit-reset-{name}"] = openai_duration(bucket.reset())
    return headers


def admit(state: State, body: dict[str, Any]) -> web.Response | None:
    """Charge an admitted request to the budget (its prompt and its completion limit); the 429 for one that does
    not fit."""
    s, now = state.settings, time.monotonic()
    if s.quota_exhausted:
        state.counts["429_quota"] += 1
        return error(429, "You exceeded your current quota, please check your plan and billing details.",
                     "insufficient_quota", "insufficient_quota")  # fmt: skip
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
    cost = {"tokens": prompt_tokens(body) + limit, "requests": 1}
    for bucket in state.buckets.values():
        bucket.refill(now)
    short = [(name, b.wait_for(cost[name])) for name, b in state.buckets.items() if b.level < cost[name]]
    if not short:
        for name, bucket in state.buckets.items():
            bucket.level -= cost[name]
        state.counts["tokens_billed"] += cost["tokens"]
        return None
    name, wait = max(short, key=lambda item: item[1])
    bucket = state.buckets[name]
    state.counts["429"] += 1
    state.counts["429_budget"] += 1
    unit = {"tokens": "tokens per min (TPM)", "requests": "requests per min (RPM)"}[name]
    message = (f"Rate limit reached for {body.get('model', 'local')} in organization org-local on {unit}: "
               f"Limit {int(bucket.capacity)}, Used {int(bucket.capacity - bucket.level)}, Requested {cost[name]}. "
               f"Please try again in {openai_duration(wait)}. Visit https://platform.openai.com/account/rate-limits"
               " to learn more.")  # fmt: skip
    headers = limit_headers(state, now)
    if s.budget_retry_after:
        headers |= {"retry-after-ms": str(math.ceil(wait * 1000)), "retry-after": str(math.ceil(wait))}
    return error(429, message, "tokens" if name == "tokens" else "requests", "rate_limit_exceeded", headers)
