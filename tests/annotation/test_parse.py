"""The judge-answer parsers, against real GPT-4-turbo judgments (acceptance 1)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpaca_lc.annotation.official import AlpacaEvalOrder
from alpaca_lc.annotation.parse import (
    Answer,
    p_first_from_choice,
    p_first_from_logprobs,
    p_first_from_text,
    preference_from_p_first,
)
from alpaca_lc.errors import ParseError

LABELS = ("m", "M")
WEIGHTED = Answer("logprob", LABELS)


def test_stored_raw_completions_reproduce_stored_preferences(shared: Path) -> None:
    """The answer rule, and AlpacaEval's order rule: which output the real judge saw first is predicted exactly."""
    columns = ["instruction", "raw_completion", "preference"]
    table = pd.read_parquet(shared / "annotations.parquet", columns=columns).dropna(subset=["raw_completion"])
    order = AlpacaEvalOrder()
    worst, unparsable, decisive = 0.0, 0, 0
    for instruction, raw, stored in zip(table.instruction, table.raw_completion, table.preference, strict=True):
        try:
            p_first = p_first_from_choice(json.loads(raw), WEIGHTED)
        except ParseError:
            unparsable += 1
            assert math.isnan(stored)
            continue
        # The stored preference undid the order AlpacaEval showed the pair in; predict that order.
        worst = max(worst, abs(preference_from_p_first(p_first, order.model_first(instruction)) - stored))
        decisive += abs(p_first - 0.5) > 0.01  # where the wrong order would be visibly wrong
    print(f"\n{len(table)} stored raw completions ({decisive} far from a tie), order predicted by AlpacaEval's rule: "
          f"max |error| {worst:.2e}, unparsable {unparsable}")  # fmt: skip
    assert len(table) > 30_000 and unparsable == 0 and decisive > 30_000
    assert worst < 1e-6


def test_missing_label_has_probability_zero() -> None:
    assert p_first_from_logprobs([{"token": "M", "logprob": -0.1}, {"token": "The", "logprob": -3}], LABELS) == 0.0
    assert p_first_from_logprobs([{"token": "m", "logprob": -0.1}], LABELS) == 1.0
    p = p_first_from_logprobs([{"token": "m", "logprob": np.log(0.3)}, {"token": "M", "logprob": np.log(0.1)}], LABELS)
    assert p == pytest.approx(0.75)


@pytest.mark.parametrize(
    "choice",
    [
        {"message": {"content": "M"}},  # no logprobs at all
        {"logprobs": {"content": [{"token": "x", "top_logprobs": [{"token": "The", "logprob": -0.1}]}]}},
        {"logprobs": {"content": []}},
    ],
)
def test_unusable_logprob_answers_are_parse_errors(choice: dict[str, object]) -> None:
    with pytest.raises(ParseError):
        p_first_from_choice(choice, WEIGHTED)


def test_discrete_answers() -> None:
    assert p_first_from_text(" m\n", LABELS) == 1.0 and p_first_from_text("M", LABELS) == 0.0
    with pytest.raises(ParseError):
        p_first_from_text("Output (a)", LABELS)


def test_orientation() -> None:
    assert preference_from_p_first(0.9, model_first=False) == pytest.approx(1.1)  # baseline shown first, preferred
    assert preference_from_p_first(0.9, model_first=True) == pytest.approx(1.9)  # model shown first, preferred


def test_alpaca_eval_answer_rules() -> None:
    """`is_binarize` and `log_prob_index` of AlpacaEval's logprob parser (its chain-of-thought evaluators)."""
    top = [{"token": "M", "logprob": -0.1}, {"token": "m", "logprob": -2.5}]
    one_token = {"logprobs": {"content": [{"token": "M", "top_logprobs": top}]}}
    assert p_first_from_choice(one_token, Answer("logprob", LABELS, binarize=True)) == 0.0
    assert 0 < p_first_from_choice(one_token, WEIGHTED) < 0.1
    reasoning = {"token": "Think", "top_logprobs": [{"token": "Think", "logprob": 0.0}]}
    last = {"token": "m", "top_logprobs": [{"token": "m", "logprob": -0.2}, {"token": "M", "logprob": -1.8}]}
    cot = {"logprobs": {"content": [reasoning, last]}}
    assert p_first_from_choice(cot, Answer("logprob", LABELS, token_index=-1)) == pytest.approx(0.832, abs=1e-3)
    with pytest.raises(ParseError, match="one answer token"):
        p_first_from_choice(cot, WEIGHTED)  # AlpacaEval's batch rule: exactly one answer token
