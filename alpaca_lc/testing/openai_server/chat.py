"""Chat answers of an ordinary (not reasoning) model: a judge's verdict, read from logprobs or given in text, or a
generator's deterministic text (which may think first: `thinking`)."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from typing import TYPE_CHECKING, Any

from alpaca_lc.testing.openai_server import arena, thinking

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.settings import Settings

LABELS = ("m", "M")  # the labels of AlpacaEval's and alpaca-lc's pairwise prompts: the first output, the second
_OFFICIAL_PROMPT = re.compile(r'"instruction": """(.*?)""".*?"output": """(.*?)""".*?"output": """(.*?)"""', re.S)
_ARENA_PROMPT = re.compile(
    r"<\|User Prompt\|>\n(.*?)\n\n<\|The Start of Assistant A's Answer\|>\n(.*?)\n<\|The End of "
    r"Assistant A's Answer\|>\n\n<\|The Start of Assistant B's Answer\|>\n(.*?)\n<\|The End of",
    re.S,
)
_PAIRWISE = re.compile(r'"model_identifier"|"answer_m"')


def prompt_tokens(body: dict[str, Any]) -> int:
    """The server's token count of a request's messages (about 4 characters a token)."""
    return sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1


def judge_p_first(messages: list[dict[str, Any]], verdict: str = "hash") -> float:
    """The server's deterministic verdict: P(first better) from a hash of the request's messages; with
    `verdict="relevance"`, moved toward the output covering more of the instruction's words."""
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    p = 0.02 + 0.96 * int.from_bytes(digest[:4], "big") / 2**32
    text = "".join(str(m.get("content", "")) for m in messages)
    found = (_OFFICIAL_PROMPT.search(text) or _ARENA_PROMPT.search(text)) if verdict == "relevance" else None
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


def judge_verdict(messages: list[dict[str, Any]], settings: Settings) -> float:
    """P(first better) as this server judges a pairwise request (logprob and text judges agree on it)."""
    return drifted(judge_p_first(messages, settings.verdict), messages, settings)


def is_pairwise_judge(messages: list[dict[str, Any]]) -> bool:
    """A request of AlpacaEval's or alpaca-lc's pairwise judge prompt."""
    return any(_PAIRWISE.search(str(m.get("content", ""))) for m in messages)


def verdict_text(p_first: float) -> str:
    """A judge's answer in text: its reasons, then the label of the output it prefers, last."""
    label = LABELS[0] if p_first >= 0.5 else LABELS[1]
    return f"Weighing correctness, completeness and clarity, the better output is the one labelled {label}.\n\n{label}"


def completion(body: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The answer of an ordinary model to an admitted request."""
    messages = body.get("messages", [])
    if body.get("logprobs"):
        choice, tokens = _logprob_judgment(judge_verdict(messages, settings))
    elif is_pairwise_judge(messages):
        text = verdict_text(judge_verdict(messages, settings))
        choice, tokens = _choice(text, "stop"), len(text.split())
    elif arena.is_arena_judge(messages):
        text = arena.arena_judgment(messages, judge_verdict(messages, settings), settings)
        choice, tokens = _choice(text, "stop"), len(text.split())
    else:
        choice, tokens = _generation(body, settings)
    return envelope(body, choice, prompt_tokens(body), tokens)


def envelope(body: dict[str, Any], choice: dict[str, Any], prompt: int, completion_tokens: int,
             reasoning_tokens: int | None = None) -> dict[str, Any]:  # fmt: skip
    """A chat-completion object around one choice; `completion_tokens` counts reasoning tokens too, as billed."""
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                             "total_tokens": prompt + completion_tokens}  # fmt: skip
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return {"id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "local"), "choices": [choice], "usage": usage}  # fmt: skip


def _choice(content: str, finish_reason: str) -> dict[str, Any]:
    return {"index": 0, "finish_reason": finish_reason, "message": {"role": "assistant", "content": content},
            "logprobs": None}  # fmt: skip


def _logprob_judgment(p: float) -> tuple[dict[str, Any], int]:
    top: list[dict[str, Any]] = [
        {"token": LABELS[0], "logprob": math.log(p)},
        {"token": LABELS[1], "logprob": math.log(1 - p)},
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
    return choice, 1


def words(seed: str, n: int) -> list[str]:
    """`n` deterministic words for a seed (two models, or two requests, answer differently)."""
    return [f"w{int(hashlib.md5(f'{seed}{i}'.encode()).hexdigest()[:4], 16) % 997}" for i in range(n)]


def _generation(body: dict[str, Any], settings: Settings) -> tuple[dict[str, Any], int]:
    messages = body.get("messages", [])
    last = str(messages[-1].get("content", "")) if messages else ""
    answer = words(f"{body.get('model', '')}{last}", settings.generation_words)
    limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 10**6)
    truncated = len(answer) > limit
    choice = _choice("  Answer: " + " ".join(answer[:limit]) + "  ", "length" if truncated else "stop")
    spent = min(len(answer), limit)
    if settings.thinking:
        spent += thinking.think(choice, f"{body.get('model', '')}{last}", settings)
    return choice, spent
