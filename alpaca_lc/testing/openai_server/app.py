"""The server itself: its state, the routes, and the chat-completions handler that puts the behaviours together.

Each behaviour is a module of its own: `chat` (an ordinary model's answers: judge and generator), `thinking` (a
generator that thinks), `reasoning` (a reasoning model), `faults` (a bad hour, a wrong URL, a missing model),
`budgets` (OpenAI-like rate limits) and `batches` (the Files and Batches API).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import asdict, fields
from typing import Any

from aiohttp import web

from alpaca_lc.testing.openai_server import batches, budgets, chat, faults, reasoning
from alpaca_lc.testing.openai_server.errors import error
from alpaca_lc.testing.openai_server.settings import HELP, Settings
from alpaca_lc.testing.openai_server.state import State


def answer(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The completion of an admitted request, by the kind of model it names."""
    if reasoning.is_reasoning(str(body.get("model", "")), settings):
        return reasoning.completion(body, settings)
    return chat.completion(body, settings)


async def _completions(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    body = json.loads(await request.read() or b"{}")
    s = state.settings
    state.counts["requests"] += 1
    if s.api_key and request.headers.get("Authorization") != f"Bearer {s.api_key}":
        state.counts["401"] += 1
        return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    at_once = faults.refused_at_once(state, body)
    if at_once is not None:
        return at_once
    if s.record:
        with open(s.record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
    refused = reasoning.refusal(body, s)
    if refused is not None:
        state.counts[f"refused_{refused[1]['error']['param']}"] += 1
        return web.json_response(refused[1], status=refused[0])
    if s.max_in_flight and state.in_flight > s.max_in_flight:  # the middleware counted this request already
        state.counts["429"] += 1
        state.counts["429_load"] += 1
        return error(429, "Too many requests in progress, try again later.", "rate_limit")
    over = budgets.admit(state, body) if state.buckets or s.quota_exhausted else None
    if over is not None:
        return over
    await asyncio.sleep(s.latency_ms / 1000)
    fault = faults.draw(state)
    if fault is not None:
        return await faults.answer(fault, request, body, state, lambda b: answer(b, s))
    state.counts["successes"] += 1
    completion = answer(body, s)
    usage = completion["usage"]
    state.counts["prompt_tokens"] += usage["prompt_tokens"]
    state.counts["completion_tokens"] += usage["completion_tokens"]
    state.counts["reasoning_tokens"] += (usage.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    return web.json_response(completion, headers=budgets.limit_headers(state, time.monotonic()))


@web.middleware
async def _count_in_flight(request: web.Request, handler: Any) -> web.StreamResponse:
    state: State = request.app["state"]
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    finally:
        state.in_flight -= 1


async def _stats(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    return web.json_response({**state.counts, "in_flight": state.in_flight, "peak_in_flight": state.peak_in_flight})


async def _config(request: web.Request) -> web.Response:
    state: State = request.app["state"]
    update = json.loads(await request.read() or b"{}")
    known = {f.name for f in fields(Settings)}
    state.configure(Settings(**{**asdict(state.settings), **{k: v for k, v in update.items() if k in known}}))
    if update.get("reset_counts"):
        state.counts.clear()
        state.peak_in_flight = state.in_flight
    return web.json_response(asdict(state.settings))


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "local", "object": "model"}]})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({})


def make_app(settings: Settings) -> web.Application:
    """The server's aiohttp application."""
    state = State(settings, random.Random(settings.seed))
    state.configure(settings)
    app = web.Application(middlewares=[_count_in_flight], client_max_size=64 * 1024**2)
    app["state"] = state
    app.router.add_post("/v1/chat/completions", _completions)
    app.router.add_post("/chat/completions", _completions)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/config", _config)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    batches.routes(app, answer, reasoning.refusal)
    return app


async def _main(args: argparse.Namespace) -> None:
    settings = Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
    runner = web.AppRunner(make_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read) if args.stop_on_stdin_eof else loop.create_future()
    await asyncio.wait([stdin_closed, asyncio.ensure_future(asyncio.sleep(args.max_seconds))],
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    os._exit(0)  # the stdin reader thread cannot be cancelled


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m alpaca_lc.testing.openai_server",
        description="A local OpenAI-compatible server with switchable faults.",
    )
    parser.add_argument("--port", type=int, default=0, help="the port to listen on (0: a free one, printed)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after this long")
    parser.add_argument("--stop-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    for f in fields(Settings):
        kind = type(f.default)
        option = f"--{f.name.replace('_', '-')}"
        meaning = f"{HELP[f.name]} (default {f.default!r})"
        if kind is bool:
            parser.add_argument(option, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default,
                                help=meaning)  # fmt: skip
        else:
            parser.add_argument(option, type=kind, default=f.default, help=meaning)
    asyncio.run(_main(parser.parse_args(argv)))
