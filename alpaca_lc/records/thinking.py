"""A thinking model's output, split into its answer and its thought.

Qwen3, DeepSeek-R1 and their distillations, QwQ and most new open models write a thought before the answer,
between think tags (`<think>...</think>` by default; others by option). Only the answer is judged and
length-controlled, as the authors who publish AlpacaEval 2.0 numbers for such models do (the thought would sit in
the judge's prompt and in the length term); the thought is kept apart. The split follows vLLM's own parsers
(`BaseThinkingReasoningParser`): the thought ends at the first closing tag; a closing tag with no opening one
(a chat template that opens the thought in the prompt) ends a thought that began the text; a thought that never
closes leaves no answer (empty, as lighteval counts it), and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TAGS = ("<think>", "</think>")


@dataclass(frozen=True)
class Split:
    """An output's answer, its thought (None: there was none), and whether the thought never closed."""

    answer: str
    thought: str | None
    unclosed: bool = False


def split_thought(text: str, tags: tuple[str, str] = DEFAULT_TAGS) -> Split:
    """The answer apart from the thought.

    Args:
        text: a model's whole output.
        tags: the opening and closing think tags.
    """
    opening, closing = tags
    _, opened, rest = text.partition(opening)
    if closing in text:
        thought, _, answer = (rest if opened else text).partition(closing)
        return Split(answer.strip(), thought.strip())
    if opened:  # the thought never closed: the answer never came
        return Split("", rest.strip(), unclosed=True)
    return Split(text, None)


def parse_tags(value: str) -> tuple[str, str]:
    """`OPEN,CLOSE` as given on the command line (e.g. `<seed:think>,</seed:think>`)."""
    opening, sep, closing = value.partition(",")
    if not sep or not opening.strip() or not closing.strip():
        raise ValueError(f"think tags are OPEN,CLOSE (e.g. <think>,</think>), got {value!r}")
    return opening.strip(), closing.strip()
