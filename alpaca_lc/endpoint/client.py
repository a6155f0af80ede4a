"""One async OpenAI client per run (judge or generator): retries, pacing to the provider's budget, concurrency.

Retries (tenacity: a cap on attempts, exponential backoff with jitter) cover 5xx, timeouts, connection errors
and unparsable responses. A rate limit (429, or 503 "overloaded") is backpressure, not a failure: it waits
(`retry-after-ms` / `Retry-After`, else the `x-ratelimit-reset-*` headers, else the message's "try again in
Xs", else backoff with jitter) and is retried without using up an attempt. What ends a throttled run is the
stall limit: no success anywhere for `stall_timeout` seconds. Requests are paced by a token and request
budget learned from the answers' headers (or set with --tpm / --rpm), and the in-flight limit adapts between
1 and `concurrency`, cut only for rate limits that fewer requests in flight would avoid (`inflight`): a budget
the answer shows exhausted, or refusals that rise with load. A refusal with no sign of either waits as asked
and is retried with the limit kept, so a provider's 429 storm slows a run down by its waits, not to a crawl.
(`ALPACA_LC_HOLD_CONCURRENCY=1` holds the limit at `concurrency`: a reference for benchmarks, not a setting.)
Authentication, permission, not-found and `insufficient_quota` errors stop the run at
once: they would fail for every request. The API key is read from the environment when the client is built,
and scrubbed from every message this module produces.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import importlib.util
import logging
import os
import random
import re
import time
import urllib.parse
from collections import Counter
from typing import Any, TypeVar

import openai
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.calls import ChatRequest, ClientSettings, Completion, PaceReport, chat_body
from alpaca_lc.endpoint.inflight import AdaptiveLimit
from alpaca_lc.endpoint.pacing import Budget, TokenEstimator, parse_duration
from alpaca_lc.errors import IncompleteError, LengthCut, ModelNotFound, ParseError, UsageError

logger = logging.getLogger(__name__)

T = TypeVar("T")
_FATAL = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
_MAX_WAIT = 120.0  # the longest single wait a server may ask for
_MAX_BACKOFF = 20.0  # the longest backoff after a failure
MIN_ROUND = 1.0  # the in-flight limit is cut at most once a second (or once per round trip, if longer)
_TRY_AGAIN = re.compile(r"try again in\s+((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", re.IGNORECASE)
# How providers name an exhausted budget in a 429's message (OpenAI: "Rate limit reached for gpt-4o in
# organization org-... on tokens per min (TPM): Limit 30000, Used ...").
_BUDGET_MESSAGE = re.compile(r"(tokens|requests) per (min|day)|\b[TR]P[MD]\b|Limit \d+, Used \d+", re.IGNORECASE)
# The openai client returns the raw HTTP response when asked for its own response class (httpx2, or httpx in
# older releases): we read the JSON ourselves, and the headers the budget needs.
_HTTP = importlib.import_module("httpx2" if importlib.util.find_spec("httpx2") else "httpx")


def cause_of(exc: BaseException) -> str:
    """A short name for why a request failed, for retry and failure counts."""
    if _quota(exc):
        return "insufficient_quota"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit"
    if isinstance(exc, openai.APIStatusError) and exc.status_code == 503:
        return "overloaded"
    if isinstance(exc, openai.APITimeoutError):
        return "connection" if _refused(exc) else "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.InternalServerError):
        return "server_error"
    if isinstance(exc, LengthCut):
        return "length"
    if isinstance(exc, ParseError | openai.APIResponseValidationError):
        return "malformed"
    if isinstance(exc, openai.APIStatusError):
        return f"http_{exc.status_code}"
    return type(exc).__name__


def _refused(exc: BaseException) -> bool:
    """A connection that failed (refused, unreachable) rather than timed out: aiohttp's transport reports both
    as a connect timeout, but the cause beneath says which."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    while seen is not None:
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _quota(exc: BaseException | None) -> bool:
    return isinstance(exc, openai.RateLimitError) and "insufficient_quota" in (exc.code, exc.type)


def _throttle(exc: BaseException | None) -> bool:
    return exc is not None and cause_of(exc) in ("rate_limit", "overloaded")


def _refused_parameter(exc: openai.APIStatusError) -> str | None:
    """The request parameter an answer refuses (`logprobs`, `max_tokens`, `temperature`, `top_p`...): a model
    that refuses one for a request refuses it for all. OpenAI names it in `param` (logprobs in the message)."""
    if exc.status_code not in (400, 403):
        return None
    text = _message(exc).lower()
    if "logprobs" in text and ("not allowed" in text or "not supported" in text or "not enabled" in text):
        return "logprobs"
    body = exc.body if isinstance(exc.body, dict) else {}
    if exc.code in ("unsupported_parameter", "unsupported_value") or "unsupported parameter" in text:
        return str(body.get("param") or exc.param or "a parameter")
    return None


def _retryable(exc: BaseException) -> bool:
    return cause_of(exc) in ("rate_limit", "overloaded", "timeout", "connection", "server_error", "malformed")


class ChatClient:
    """Sends chat completions to one endpoint; build it once per run, never per request."""

    def __init__(self, endpoint: Endpoint, settings: ClientSettings) -> None:
        self._key = api_key(endpoint)
        self._key_env = endpoint.api_key_env
        self.settings = settings
        self.retries: Counter[str] = Counter()
        self.budget = Budget(settings.tpm or endpoint.tokens_per_minute, settings.rpm or endpoint.requests_per_minute)
        self.limit = AdaptiveLimit(settings.concurrency, os.environ.get("ALPACA_LC_HOLD_CONCURRENCY") != "1")
        self.throttled = 0
        self.tokens_used = 0
        self.limit_successes = 0
        self._estimators: dict[str, TokenEstimator] = {}
        self._started = self._last_success = time.monotonic()
        self._stopped: IncompleteError | None = None
        self.draining = False  # Ctrl-C: what was sent is waited for, nothing more is sent (`interrupt`)
        self.sent = 0  # requests sent and not yet answered
        self._latency = 0.5  # a running estimate: the "round" the in-flight limit adapts over
        self._openai = openai.AsyncOpenAI(
            api_key=self._key,
            base_url=endpoint.base_url,
            max_retries=0,  # retries are ours, so they can be counted and honour the limits
            timeout=settings.timeout,
            http_client=_http_client(settings.timeout),
        )

    async def close(self) -> None:
        """Close the HTTP connections."""
        await self._openai.close()

    def scrub(self, text: str) -> str:
        """Remove the API key from a message."""
        return text.replace(self._key, "***") if len(self._key) >= 4 and self._key != PLACEHOLDER_KEY else text

    def report(self) -> PaceReport:
        """Throttling, budget waits and throughput so far."""
        minutes = max(time.monotonic() - self._started, 1e-9) / 60
        budget = self.budget
        return PaceReport(self.throttled, budget.waited, self.tokens_used / minutes, budget.tokens_per_minute,
                          int(self.limit.limit), budget.waiting, budget.foreign_tokens_per_minute)  # fmt: skip

    async def complete(self, request: ChatRequest[T]) -> Completion[T]:
        """One request, retried on transient faults; raises the last error when attempts run out."""
        throttled = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal throttled
            exc = state.outcome.exception() if state.outcome else None
            if _throttle(exc):
                throttled += 1  # backpressure: waits, never uses up an attempt, until the run stalls
                return time.monotonic() - self._last_success > self.settings.stall_timeout
            if exc is not None and state.attempt_number >= 2 and self._unusable(exc):
                return True
            return state.attempt_number - throttled >= self.settings.max_attempts

        def wait(state: RetryCallState) -> float:
            # Backoff grows with the failures, not with the rate limits waited out between them (a request that
            # met three 429s and then a 500 waits as after one failure, not after four).
            return self._wait(state, state.attempt_number - throttled)

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable), wait=wait, stop=stop, before_sleep=self._count_retry, reraise=True,
        )  # fmt: skip
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(request)
        except openai.APIStatusError as exc:
            stop_run = self._stops_the_run(exc, request.model)
            if stop_run is None:
                raise
            self._stopped = self._stopped or stop_run  # nothing more is sent: the run ends with this error
            raise self._stopped from None
        except (openai.APIConnectionError, ParseError):
            if self._stopped is not None:  # the endpoint is unusable (`_unusable`): the run ends with that
                raise self._stopped from None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _unusable(self, exc: BaseException) -> bool:
        """Whether a request's second failure shows an endpoint that will answer no request of this run: nothing
        has succeeded yet, and nothing listens at its address, or what answers is not an OpenAI-compatible API.
        The run then stops at once with one line naming the URL, instead of retrying every request."""
        if self.limit_successes or self._stopped is not None:
            return self._stopped is not None
        url = str(self._openai.base_url).rstrip("/")
        if isinstance(exc, openai.APIConnectionError) and _refused(exc):
            self._stopped = IncompleteError(f"cannot connect to {url} ({_os_reason(exc)}): is the server running, "
                                            "and is the base URL (OPENAI_BASE_URL) right?")  # fmt: skip
        elif isinstance(exc, NotJSON):
            self._stopped = IncompleteError(f"{exc}: not an OpenAI-compatible API; is the base URL (OPENAI_BASE_URL) "
                                            "right? (it usually ends in /v1)")  # fmt: skip
        return self._stopped is not None

    def _stops_the_run(self, exc: openai.APIStatusError, model: str) -> IncompleteError | None:
        """The error that ends the whole run, for an answer that every further request would get too."""
        if isinstance(exc, openai.NotFoundError) and (exc.code == "model_not_found" or "does not exist" in str(exc)):
            return ModelNotFound(f"the endpoint has no model {model} (model_not_found): "
                                 f"{self.scrub(_message(exc))}", model)  # fmt: skip
        if isinstance(exc, openai.AuthenticationError) and self._key == PLACEHOLDER_KEY and self._key_env:
            return IncompleteError(f"the endpoint wants an API key (401): set the environment variable {self._key_env}")
        refused = _refused_parameter(exc)
        if refused == "logprobs":
            return IncompleteError(f"judge model {model} gives no logprobs (it answered {exc.status_code}: "
                                   f"{self.scrub(_message(exc))}): judge it with --answer verdict, the verdict read "
                                   "from its text (another instrument); nothing more is sent")  # fmt: skip
        if refused is not None:
            return IncompleteError(f"{model} refuses '{refused}' ({exc.status_code}: {self.scrub(_message(exc))}): a "
                                   "reasoning model is asked with --reasoning-effort or --max-completion-tokens (a "
                                   "judge also with --answer verdict); nothing more is sent")  # fmt: skip
        if isinstance(exc, _FATAL):
            return IncompleteError(f"the endpoint refused the request ({cause_of(exc)}): {self.scrub(_message(exc))}")
        if _quota(exc):
            return IncompleteError("the API key has no quota left (insufficient_quota: money, not rate): add credit "
                                   "or use another key; finished work is kept")  # fmt: skip
        if _throttle(exc):  # the stall limit
            return IncompleteError(
                f"no request succeeded for {self.settings.stall_timeout:.0f} s while the endpoint kept answering "
                f"{exc.status_code} ({self.scrub(_message(exc))}); finished work is kept, re-run to continue"
            )
        return None

    async def _attempt(self, request: ChatRequest[T]) -> Completion[T]:
        estimator = self._estimators.get(request.model) or self._estimators.setdefault(
            request.model, TokenEstimator(request.model)
        )
        raw = estimator.raw(request.messages)
        max_tokens = int(request.decoding.get("max_tokens") or request.decoding.get("max_completion_tokens") or 0)
        cost = round(raw * estimator.ratio) + max_tokens
        body = chat_body(request.model, request.messages, request.decoding)
        async with self.limit as level:  # a hung request holds its slot for --timeout, one slot, never the run
            await self.budget.acquire(cost)
            if self._stopped is not None:
                raise self._stopped
            if self.draining:  # Ctrl-C: not sent, so not paid for
                raise asyncio.CancelledError
            start = time.perf_counter()
            self.sent += 1
            # The client's documented raw-request method: same auth, base URL and error types as
            # `chat.completions.create`, without re-validating our already well-formed parameters.
            try:
                response = await self._openai.post("/chat/completions", cast_to=_HTTP.Response, body=body)
                content = await response.aread()
            except openai.APIStatusError as exc:
                if _throttle(exc):
                    self.throttled += 1
                    if self._throttled(exc, level):  # refused for budget, not charged: the retry pays when admitted
                        self.budget.refund(cost)
                self._observe(exc.response.headers)
                raise
            finally:
                self.sent -= 1
            latency = time.perf_counter() - start
        self._observe(response.headers)
        self._latency = 0.9 * self._latency + 0.1 * latency
        data = _json_body(content, str(response.url), response.status_code)
        usage = data.get("usage") or {}
        prompt_tokens, completion_tokens = (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )
        if prompt_tokens:
            estimator.learn(raw, prompt_tokens)
            self.budget.refund(cost - prompt_tokens - max_tokens)
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ParseError("the response has no choices")
        reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
        try:
            value = request.parse(choices[0])
        except ParseError as exc:  # answered and billed, but no usable answer in it
            exc.billed = (prompt_tokens, completion_tokens)
            raise
        self._last_success = time.monotonic()
        self.limit.succeeded(level)
        self.limit_successes += 1
        self.tokens_used += prompt_tokens + completion_tokens
        return Completion(value, choices[0], prompt_tokens, completion_tokens, latency, reasoning)

    def _observe(self, headers: Any) -> None:
        """Learn the budget from an answer's headers; the first time its rate is known, the buckets pace the run
        and the in-flight cuts made for budget before then are undone (hung requests would hold the slots)."""
        paced = self.budget.tokens_per_minute is not None
        self.budget.observe(headers)
        if not paced and self.budget.tokens_per_minute is not None:
            self.limit.reset()

    def _throttled(self, exc: openai.APIStatusError, level: int) -> bool:
        """Adapt to a rate limit; True for one that shows an exhausted budget. Such a one: while the budget's rate
        is unknown, the in-flight limit is halved and, with nothing to pace by, everyone waits as long as the
        answer asks; once the buckets know the rate, they pace the requests and the limit is left alone (cutting
        it would let hung requests hold the few slots left). A refusal without a budget: a cut only where fewer in
        flight would be refused less (`inflight`); otherwise it waits alone (`_wait`). Its cost stays charged:
        providers count unsuccessful requests toward the limit, and refunding it would make this run take the
        server's count for someone else's spending."""
        budget = exhausted_budget(exc.response.headers, _message(exc))
        paced = self.budget.tokens_per_minute is not None
        if not (budget and paced):
            self.limit.throttled(max(self._latency, MIN_ROUND), level, budget)
        if budget and not paced:
            asked = server_wait(exc.response.headers, _message(exc))
            if asked is not None:
                self.budget.hold(min(asked, _MAX_WAIT))
        return budget

    def _count_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None:
            self.retries[cause_of(exc)] += 1

    def _wait(self, state: RetryCallState, failures: int) -> float:
        """For a rate limit, what the server asks (headers, then its message), else backoff with jitter over the
        `failures` so far."""
        exc = state.outcome.exception() if state.outcome else None
        if _throttle(exc) and isinstance(exc, openai.APIStatusError):
            asked = server_wait(exc.response.headers, _message(exc))
            if asked is not None:
                return min(asked, _MAX_WAIT) * random.uniform(1.0, 1.1)  # a little jitter: no thundering herd
        return float(random.uniform(0, min(_MAX_BACKOFF, 0.25 * 2 ** (max(failures, 1) - 1))))  # as tenacity


_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


def _http_client(timeout: float) -> Any:
    """The openai client's documented aiohttp transport (`DefaultAioHttpClient`): the same requests, auth and
    errors at well under half of httpx's CPU per request, which is what bounds a fast endpoint from a 2-core
    machine. httpx (the openai default) where a proxy variable is set: its aiohttp session ignores them."""
    if not any(os.environ.get(v) for v in _PROXY_VARIABLES):
        try:
            return openai.DefaultAioHttpClient(timeout=timeout)
        except RuntimeError:  # openai installed without its aiohttp extra
            pass
    return openai.DefaultAsyncHttpxClient(timeout=timeout)


def server_wait(headers: Any, message: str) -> float | None:
    """Seconds a rate-limited answer asks to wait: `retry-after-ms`, `Retry-After` (seconds or a date), the
    `x-ratelimit-reset-*` of an exhausted limit, or the message's "try again in Xs"; None if it says nothing."""
    if headers.get("retry-after-ms") is not None:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after is not None:
        seconds = parse_duration(after)
        if seconds is None:
            parsed = email.utils.parsedate_to_datetime(after) if after else None
            seconds = None if parsed is None else max(0.0, parsed.timestamp() - time.time())
        if seconds is not None:
            return seconds
    resets = [parse_duration(headers.get(f"x-ratelimit-reset-{kind}")) for kind in ("tokens", "requests")
              if headers.get(f"x-ratelimit-remaining-{kind}") in ("0", None) or _low(headers, kind)]  # fmt: skip
    known = [r for r in resets if r is not None]
    if known:
        return max(known)
    found = _TRY_AGAIN.search(message)
    return parse_duration(found.group(1)) if found else None


def exhausted_budget(headers: Any, message: str) -> bool:
    """Whether a rate-limited answer shows an exhausted budget: a `x-ratelimit-remaining-*` header below 5% of
    its limit, or a message naming a per-minute or per-day limit. Anything else may be load, or neither."""
    return any(_low(headers, kind) for kind in ("tokens", "requests")) or bool(_BUDGET_MESSAGE.search(message))


def _low(headers: Any, kind: str) -> bool:
    """The limit of this kind is the exhausted one: under 5% of it remains."""
    try:
        return float(headers[f"x-ratelimit-remaining-{kind}"]) < 0.05 * float(headers[f"x-ratelimit-limit-{kind}"])
    except (KeyError, TypeError, ValueError):
        return False


class NotJSON(ParseError):
    """An answer that is not a JSON object at all (an HTML page, a proxy's error): not an OpenAI-compatible API."""


def _json_body(content: bytes, url: str, status: int) -> dict[str, Any]:
    """The answer's JSON object; what answered otherwise is named, with the start of what it said."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        sample = content[:200].decode("utf-8", "replace")
        raise NotJSON(f"{url} answered status {status} with something other than a JSON object: {sample!r}")
    return data


def _os_reason(exc: BaseException) -> str:
    """The operating system's words for why a connection failed ("Connection refused")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and not isinstance(seen, TimeoutError) and seen.errno:
            return os.strerror(seen.errno) if seen.errno > 0 else str(seen.strerror or seen)
        seen = seen.__cause__ or seen.__context__
    return "unreachable"


def _message(exc: BaseException) -> str:
    """The error's first line: for a provider's answer, the message of its error body (the client's own text
    prefixes "Error code: N - " to it, and the status is said apart)."""
    body = exc.body if isinstance(exc, openai.APIStatusError) else None
    text = body.get("message") if isinstance(body, dict) else None
    text = text if isinstance(text, str) and text.strip() else str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


PLACEHOLDER_KEY = "EMPTY"  # what vLLM documents for a server started without --api-key


def api_key(endpoint: Endpoint) -> str:
    """The API key from the environment variable the config names. OpenAI's own endpoint requires it; another
    endpoint (vLLM, llama.cpp, Ollama, a gateway) gets a placeholder when the variable is unset, as such
    servers usually run without keys (one that wants a key answers 401, and the error says to set it)."""
    if endpoint.api_key_env is None:
        return PLACEHOLDER_KEY
    key = os.environ.get(endpoint.api_key_env)
    if key:
        return key
    if _is_openai(endpoint.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"):
        raise UsageError(f"the endpoint needs an API key: set the environment variable {endpoint.api_key_env}")
    logger.info("%s is not set: sending a placeholder key to %s", endpoint.api_key_env, endpoint.base_url)
    return PLACEHOLDER_KEY


def _is_openai(base_url: str) -> bool:
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.com") or host.endswith(".openai.azure.com")


def describe_failure(exc: BaseException, client: ChatClient) -> tuple[str, str]:
    """(cause, scrubbed message) of a request that failed for good."""
    return cause_of(exc), client.scrub(_message(exc))
