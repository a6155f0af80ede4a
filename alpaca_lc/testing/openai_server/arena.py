"""An Arena-Hard-Auto judge: its own answer and reasons, then a verdict of five kinds in double brackets, as
GPT-4.1 answers the benchmark's judge prompt; now and then (`arena_no_verdict`) a judgment that gives none."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alpaca_lc.testing.openai_server.settings import Settings

_MARK = "<|The Start of Assistant A's Answer|>"
_KINDS = ((0.85, "A>>B"), (0.6, "A>B"), (0.4, "A=B"), (0.15, "B>A"), (0.0, "B>>A"))


def is_arena_judge(messages: list[dict[str, Any]]) -> bool:
    """A request of Arena-Hard-Auto's judge prompt."""
    return any(_MARK in str(m.get("content", "")) for m in messages)


def arena_judgment(messages: list[dict[str, Any]], p_first: float, settings: Settings) -> str:
    """The judge's text for a game in which assistant A is better with probability `p_first`."""
    label = next(kind for floor, kind in _KINDS if p_first >= floor)
    digest = hashlib.sha256(("no-verdict" + json.dumps(messages, sort_keys=True)).encode()).digest()
    reasons = ("My own answer would first restate the task, then solve it step by step.\n\n"
               "Assistant A's answer is compared with mine for correctness, then Assistant B's; both are weighed "
               "for helpfulness, relevance and concision.")  # fmt: skip
    if int.from_bytes(digest[:4], "big") / 2**32 < settings.arena_no_verdict:
        return reasons + "\n\nBoth answers have merits; I cannot decide."
    return f"{reasons}\n\nMy final verdict is: [[{label}]]"
