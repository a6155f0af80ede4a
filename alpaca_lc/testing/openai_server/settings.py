"""The test server's settings: every field can be set on the command line and changed at run time (`POST /config`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settings:
    """Behaviour of the server (see `HELP` for each field)."""

    latency_ms: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 0.05
    rate_500: float = 0.0
    rate_hang: float = 0.0
    hang_s: float = 30.0
    rate_malformed: float = 0.0
    max_in_flight: int = 0
    seed: int = 0
    generation_words: int = 40
    record: str = ""
    budget_tokens: int = 0
    budget_requests: int = 0
    budget_window_s: float = 60.0
    budget_retry_after: bool = False
    quota_exhausted: bool = False
    api_key: str = ""
    missing_models: str = ""
    html_answers: bool = False
    verdict: str = "hash"
    drift: float = 0.0
    jitter: float = 0.0
    reasoning_models: str = "gpt-5,o1,o3,o4"  # name prefixes served as reasoning models
    arena_no_verdict: float = 0.0  # share of Arena-Hard judgments that give no verdict
    reasoning_tokens: int = 200  # hidden reasoning tokens of a judgment at effort "low" (x0.25 minimal, x4 medium...)
    thinking: str = ""  # a generator that thinks: "inline" (<think>...</think> before the answer) or "field"
    thinking_field: str = "reasoning"  # the field a separate thought is in: "reasoning" or "reasoning_content"
    thinking_unclosed: float = 0.0  # a share of inline thoughts that never close (no answer follows)
    batch_delay_s: float = 1.0
    batch_error_rate: float = 0.0
    batch_missing_rate: float = 0.0
    batch_expire_after: int = 0
    batch_invalid: str = ""
    batch_enqueued_tokens: int = 0


HELP = {
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
    "verdict": "the judge's verdict: hash (unrelated to the outputs) or relevance (covering the instruction wins)",
    "drift": "share of requests (the same ones every time) whose verdict is flipped: a judge that changed",
    "jitter": "share of calls whose verdict is flipped at random: a judge's own run-to-run noise",
    "arena_no_verdict": "share of Arena-Hard-Auto judgments that give no verdict (a failed game)",
    "reasoning_models": "comma-separated name prefixes served as reasoning models (no logprobs, hidden reasoning)",
    "reasoning_tokens": "hidden reasoning tokens of a judgment at effort low (x0.25 minimal, x4 medium, x16 high)",
    "thinking": "a generator that thinks: inline (<think>...</think> before its answer) or field (apart)",
    "thinking_field": "the response field a separate thought is in: reasoning (vLLM now) or reasoning_content",
    "thinking_unclosed": "share of inline thoughts that never close (the answer never comes)",
    "batch_delay_s": "how long a batch takes to complete, seconds",
    "batch_error_rate": "share of a batch's lines answered in its error file (each line once at most)",
    "batch_missing_rate": "share of a batch's lines missing from both files (each line once at most)",
    "batch_expire_after": "a batch of more lines answers this many and expires (0: never)",
    "batch_invalid": "every batch fails validation with this message",
    "batch_enqueued_tokens": "the enqueued-token limit on running batches (0: none)",
}
