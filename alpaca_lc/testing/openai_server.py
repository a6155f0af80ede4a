"""A small OpenAI-compatible chat-completions server on 127.0.0.1 (aiohttp), with switchable faults and limits.

Answers `POST /v1/chat/completions` as a judge (a one-token answer `m` or `M` with top logprobs, when the
request asks for logprobs) or as a generator (a deterministic text otherwise), after a set latency.

- Faults are drawn per request: 429 with Retry-After, 500, a hang past the client's timeout (then the
  connection is closed without an answer), and malformed bodies or answers without logprobs. These 429s do
  not depend on load, like a provider's (or a proxy's) during an incident.
- `max_in_flight` makes the server an overloaded one: a request arriving while that many are in progress is
  answered 429 at once, with no Retry-After and no rate-limit headers (a 429 that does come from load).
- A budget mode behaves like OpenAI's rate limits: token and request buckets of `budget_tokens` and
  `budget_requests` that refill continuously over `budget_window_s` (60 s is a per-minute limit; a shorter
  window compresses time). A request is charged its prompt tokens plus `max_tokens` when admitted; one that
  does not fit gets 429 with OpenAI's message ("... Please try again in 1.234s."), and Retry-After only when
  `budget_retry_after` is set. Every answer carries `x-ratelimit-limit/remaining/reset-requests/tokens` in
  OpenAI's format (`20ms`, `8.64s`, `6m0s`). `quota_exhausted` answers 429 `insufficient_quota` to everything.
  Several clients of one server share its budget, as processes sharing one API key do.

The Files and Batches endpoints (`batch_api`) answer batches of the same requests, with their own faults.

`GET /stats` returns counters (`successes` counts only well-formed answers, `tokens_billed` what admitted
requests were charged); `POST /config` switches settings while it runs. It serves only loopback, and stops
by itself when its parent closes its stdin or after `--max-seconds`.

Run: python -m alpaca_lc.testing.openai_server --port 0 --latency-ms 200 [--rate-429 0.3 ...]
(prints `listening on http://127.0.0.1:PORT` once ready).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

from alpaca_lc.testing import batch_api


@dataclass
class Settings:
    """Behaviour of the server; every field can be changed at run time through `POST /config`."""

    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 0.05
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0
    rate_malformed: float = 0.0
    max_in_flight: int = 0  # 0: no limit; else a 429 (no headers) for a request beyond this many in progress
    seed: int = 0
    generation_words: int = 40
    record: str = ""  # a file each chat-completions request body is appended to, one JSON line each
    budget_tokens: int = 0  # 0: no token limit
    budget_requests: int = 0  # 0: no request limit
    budget_window_s: float = 60.0
    budget_retry_after: bool = False
    quota_exhausted: bool = False
    api_key: str = ""  # when set, requests must carry it (401 otherwise); unset: keyless, like a local vLLM
    missing_models: str = ""  # comma-separated models answered 404 model_not_found (retired ones, say)
    html_answers: bool = False  # every chat request answered 200 with an HTML page (a web server, not an API)
    drift: float = 0.0  # a share of requests (by their content: the same ones every time) whose verdict is flipped
    jitter: float = 0.0  # a share of calls whose verdict is flipped at random: a judge's own run-to-run noise
    verdict: str = "hash"  # "hash": a verdict unrelated to the outputs; "relevance": the output that covers more of
    # the instruction's words tends to win (AlpacaEval's prompt only), so a release that answers nothing loses
    batch_delay_s: float = 1.0  # the Batch API (`batch_api`): how long a batch takes to complete
    batch_error_rate: float = 0.0  # a share of a batch's lines answered in its error file (each line once at most)
    batch_missing_rate: float = 0.0  # a share of lines missing from both files (each line once at most)
    batch_expire_after: int = 0  # a batch of more lines answers this many and expires (0: never)
    batch_invalid: str = ""  # when set, every batch fails validation with this message
    batch_enqueued_tokens: int = 0  # the enqueued-token limit on running batches (0: none)


SETTING_HELP = {
    "latency_ms": "milliseconds before each answer",
    "rate_429": "share of requests answered 429 with Retry-After, whatever the load",
    "retry_after_s": "the Retry-After of those 429s, seconds",
    "rate_500": "share of requests answered 500",
    "rate_hang": "share of requests that hang, then close the connection unanswered",
    "hang_s": "how long a hang lasts, seconds",
    "rate_malformed": "share of answers that are broken JSON or lack logprobs",
    "max_in_flight": "refuse (429, no headers) a request beyond this many in progress (0: no limit)",
    "seed": "seed of the fault draws",
    "generation_words": "words in a generator's answer",
    "record": "a file each chat-completions request body is appended to (one JSON line each)",
    "budget_tokens": "tokens per window, as a provider's TPM limit (0: none)",
    "budget_requests": "requests per window, as a provider's RPM limit (0: none)",
    "budget_window_s": "the budget's window, seconds (60: per minute)",
    "budget_retry_after": "budget 429s carry Retry-After",
    "quota_exhausted": "answer 429 insufficient_quota to everything",
    "api_key": "the key requests must carry (unset: keyless)",
    "missing_models": "comma-separated models answered 404 model_not_found",
    "html_answers": "answer every chat request 200 with an HTML page (a web server at the URL, not an API)",
    "drift": "share of requests (the same ones every time) whose verdict is flipped: a judge that changed",
    "jitter": "share of calls whose verdict is flipped at random: a judge's own run-to-run noise",
    "verdict": "the judge's verdict: hash (unrelated to the outputs) or relevance (covering the instruction wins)",
    "batch_delay_s": "how long a batch takes to complete, seconds",
    "batch_error_rate": "share of a batch's lines answered in its error file (each line once at most)",
    "batch_missing_rate": "share of a batch's lines missing from both files (each line once at most)",
    "batch_expire_after": "a batch of more lines answers this many and expires (0: never)",
    "batch_invalid": "every batch fails validation with this message",
    "batch_enqueued_tokens": "the enqueued-token limit on running batches (0: none)",
}


@dataclass
class Bucket:
    """A continuously refilled bucket of `capacity` per `window` seconds (OpenAI's limits behave like this)."""

    capacity: float
    window: float
    level: float
    stamp: float

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.capacity / self.window)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` fits."""
        return max(0.0, amount - self.level) * self.window / self.capacity

    def reset(self) -> float:
        """Seconds until full."""
        return self.wait_for(self.capacity)


@dataclass
class _State:
    settings: Settings
    rng: random.Random
    counts: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def configure(self, settings: Settings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        now = time.monotonic()
        limits = {"tokens": settings.budget_tokens, "requests": settings.budget_requests}
        self.buckets = {k: Bucket(v, settings.budget_window_s, v, now) for k, v in limits.items() if v > 0}


def judge_p_first(messages: list[dict[str, Any]], verdict: str = "hash") -> float:
    """The server's deterministic verdict: P(first better) from a hash of the request's messages; with
    `verdict="relevance"`, moved toward the output covering more of the instruction's words."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    p = 0.02 + 0.96 * int.from_bytes(digest[:4], "big") / 2**32
    text = "".join(str(m.get("content", "")) for m in messages)
    found = _OFFICIAL_PROMPT.search(text) if verdict == "relevance" else None
    if found is None:
        return p
    words = set(re.findall(r"\w+", found.group(1).lower()))
    cover = [len(words & set(re.findall(r"\w+", o.lower()))) / max(len(words), 1) for o in found.group(2, 3)]
    return 1 / (1 + math.exp(-(0.5 * math.log(p / (1 - p)) + 6 * (cover[0] - cover[1]))))


def drifted(p_first: float, messages: list[dict[str, Any]], settings: Settings) -> float:
    """The verdict after the judge's drift (the same requests flipped every time) and jitter (flipped at random)."""
    digest = hashlib.sha256(("drift" + json.dumps(messages, sort_keys=True)).encode()).digest()
    flip = int.from_bytes(digest[:4], "big") / 2**32 < settings.drift
    if settings.jitter and random.random() < settings.jitter:
        flip = not flip
    return 1 - p_first if flip else p_first


_OFFICIAL_PROMPT = re.compile(r'"instruction": """(.*?)""".*?"output": """(.*?)""".*?"output": """(.*?)"""', re.S)


def prompt_tokens(body: dict[str, Any]) -> int:
    """The server's token count of a request's messages (about 4 characters a token)."""
    return sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1


def _completion(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    messages = body.get("messages", [])
    if body.get("logprobs"):
        p = drifted(judge_p_first(messages, settings.verdict), messages, settings)
        top: list[dict[str, Any]] = [
            {"token": "m", "logprob": math.log(p)},
            {"token": "M", "logprob": math.log(1 - p)},
            {"token": "The", "logprob": -12.0},
        ]
        top.sort(key=lambda t: -float(t["logprob"]))
        content = top[0]["token"]
        choice = {
            "index": 0,
            "finish_reason": "length",
            "message": {"role": "assistant", "content": content},
            "logprobs": {"content": [{"token": content, "logprob": top[0]["logprob"], "top_logprobs": top}]},
        }
        completion_tokens = 1
    else:
        last = str(messages[-1].get("content", "")) if messages else ""
        model = str(body.get("model", ""))  # two models answer differently
        words = [
            f"w{int(hashlib.md5(f'{model}{last}{i}'.encode()).hexdigest()[:4], 16) % 997}"
            for i in range(settings.generation_words)
        ]
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**6)
        truncated = len(words) > limit
        text = "  Answer: " + " ".join(words[:limit]) + "  "
        choice = {
            "index": 0,
            "finish_reason": "length" if truncated else "stop",
            "message": {"role": "assistant", "content": text},
            "logprobs": None,
        }
        completion_tokens = min(len(words), limit)
    prompt = prompt_tokens(body)
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "local"), "choices": [choice],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                  "total_tokens": prompt + completion_tokens},
    }  # fmt: skip


def openai_duration(seconds: float) -> str:
    """A duration as OpenAI writes its reset headers: `20ms`, `8.64s`, `6m0s`, `1h2m3s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours or minutes:
        return (f"{int(hours)}h" if hours else "") + f"{int(minutes)}m{secs:.0f}s"
    return f"{secs:.3g}s"


def _error(status: int, message: str, kind: str, code: str | None = None, headers: dict[str, str] | None = None
           ) -> web.Response:  # fmt: skip
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def _limit_headers(state: _State, now: float) -> dict[str, str]:
    headers = {}
    for name, bucket in state.buckets.items():
        bucket.refill(now)
        headers[f"x-ratelimit-limit-{name}"] = str(int(bucket.capacity))
        headers[f"x-ratelimit-remaining-{name}"] = str(int(bucket.level))
        headers[f"x-ratelimit-reset-{name}"] = openai_duration(bucket.reset())
    return headers


def _admit(state: _State, body: dict[str, Any]) -> web.Response | None:
    """Charge an admitted request to the budget; the 429 answer for one that does not fit."""
    s, now = state.settings, time.monotonic()
    if s.quota_exhausted:
        state.counts["429_quota"] += 1
        return _error(429, "You exceeded your current quota, please check your plan and billing details.",
                      "insufficient_quota", "insufficient_quota")  # fmt: skip
    cost = {"tokens": prompt_tokens(body) + int(body.get("max_tokens") or 0), "requests": 1}
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
    headers = _limit_headers(state, now)
    if s.budget_retry_after:
        headers |= {"retry-after-ms": str(math.ceil(wait * 1000)), "retry-after": str(math.ceil(wait))}
    return _error(429, message, "tokens" if name == "tokens" else "requests", "rate_limit_exceeded", headers)


async def _completions(request: web.Request) -> web.StreamResponse:
    state: _State = request.app["state"]
    body = json.loads(await request.read() or b"{}")
    s = state.settings
    state.counts["requests"] += 1
    if s.api_key and request.headers.get("Authorization") != f"Bearer {s.api_key}":
        state.counts["401"] += 1
        return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
    if str(body.get("model")) in s.missing_models.split(","):
        state.counts["404"] += 1
        return _error(404, f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                      "invalid_request_error", "model_not_found")  # fmt: skip
    if s.html_answers:
        state.counts["html"] += 1
        return web.Response(text="<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head><body>"
                            "<h1>Welcome to nginx!</h1></body></html>\n", content_type="text/html")  # fmt: skip
    if s.record:
        with open(s.record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
    if s.max_in_flight and state.in_flight > s.max_in_flight:  # the middleware counted this request already
        state.counts["429"] += 1
        state.counts["429_load"] += 1
        return _error(429, "Too many requests in progress, try again later.", "rate_limit")
    refused = _admit(state, body) if state.buckets or s.quota_exhausted else None
    if refused is not None:
        return refused
    await asyncio.sleep(s.latency_ms / 1000)
    draw = state.rng.random()
    for name, rate in (
        ("429", s.rate_429),
        ("500", s.rate_500),
        ("hang", s.rate_hang),
        ("malformed", s.rate_malformed),
    ):
        if draw < rate:
            state.counts[name] += 1
            return await _fault(name, request, body, state)
        draw -= rate
    state.counts["successes"] += 1
    return web.json_response(_completion(body, s), headers=_limit_headers(state, time.monotonic()))


async def _fault(name: str, request: web.Request, body: dict[str, Any], state: _State) -> web.StreamResponse:
    s = state.settings
    if name == "429":
        return _error(429, "rate limited", "rate_limit", headers={"Retry-After": f"{s.retry_after_s:g}"})
    if name == "500":
        return _error(500, "boom", "server_error")
    if name == "hang":
        await asyncio.sleep(s.hang_s)
        if request.transport is not None:
            request.transport.close()  # close without an answer
        return web.Response(status=500)
    if state.rng.random() < 0.5 or not body.get("logprobs"):
        return web.Response(body=b'{"id": "chatcmpl-broken", "choices": [', content_type="application/json")
    completion = _completion(body, s)
    completion["choices"][0]["logprobs"] = None
    return web.json_response(completion)


@web.middleware
async def _count_in_flight(request: web.Request, handler: Any) -> web.StreamResponse:
    state: _State = request.app["state"]
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        response: web.StreamResponse = await handler(request)
        return response
    finally:
        state.in_flight -= 1


async def _stats(request: web.Request) -> web.Response:
    state: _State = request.app["state"]
    return web.json_response({**state.counts, "in_flight": state.in_flight, "peak_in_flight": state.peak_in_flight})


async def _config(request: web.Request) -> web.Response:
    state: _State = request.app["state"]
    update = json.loads(await request.read() or b"{}")
    known = {f.name for f in fields(Settings)}
    state.configure(Settings(**{**asdict(state.settings), **{k: v for k, v in update.items() if k in known}}))
    if update.get("reset_counts"):
        state.counts.clear()
        state.peak_in_flight = state.in_flight
    return web.json_response(asdict(state.settings))


def make_app(settings: Settings) -> web.Application:
    """The server's aiohttp application."""
    state = _State(settings, random.Random(settings.seed))
    state.configure(settings)
    app = web.Application(middlewares=[_count_in_flight], client_max_size=64 * 1024**2)
    app["state"] = state
    app.router.add_post("/v1/chat/completions", _completions)
    app.router.add_post("/chat/completions", _completions)
    app.router.add_get("/stats", _stats)
    app.router.add_post("/config", _config)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/health", _health)
    batch_api.routes(app, _completion)
    return app


async def _models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "local", "object": "model"}]})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({})


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="the port to listen on (0: a free one, printed)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after this long")
    parser.add_argument("--stop-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    for f in fields(Settings):
        kind = type(f.default)
        option = f"--{f.name.replace('_', '-')}"
        meaning = f"{SETTING_HELP[f.name]} (default {f.default!r})"
        if kind is bool:
            parser.add_argument(option, type=lambda v: v.lower() in ("1", "true", "yes"), default=f.default,
                                help=meaning)  # fmt: skip
        else:
            parser.add_argument(option, type=kind, default=f.default, help=meaning)
    asyncio.run(_main(parser.parse_args(argv)))


class LocalServer:
    """A server process for tests and benchmarks; a context manager that always stops it."""

    def __init__(self, **settings: Any) -> None:
        args = [sys.executable, "-m", "alpaca_lc.testing.openai_server", "--stop-on-stdin-eof"]
        for key, value in settings.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"local OpenAI server did not start: {line!r}")
        self.url = line.split()[-1]

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`.../v1`)."""
        return self.url + "/v1"

    def stats(self) -> dict[str, int]:
        """The server's counters."""
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return dict(json.load(resp))

    def configure(self, **settings: Any) -> None:
        """Change settings (and with reset_counts=True, zero the counters)."""
        request = urllib.request.Request(self.url + "/config", data=json.dumps(settings).encode(), method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
