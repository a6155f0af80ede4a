"""A small OpenAI-compatible chat-completions server on 127.0.0.1, with switchable faults.

Answers `POST /v1/chat/completions` as a judge (a one-token answer `m` or `M` with top logprobs, when the
request asks for logprobs) or as a generator (a deterministic text otherwise), after a set latency.
Faults are drawn per request: 429 with Retry-After, 500, a hang past the client's timeout (then the
connection is closed without an answer), and malformed bodies or answers without logprobs. `GET /stats`
returns counters (`successes` counts only well-formed answers); `POST /config` switches settings while it
runs. It serves only loopback, and stops by itself when its parent closes its stdin or after
`--max-seconds`.

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
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any


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
    seed: int = 0
    generation_words: int = 40
    record: str = ""  # a file each chat-completions request body is appended to, one JSON line each


@dataclass
class _State:
    settings: Settings
    rng: random.Random
    counts: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    peak_in_flight: int = 0


def judge_p_first(messages: list[dict[str, Any]]) -> float:
    """The server's deterministic verdict: P(first better) from a hash of the request's messages."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    return 0.02 + 0.96 * int.from_bytes(digest[:4], "big") / 2**32


def _completion(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    messages = body.get("messages", [])
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4 + 1
    if body.get("logprobs"):
        p = judge_p_first(messages)
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
        words = [
            f"w{int(hashlib.md5(f'{last}{i}'.encode()).hexdigest()[:4], 16) % 997}"
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
    return {
        "id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()),
        "model": body.get("model", "local"), "choices": [choice],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


def _response(status: int, payload: bytes, extra: dict[str, str] | None = None) -> bytes:
    reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}.get(status, "")
    headers = {"Content-Type": "application/json", "Content-Length": str(len(payload)), **(extra or {})}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + payload


async def _handle_completion(state: _State, body: dict[str, Any]) -> bytes | None:
    s = state.settings
    state.counts["requests"] += 1
    if s.record:
        with open(s.record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
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
            if name == "429":
                error = json.dumps({"error": {"message": "rate limited", "type": "rate_limit"}}).encode()
                return _response(429, error, {"Retry-After": f"{s.retry_after_s}"})
            if name == "500":
                return _response(500, json.dumps({"error": {"message": "boom", "type": "server_error"}}).encode())
            if name == "hang":
                await asyncio.sleep(s.hang_s)
                return None  # close without an answer
            return _malformed(body, state)
        draw -= rate
    state.counts["successes"] += 1
    return _response(200, json.dumps(_completion(body, s)).encode())


def _malformed(body: dict[str, Any], state: _State) -> bytes:
    if state.rng.random() < 0.5 or not body.get("logprobs"):
        return _response(200, b'{"id": "chatcmpl-broken", "choices": [')
    completion = _completion(body, state.settings)
    completion["choices"][0]["logprobs"] = None
    return _response(200, json.dumps(completion).encode())


async def _route(state: _State, method: str, path: str, body: bytes) -> bytes | None:
    if method == "POST" and path.rstrip("/").endswith("/chat/completions"):
        return await _handle_completion(state, json.loads(body or b"{}"))
    if method == "GET" and path == "/stats":
        stats = {**state.counts, "in_flight": state.in_flight, "peak_in_flight": state.peak_in_flight}
        return _response(200, json.dumps(stats).encode())
    if method == "POST" and path == "/config":
        update = json.loads(body or b"{}")
        known = {f.name for f in fields(Settings)}
        state.settings = Settings(**{**asdict(state.settings), **{k: v for k, v in update.items() if k in known}})
        state.rng = random.Random(state.settings.seed)
        if update.get("reset_counts"):
            state.counts.clear()
        return _response(200, json.dumps(asdict(state.settings)).encode())
    if method == "GET" and path.rstrip("/").endswith("/models"):
        return _response(200, json.dumps({"object": "list", "data": [{"id": "local", "object": "model"}]}).encode())
    if method == "GET" and path == "/health":
        return _response(200, b"{}")
    return _response(404, json.dumps({"error": {"message": f"no route {method} {path}"}}).encode())


async def _serve_connection(state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            try:
                answer = await _route(state, method, path, body)
            finally:
                state.in_flight -= 1
            if answer is None:
                break
            writer.write(answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    settings = Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
    state = _State(settings, random.Random(settings.seed))
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(state, r, w), "127.0.0.1", args.port, backlog=512
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read) if args.stop_on_stdin_eof else loop.create_future()
    async with server:
        await asyncio.wait([stdin_closed, asyncio.ensure_future(asyncio.sleep(args.max_seconds))],
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    os._exit(0)  # the stdin reader thread cannot be cancelled


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="stop by itself after this long")
    parser.add_argument("--stop-on-stdin-eof", action="store_true", help="stop when the parent closes stdin")
    for f in fields(Settings):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
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
