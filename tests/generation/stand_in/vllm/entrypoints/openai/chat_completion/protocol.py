"""The stand-in of vLLM's `ChatCompletionRequest` (what a reasoning parser's `adjust_request` reads and sets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class ChatCompletionRequest:
    model: str
    messages: list[dict[str, Any]]
    skip_special_tokens: bool = True
    spaces_between_special_tokens: bool = True
