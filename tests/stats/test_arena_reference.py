"""Arena-Hard-Auto scores against the benchmark's own scorer, on the committed judgment fixture.

The reference's figures come from `benchmarks/arena_reference.py`, which runs its `show_result.py` (it needs
`torch`) in a throw-away environment; the baseline's style metadata is read from ../shared, so these tests
skip cleanly without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alpaca_lc.errors import InputError
from alpaca_lc.records.arena_hard import AnswerStyle, read_answer_style, read_judgments
from alpaca_lc.scoring.arena import CategoryBattles, category_battles, score_category
from alpaca_lc.stats.arena import Score, StyleControlled, game_outcome

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "arena_hard_v2"
BASELINE_ANSWERS = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "arena_hard_v2" / "o3-mini-2025-01-31.jsonl"
)
REFERENCE = json.loads((FIXTURE / "reference_figures.json").read_text())


@pytest.fixture(scope="module")
def battles() -> CategoryBattles:
    judgments = [j for path in sorted((FIXTURE / "judgments").glob("*.jsonl")) for j in read_judgments(path)]
    return category_battles(judgments, "hard_prompt")


@pytest.fixture(scope="module")
def styles() -> dict[str, AnswerStyle]:
    if not BASELINE_ANSWERS.exists():
        pytest.skip(f"shared Arena-Hard-Auto v2.0 data not found at {BASELINE_ANSWERS.parent}")
    found = [read_answer_style(p) for p in [*sorted((FIXTURE / "answers").glob("*.jsonl")), BASELINE_ANSWERS]]
    return {a.model: a for a in found}


def test_battles_are_the_reference_rows(battles: CategoryBattles) -> None:
    assert battles.battles.weight.sum() == REFERENCE["rows"]
    assert sum(battles.failed.values()) > 0  # the fixture holds null games and games with no verdict


def test_plain_means_equal_the_reference_before_bootstrap(battles: CategoryBattles) -> None:
    scores = score_category(battles, None, None)
    assert isinstance(scores, list)
    for s in scores:
        assert s.score == pytest.approx(REFERENCE["mean"][s.model], abs=1e-9)


def _within_bootstrap_noise(ours: Score, ref: list[float]) -> None:
    """Percentile endpoints of two independent 100-resample bootstraps differ by about half the interval's
    width at most (the 5% quantile of 100 draws has a standard error of about a third of a standard deviation)."""
    width = ref[2] - ref[1]
    assert abs(ours.low - ref[1]) < 0.5 * width, (ours, ref)
    assert abs(ours.high - ref[2]) < 0.5 * width, (ours, ref)
    assert abs(ours.score - ref[0]) < 0.25 * width, (ours, ref)


def test_plain_intervals_within_bootstrap_noise(battles: CategoryBattles) -> None:
    scores = score_category(battles, None, None)
    assert isinstance(scores, list)
    for s in scores:
        _within_bootstrap_noise(s, REFERENCE["plain"][s.model])


@pytest.mark.parametrize("control", ["length,markdown"])
def test_style_control_equals_the_reference_fit(
    battles: CategoryBattles, styles: dict[str, AnswerStyle], control: str
) -> None:
    result = score_category(battles, styles, control)
    assert isinstance(result, StyleControlled)
    full = REFERENCE[f"{control}.full"]
    for s in result.scores:
        assert 100 * s.score == pytest.approx(100 * full[s.model], abs=0.1)
        _within_bootstrap_noise(s, REFERENCE[control][s.model])
    ref_coefs = REFERENCE[f"{control}.full_coefs"][-len(result.coefficients) :]
    ours = [c[0] for c in result.coefficients.values()]
    np.testing.assert_allclose(ours, ref_coefs, atol=2e-3)
    assert max(abs(c) for c in ours) > 0.2  # the fixture's style moves the verdicts: a real control


def test_length_control_uses_the_length_feature(battles: CategoryBattles, styles: dict[str, AnswerStyle]) -> None:
    """The reference's `-f length` keeps a model indicator instead; ours fits the length difference, whose
    coefficient is positive here (the fixture's judge prefers longer answers)."""
    result = score_category(battles, styles, "length")
    assert isinstance(result, StyleControlled)
    assert list(result.coefficients) == ["token_len"]
    assert result.coefficients["token_len"][1] > 0


def test_unknown_labels_are_failed_games() -> None:
    assert game_outcome("A>>B", model_is_a=False) == (0.0, 3)
    assert game_outcome("B<A", model_is_a=True) == (1.0, 1)
    assert game_outcome("AB", model_is_a=True) is None
    assert game_outcome(None, model_is_a=True) is None


def test_missing_style_names_the_model(battles: CategoryBattles) -> None:
    with pytest.raises(InputError, match="no answer file with style metadata for 'model-strong'"):
        score_category(battles, {}, "length,markdown")


SERVER = json.loads((FIXTURE / "reference_figures_server.json").read_text())


def test_judgments_made_by_the_local_server_score_as_the_reference(styles: dict[str, AnswerStyle]) -> None:
    """The same comparison on judgments our `annotate` made against the local server (five kinds of verdict,
    some with none), kept to their verdicts: `benchmarks/arena_reference.py --server-fixture`."""
    judgments = [j for path in sorted((FIXTURE / "server").glob("*.jsonl")) for j in read_judgments(path)]
    kinds = {v for j in judgments for v in j.verdicts}
    assert kinds == {"A>>B", "A>B", "A=B", "B>A", "B>>A", None}
    made = category_battles(judgments, "hard_prompt")
    assert made.battles.weight.sum() == SERVER["rows"]
    plain = score_category(made, None, None)
    assert isinstance(plain, list)
    for s in plain:
        assert s.score == pytest.approx(SERVER["mean"][s.model], abs=1e-9)
        _within_bootstrap_noise(s, SERVER["plain"][s.model])
    styled = score_category(made, styles, "length,markdown")
    assert isinstance(styled, StyleControlled)
    for s in styled.scores:
        assert 100 * s.score == pytest.approx(100 * SERVER["length,markdown.full"][s.model], abs=0.1)
        _within_bootstrap_noise(s, SERVER["length,markdown"][s.model])
    np.testing.assert_allclose([c[0] for c in styled.coefficients.values()],
                               SERVER["length,markdown.full_coefs"][-4:], atol=2e-3)  # fmt: skip
