"""Faults drawn per request, as a provider's bad hour brings them: 429 with Retry-After whatever the load, 500, a
hang past the client's timeout (the connection then closed unanswered), malformed bodies or answers without
logprobs; and the answers of a URL that is not the API (`html_answers`) or a model it does not serve."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from alpaca_lc.testing.openai_server.errors import error

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.state import State

NGINX = ("<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1>"
         "</body></html>\n")  # fmt: skip


def refused_at_once(state: State, body: dict[str, Any]) -> web.Response | None:
    """An answer before any work: a model not served here (retired, say), or a web page instead of the API."""
    s = state.settings
    if str(body.get("model")) in s.missing_models.split(","):
        state.counts["404"] += 1
        return error(404, f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                     "invalid_request_error", "model_not_found")  # fmt: skip
    if s.html_answers:
        state.counts["html"] += 1
        return web.Response(text=NGINX, content_type="text/html")
    return None


def draw(state: State) -> str | None:
    """The fault this request meets, if any (counted)."""
    s = state.settings
    roll = state.rng.random()
    for name, rate in (
        ("429", s.rate_429),
        ("500", s.rate_500),
        ("hang", s.rate_hang),
        ("malformed", s.rate_malformed),
    ):
        if roll < rate:
            state.counts[name] += 1
            return name
        roll -= rate
    return None


async def answer(name: str, request: web.Request, body: dict[str, Any], state: State,
                 complete: Callable[[dict[str, Any]], dict[str, Any]]) -> web.StreamResponse:  # fmt: skip
    """The faulty answer."""
    s = state.settings
    if name == "429":
        return error(429, "rate limited", "rate_limit", headers={"Retry-After": f"{s.retry_after_s:g}"})
    if name == "500":
        return error(500, "boom", "server_error")
    if name == "hang":
        await asyncio.sleep(s.hang_s)
        if request.transport is not None:
            request.transport.close()  # close without an answer
        return web.Response(status=500)
    if state.rng.random() < 0.5 or not body.get("logprobs"):
        return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [', content_type="application/json")
    completion = complete(body)
    completion["choices"][0]["logprobs"] = None
    return web.json_response(completion)
