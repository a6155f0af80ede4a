"""A generator that thinks before it answers, as Qwen3, DeepSeek-R1 and their kind do: the thought inline in
`<think>...</think>` before the answer (`thinking=inline`; a share `thinking_unclosed` never closes, and no answer
follows), or apart in a field of the message (`thinking=field`: `reasoning`, as vLLM's server now names it, or
`reasoning_content`, as it did)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.settings import Settings

THOUGHT_WORDS = 60


def think(choice: dict[str, Any], seed: str, settings: Settings) -> int:
    """Put a thought into a generator's answer; the thought's tokens (billed as completion tokens)."""
    thought = "Let me think. " + " ".join(f"t{int(hashlib.md5(f'{seed}:{i}'.encode()).hexdigest()[:4], 16) % 991}"
                                          for i in range(THOUGHT_WORDS))  # fmt: skip
    message = choice["message"]
    if settings.thinking == "field":
        message[settings.thinking_field] = thought
        return THOUGHT_WORDS
    draw = int.from_bytes(hashlib.sha256(("unclosed" + seed).encode()).digest()[:4], "big") / 2**32
    if draw < settings.thinking_unclosed:  # the thought runs to the token limit: no answer
        message["content"] = f"<think>\n{thought} and so on"
        choice["finish_reason"] = "length"
    else:
        message["content"] = f"<think>\n{thought}\n</think>\n\n{message['content'].strip()}"
    return THOUGHT_WORDS
