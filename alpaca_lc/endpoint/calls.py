"""What a run asks of an endpoint, and what it gets: settings, requests, answers, and how the run went.

Light on purpose: the stages import these types, and only a run that really sends requests imports the client
(and the `openai` package behind it, which costs half a second).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from alpaca_lc.config import Endpoint

T = TypeVar("T")

PROVIDER_DEFAULT = "https://api.openai.com/v1"  # the openai client's base URL when none is given


def base_url(endpoint: Endpoint) -> str:
    """The base URL a client built now sends to: the endpoint's own, else `$OPENAI_BASE_URL`, else the provider's
    default (the openai client resolves it the same way)."""
    return endpoint.base_url or os.environ.get("OPENAI_BASE_URL") or PROVIDER_DEFAULT


def endpoint_identity(url: str) -> str:
    """What identifies a service in the judgment cache: scheme, host and path of its base URL (lower-cased host,
    no trailing slash). Not the port: a local server's port changes from run to run (`vllm serve` on a free port)
    while it serves the same model; two services on one host are told apart by their paths or models."""
    parts = urllib.parse.urlsplit(url.strip())
    return f"{(parts.scheme or 'https').lower()}://{(parts.hostname or '').lower()}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class ClientSettings:
    """Concurrency, per-call timeout (seconds), the cap on attempts per request, the user's budget (tokens and
    requests per minute, None: learned from the endpoint), and how long a throttled run may go without success."""

    concurrency: int = 32
    timeout: float = 60.0
    max_attempts: int = 8
    tpm: float | None = None
    rpm: float | None = None
    stall_timeout: float = 300.0


@dataclass(frozen=True)
class ChatRequest(Generic[T]):
    """One chat completion to make, and how to read its answer (a ParseError makes it retry)."""

    model: str
    messages: list[dict[str, str]]
    decoding: dict[str, Any]
    parse: Callable[[dict[str, Any]], T]


def chat_body(model: str, messages: list[dict[str, str]], decoding: dict[str, Any]) -> dict[str, Any]:
    """The body of a chat-completions request, live or in a batch file: the same for both, so a batch judgment
    and a live one of the same request are one judgment."""
    return {"model": model, "messages": messages, **decoding}


@dataclass(frozen=True)
class Completion(Generic[T]):
    """A parsed answer and what it cost."""

    value: T
    choice: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int  # as billed: a reasoning model's hidden reasoning tokens included
    latency: float
    reasoning_tokens: int = 0  # of the completion tokens, those of hidden reasoning


@dataclass(frozen=True)
class PaceReport:
    """How a run went against the endpoint's limits."""

    throttled: int  # answers of 429 / 503 (none used up an attempt)
    waited: float  # seconds spent waiting for budget
    tokens_per_minute: float  # achieved
    limit_tokens_per_minute: float | None
    concurrency: int  # the in-flight limit at the end
    waiting: bool = False
    foreign_tokens_per_minute: float = 0.0  # others spending from the same limit, as measured

    def summary(self) -> str:
        """One line for the run summary."""
        limit = f" of the {self.limit_tokens_per_minute:,.0f} limit" if self.limit_tokens_per_minute else ""
        if self.foreign_tokens_per_minute >= 0.01 * (self.limit_tokens_per_minute or 0) > 0:
            limit += f" (others on this key: ~{self.foreign_tokens_per_minute:,.0f})"
        return (f"rate limits: {self.throttled} answers of 429/503 (retried, no attempt used), {self.waited:.1f} s "
                f"waiting for budget; {self.tokens_per_minute:,.0f} tokens/min{limit}; "
                f"concurrency {self.concurrency}")  # fmt: skip
