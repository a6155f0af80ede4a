"""Reading the judge's answer: the probability that the first output shown is better."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from alpaca_lc.errors import LengthCut, ParseError


@dataclass(frozen=True)
class Answer:
    """How a judge's answer is read.

    `logprob`: P(first) = P(labels[0]) / sum of P(label) over `labels`, from the top logprobs of one answer
    token (`token_index`; None: the answer must be exactly one token). With `binarize`, 1.0 when the first
    label's logprob beats every other label's, else 0.0. `discrete`: the answer text is one of the labels.
    `verdict`: the last of the labels that stands as a word in the answer's text (reasons may come first), as
    AlpacaEval's regex parser and Arena-Hard-Auto read a judge that gives no logprobs. `arena`: Arena-Hard-Auto's
    five-kind verdict, read by its regexes (`labels` holds them); P(first) encodes the kind (`ARENA_P_FIRST`), and a
    judgment that gives none is kept as a tie, its verdict None when the judgment file is written (as the
    benchmark keeps a game with no verdict, paid for, and counts it failed).
    """

    kind: Literal["logprob", "discrete", "verdict", "arena"]
    labels: tuple[str, ...] = ("m", "M")
    binarize: bool = False
    token_index: int | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this rule in a judge's protocol hash."""
        return {"kind": self.kind, "labels": list(self.labels), "binarize": self.binarize, "index": self.token_index}


def p_first_from_logprobs(top_logprobs: list[dict[str, Any]], labels: tuple[str, ...]) -> float:
    """P(first better) = P(labels[0]) / sum of P(labels) from one token's top logprobs.

    A label absent from the top logprobs has probability 0; none present is a parse error.

    Args:
        top_logprobs: entries with `token` and `logprob`.
        labels: the label of the first output, then every label that counts in the denominator.
    """
    found = _label_logprobs(top_logprobs, labels)
    lp_first = found.get(labels[0], -math.inf)
    top = max(found.values())
    total = sum(math.exp(lp - top) for lp in found.values())
    return math.exp(lp_first - top) / total


def _label_logprobs(top_logprobs: list[dict[str, Any]], labels: tuple[str, ...]) -> dict[str, float]:
    found: dict[str, float] = {}
    for entry in top_logprobs:
        token, logprob = entry.get("token"), entry.get("logprob")
        if token in labels and isinstance(logprob, int | float) and token not in found:
            found[token] = float(logprob)
    if not found:
        raise ParseError(f"none of {', '.join(map(repr, labels))} among the top logprobs")
    return found


def p_first_from_text(text: str, labels: tuple[str, ...]) -> float:
    """P(first better) from a discrete answer: 1.0 for the first label, 0.0 for the second."""
    answer = text.strip()
    if answer == labels[0]:
        return 1.0
    if answer == labels[1]:
        return 0.0
    raise ParseError(f"answer {answer[:40]!r} is neither {labels[0]!r} nor {labels[1]!r}")


def p_first_from_verdict(text: str, labels: tuple[str, ...]) -> float:
    """P(first better) from a verdict in text: 1.0 when the last label standing as a word is the first label, 0.0
    when it is the second (labels are told apart by case: AlpacaEval's are `m` and `M`)."""
    found = re.findall("(?<![A-Za-z0-9_])(" + "|".join(re.escape(label) for label in labels[:2]) + ")(?![A-Za-z0-9_])",
                       text)  # fmt: skip
    if not found:
        raise ParseError(f"no verdict ({' or '.join(map(repr, labels[:2]))}) in the answer {text[-60:]!r}")
    return 1.0 if found[-1] == labels[0] else 0.0


# P(assistant A better) for each of Arena-Hard-Auto's verdict labels: the kind survives in the cached preference.
ARENA_P_FIRST = {"A>>B": 1.0, "A>B": 0.75, "A=B": 0.5, "A<B": 0.25, "A<<B": 0.0,
                 "B<<A": 1.0, "B<A": 0.75, "B=A": 0.5, "B>A": 0.25, "B>>A": 0.0}  # fmt: skip


def arena_label(text: str, patterns: tuple[str, ...]) -> str | None:
    """Arena-Hard-Auto's verdict in a judgment: each regex in turn over the upper-cased text, the last non-empty
    match of the first that matches (as its `gen_judgment.py` reads it); None when none matches."""
    upper = text.upper()
    for pattern in patterns:
        matches = [m for m in re.findall(pattern, upper) if m != ""]
        if matches:
            return str(matches[-1]).strip("\n")
    return None


def p_first_from_choice(choice: dict[str, Any], answer: Answer) -> float:
    """P(first better) from one chat-completion choice (as a dict), by the judge's answer rule.

    Args:
        choice: `choices[0]` of a chat completion, as a dict.
        answer: how the judge answers.
    """
    content = (choice.get("message") or {}).get("content") or ""
    if not content.strip() and choice.get("finish_reason") == "length" and answer.kind != "logprob":
        raise LengthCut("the answer is empty: the completion limit was used up before it (a reasoning model's "
                        "hidden reasoning); raise it with --max-completion-tokens")  # fmt: skip
    if answer.kind == "verdict":
        return p_first_from_verdict(content, answer.labels)
    if answer.kind == "arena":
        return ARENA_P_FIRST.get(arena_label(content, answer.labels) or "", 0.5)
    if answer.kind == "discrete":
        return p_first_from_text(content, answer.labels)
    content = (choice.get("logprobs") or {}).get("content") or []
    if answer.token_index is None and len(content) != 1:
        raise ParseError(f"expected logprobs of one answer token, got {len(content)}")
    try:
        top = content[answer.token_index or 0].get("top_logprobs")
    except IndexError:
        top = None
    if not top:
        raise ParseError("the response has no logprobs")
    if not answer.binarize:
        return p_first_from_logprobs(top, answer.labels)
    found = _label_logprobs(top, answer.labels)
    first = found.get(answer.labels[0], -math.inf)
    return 1.0 if all(first > found.get(label, -math.inf) for label in answer.labels[1:]) else 0.0


def preference_from_p_first(p_first: float, model_first: bool) -> float:
    """Preference in AlpacaEval's encoding (2 = model better) from P(first shown is better)."""
    return 1.0 + p_first if model_first else 2.0 - p_first
