"""A reasoning model, as OpenAI's gpt-5 family and o-series answer on the Chat Completions API: `logprobs` refused
(403), `max_tokens` refused for `max_completion_tokens`, only the default temperature and no `top_p` (400, with the
provider's bodies); hidden reasoning tokens, more for a higher `reasoning_effort`, billed as completion tokens and
reported in `usage.completion_tokens_details.reasoning_tokens`; a judge's verdict in its text (the same verdict its
logprobs would give, so bridges can be tested); and, when the reasoning uses up `max_completion_tokens`, an empty
answer with `finish_reason: "length"`."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from alpaca_lc.testing.openai_server.arena import arena_judgment, is_arena_judge
from alpaca_lc.testing.openai_server.chat import envelope, is_pairwise_judge, judge_verdict, prompt_tokens, verdict_text
from alpaca_lc.testing.openai_server.chat import words as answer_words
from alpaca_lc.testing.openai_server.errors import error_body

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.settings import Settings

EFFORTS = {"minimal": 0.25, "low": 1.0, "medium": 4.0, "high": 16.0}  # reasoning tokens, as multiples of low's
DEFAULT_EFFORT = "medium"  # OpenAI's default


def is_reasoning(model: str, settings: Settings) -> bool:
    """Whether this server answers `model` as a reasoning model."""
    return any(model.startswith(p) for p in settings.reasoning_models.split(",") if p)


def refusal(body: dict[str, Any], settings: Settings) -> tuple[int, dict[str, Any]] | None:
    """The provider's refusal of a request a reasoning model does not take (status and body), or None."""
    if not is_reasoning(str(body.get("model", "")), settings):
        return None
    if body.get("logprobs") or "top_logprobs" in body:
        return 403, error_body("You are not allowed to request logprobs from this model", "invalid_request_error",
                               None, "logprobs")  # fmt: skip
    if "max_tokens" in body:
        return 400, error_body("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                               "'max_completion_tokens' instead.", "invalid_request_error", "unsupported_parameter",
                               "max_tokens")  # fmt: skip
    if "temperature" in body and body["temperature"] != 1:
        return 400, error_body(f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
                               "model. Only the default (1) value is supported.", "invalid_request_error",
                               "unsupported_value", "temperature")  # fmt: skip
    if "top_p" in body:
        return 400, error_body("Unsupported parameter: 'top_p' is not supported with this model.",
                               "invalid_request_error", "unsupported_parameter", "top_p")  # fmt: skip
    if body.get("reasoning_effort", DEFAULT_EFFORT) not in EFFORTS:
        return 400, error_body(f"Invalid value: '{body.get('reasoning_effort')}'. Supported values are: 'minimal', "
                               "'low', 'medium', and 'high'.", "invalid_request_error", "invalid_value",
                               "reasoning_effort")  # fmt: skip
    return None


def completion(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A reasoning model's answer to an admitted request."""
    messages = body.get("messages", [])
    seed = json.dumps(messages, sort_keys=True)
    variation = 0.7 + 0.6 * int.from_bytes(hashlib.sha256(seed.encode()).digest()[:2], "big") / 2**16
    reasoning = max(1, round(settings.reasoning_tokens * EFFORTS[body.get("reasoning_effort", DEFAULT_EFFORT)]
                             * variation))  # fmt: skip
    if is_pairwise_judge(messages):
        text = verdict_text(judge_verdict(messages, settings))
    elif is_arena_judge(messages):
        text = arena_judgment(messages, judge_verdict(messages, settings), settings)
    else:
        text = "Answer: " + " ".join(answer_words(f"{body.get('model', '')}{seed}", settings.generation_words))
    visible = len(text.split())
    limit = body.get("max_completion_tokens")
    finish = "stop"
    if limit is not None and reasoning + visible > int(limit):  # the limit cuts the reasoning, then the answer
        reasoning = min(reasoning, int(limit))
        kept = int(limit) - reasoning
        text, visible, finish = " ".join(text.split()[:kept]), kept, "length"
    choice = {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text,
                                                               "refusal": None}, "logprobs": None}  # fmt: skip
    return envelope(body, choice, prompt_tokens(body), reasoning + visible, reasoning)
