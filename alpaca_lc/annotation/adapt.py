"""What a judge becomes on the models of 2026: the verdict read from its text where the model gives no logprobs,
and a reasoning model's parameters.

- `--answer verdict` reads the verdict from the judge's final text: the last of its labels standing as a word
  (`parse.p_first_from_verdict`), as AlpacaEval's regex parser and Arena-Hard-Auto do. The request asks for no
  logprobs. It is another instrument: its protocol hash differs, and its name ends in `+verdict`.
- A model documented as a reasoning model (`endpoint.models`: the gpt-5 family, the o-series), or any model given
  `--reasoning-effort` or `--max-completion-tokens`, gets what such models take: `max_completion_tokens` in place
  of `max_tokens`, no `temperature`, `top_p` or logprobs, and `reasoning_effort` when given (the name then ends in
  `+<effort>`). Its logprob rule would be refused for every request, so the verdict rule replaces it, said in
  one line.

The default `max_completion_tokens` leaves room for the hidden reasoning at the effort asked (OpenAI's default
effort is medium): it is billed as used, not as capped, but a provider's rate limits count the cap, so it is no
larger than a pairwise verdict needs (hundreds of reasoning tokens at low effort, a few thousand at high).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from alpaca_lc.annotation.parse import Answer
from alpaca_lc.endpoint.calls import base_url
from alpaca_lc.endpoint.models import is_reasoning, reasoning_parameters, retirement

if TYPE_CHECKING:
    from alpaca_lc.annotation.cache import JudgmentCache
    from alpaca_lc.annotation.judge import Judge
    from alpaca_lc.config import JudgeRunConfig

COMPLETION_TOKENS = {"none": 1024, "minimal": 2048, "low": 4096, "medium": 8192, "high": 16384, "xhigh": 32768}
DEFAULT_EFFORT = "medium"  # the provider's, when none is sent
VERDICT_TOKENS = 32  # room for a verdict in text on a model that does not reason (AlpacaEval's judge asks for 1)
# What a --dry-run assumes a pairwise verdict's hidden reasoning takes, by effort, until the cache holds judgments
# of the judge (then their mean is used): an assumption, said as one where it is printed.
ASSUMED_REASONING = {"none": 0, "minimal": 100, "low": 400, "medium": 1500, "high": 5000, "xhigh": 10000}
ARENA_ASSUMED_OUTPUT = 1_000  # an Arena-Hard-Auto judgment's output tokens, before any is cached (an assumption)
VERDICT_OUTPUT = 40  # visible tokens of a verdict with its reasons, for estimates


def is_retired(judge: Judge) -> bool:
    """Whether the judge's model is retired by its provider and the judge is asked at that provider's API."""
    return retirement(judge.model, base_url(judge.endpoint)) is not None


def adapt(judge: Judge, run: JudgeRunConfig) -> tuple[Judge, list[str]]:
    """The judge as this run asks it: with the verdict rule and a reasoning model's parameters where due; and what
    to tell the user about it."""
    notes = []
    reasoning = is_reasoning(judge.model) or run.reasoning_effort is not None or run.max_completion_tokens is not None
    verdict = run.answer == "verdict"
    if reasoning and judge.answer.kind == "logprob" and not verdict:
        verdict = True
        notes.append(f"{judge.model} gives no logprobs (a reasoning model): its verdict is read from its text "
                     "(--answer verdict), another instrument")  # fmt: skip
    if verdict and judge.answer.kind not in ("verdict", "arena"):  # Arena-Hard-Auto's verdicts are read from text
        judge = with_verdict(judge, reasoning)
    if reasoning:
        judge = for_reasoning(judge, run.reasoning_effort, run.max_completion_tokens)
    return judge, notes


def expected_completion(judge: Judge, cache: JudgmentCache) -> tuple[int, str]:
    """The completion tokens a judgment is expected to bill (for a reasoning judge, its hidden reasoning and its
    visible verdict, never more than its limit), and how the reasoning was reckoned ("" for other judges)."""
    if judge.answer.kind == "arena" and not judge.reasoning:
        return _long_judgments(judge, cache)
    if not judge.reasoning:
        return judge.max_tokens, ""
    seen = cache.mean_reasoning_tokens(judge.name)
    if seen is not None:
        reasoning = round(seen[0])
        why = (
            f"~{reasoning:,} hidden reasoning tokens a judgment, the mean of {seen[1]:,} cached judgments of this judge"
        )
    else:
        effort = str(judge.decoding.get("reasoning_effort", DEFAULT_EFFORT))
        reasoning = ASSUMED_REASONING.get(effort, ASSUMED_REASONING[DEFAULT_EFFORT])
        why = (f"~{reasoning:,} hidden reasoning tokens a judgment, billed as output: assumed at effort {effort} "
               "until this judge has judgments cached")  # fmt: skip
    return min(reasoning + VERDICT_OUTPUT, judge.max_tokens), why


def _long_judgments(judge: Judge, cache: JudgmentCache) -> tuple[int, str]:
    """An Arena-Hard-Auto judge writes its own answer before its verdict: far more than a label, far less than its
    limit (16,000). The mean of its cached judgments once there are some, else an assumption, said."""
    seen = cache.mean_completion_tokens(judge.name)
    if seen is not None:
        tokens = min(round(seen[0]), judge.max_tokens)
        return tokens, f"~{tokens:,} output tokens a judgment, the mean of {seen[1]:,} cached judgments of this judge"
    tokens = min(ARENA_ASSUMED_OUTPUT, judge.max_tokens)
    return tokens, (f"~{tokens:,} output tokens a judgment (its own answer, then the verdict): assumed until this "
                    "judge has judgments cached")  # fmt: skip


def with_verdict(judge: Judge, reasoning: bool) -> Judge:
    """The judge reading its verdict from the text (no logprobs asked): another instrument, `<name>+verdict`."""
    decoding = {k: v for k, v in judge.decoding.items() if k not in ("logprobs", "top_logprobs")}
    if not reasoning:
        decoding["max_tokens"] = max(int(decoding.get("max_tokens", 1)), VERDICT_TOKENS)
    return dataclasses.replace(judge, name=f"{judge.name}+verdict", decoding=decoding,
                               answer=Answer("verdict", judge.answer.labels[:2]))  # fmt: skip


def for_reasoning(judge: Judge, effort: str | None, max_completion_tokens: int | None) -> Judge:
    """The judge's requests as a reasoning model takes them (see the module's docstring)."""
    limit = max_completion_tokens or COMPLETION_TOKENS[effort or DEFAULT_EFFORT]
    decoding = reasoning_parameters(judge.decoding, limit, effort)
    name = judge.name if effort is None else f"{judge.name}+{effort}"
    return dataclasses.replace(judge, name=name, decoding=decoding)
