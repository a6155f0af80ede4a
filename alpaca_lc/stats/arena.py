"""Arena-Hard-Auto's metric: battles against a baseline, a score with a bootstrap interval, and the
Bradley-Terry fit with style features held at zero difference (style control).

Each prompt is judged twice, the baseline as assistant A and then swapped. Each game is one battle whose
outcome is the model's score (1, 0.5 or 0); a "much better" verdict counts three times, as the reference
repeats its row three times. Repeated rows are kept here as a weight, and a bootstrap that resamples the
reference's repeated rows one by one is a multinomial draw over games with probability weight / total, so the
resamples have the reference's distribution without materialising the copies.

Style control follows the reference's `show_result.py`: per battle, the length feature is
(model - baseline) / (model + baseline) tokens, the markdown features are the difference of densities
(count / (tokens + 1)) over their sum plus one, and every feature is standardised over the battles (sample
standard deviation). The Bradley-Terry fit has one coefficient per model against the baseline plus one per
feature; a model's style-controlled score is its win probability against the baseline at zero feature
difference. It is fitted with our Newton solver (`stats/glm.py`), not `torch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alpaca_lc.stats.glm import expit, fit_soft_logistic
from alpaca_lc.stats.paired import percentile_interval, resample_counts

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

STRONG_WEIGHT = 3
LEVEL = 0.90  # the reference's interval: 5% and 95% quantiles of 100 resamples
ROUNDS = 100
STYLE_FEATURES = ("token_len", "header_count", "list_count", "bold_count")
CONTROLS = {"length": (0,), "markdown": (1, 2, 3), "length,markdown": (0, 1, 2, 3)}

# Assistant A's score and the battle's weight for each verdict label the reference's table knows.
_VERDICTS: dict[str, tuple[float, int]] = {
    "A>B": (1.0, 1),
    "A>>B": (1.0, STRONG_WEIGHT),
    "A=B": (0.5, 1),
    "A<<B": (0.0, STRONG_WEIGHT),
    "A<B": (0.0, 1),
    "B>A": (0.0, 1),
    "B>>A": (0.0, STRONG_WEIGHT),
    "B=A": (0.5, 1),
    "B<<A": (1.0, STRONG_WEIGHT),
    "B<A": (1.0, 1),
}


def game_outcome(label: str | None, model_is_a: bool) -> tuple[float, int] | None:
    """The model's score in one game and the battle's weight, or None for a failed game.

    Args:
        label: the verdict read from the judgment (e.g. "A>>B"); None, or a label outside the reference's
            table (the regex also matches strings like "AB"), is a failed game.
        model_is_a: whether the model under test was assistant A (the second game).
    """
    known = _VERDICTS.get(label) if label is not None else None
    if known is None:
        return None
    score, weight = known
    return (score if model_is_a else 1.0 - score), weight


@dataclass(frozen=True)
class Battles:
    """One row per game that counts: which model, its outcome, and its weight (3 for a strong verdict)."""

    models: tuple[str, ...]  # the models under test, without the baseline
    model: IntArray  # index into `models`
    outcome: FloatArray
    weight: FloatArray


@dataclass(frozen=True)
class Score:
    """A model's score against the baseline (a probability) and its percentile interval."""

    model: str
    score: float
    low: float
    high: float


@dataclass(frozen=True)
class StyleControlled:
    """Style-controlled scores, and each feature's coefficient with its interval."""

    scores: list[Score]
    coefficients: dict[str, tuple[float, float, float]]  # feature -> (estimate, low, high)


def _draws(weight: FloatArray, rounds: int, rng: np.random.Generator) -> FloatArray:
    """Bootstrap counts per game: the reference's repeated rows resampled with replacement, summed per game."""
    total = round(float(weight.sum()))
    return rng.multinomial(total, weight / weight.sum(), size=rounds).astype(float)


def plain_scores(battles: Battles, *, rounds: int = ROUNDS, seed: int = 0, level: float = LEVEL) -> list[Score]:
    """Each model's weighted mean outcome, with a bootstrap over its own battles (as the reference draws them).

    The estimate is the full-data mean; the reference prints the mean of its resampled means, which differs
    from it only by bootstrap noise.
    """
    rng = np.random.default_rng(seed)
    scores = []
    for index, name in enumerate(battles.models):
        mine = battles.model == index
        outcome, weight = battles.outcome[mine], battles.weight[mine]
        estimate = float(outcome @ weight / weight.sum())
        counts = _draws(weight, rounds, rng)
        boot = counts @ outcome / counts.sum(axis=1)
        scores.append(Score(name, estimate, *percentile_interval(boot, level)))
    return scores


def style_differences(model: FloatArray, baseline: FloatArray) -> FloatArray:
    """The reference's per-battle style features from raw counts (columns as `STYLE_FEATURES`).

    Args:
        model: the model's answer's token length and markdown counts, shape (n, 4).
        baseline: the baseline's answer's, same shape.
    """
    out = np.empty_like(model, dtype=float)
    out[:, 0] = (model[:, 0] - baseline[:, 0]) / (model[:, 0] + baseline[:, 0])
    model_density = model[:, 1:] / (model[:, :1] + 1)
    baseline_density = baseline[:, 1:] / (baseline[:, :1] + 1)
    out[:, 1:] = (model_density - baseline_density) / (model_density + baseline_density + 1)
    return out


def standardise(features: FloatArray, weight: FloatArray) -> FloatArray:
    """Features centred and scaled over the battles, each repeated row counted (sample standard deviation)."""
    total = weight.sum()
    mean = weight @ features / total
    centred = features - mean
    sd = np.sqrt(weight @ centred**2 / (total - 1))
    return centred / sd


@dataclass(frozen=True)
class _Design:
    x: FloatArray
    n_models: int


def _design(battles: Battles, features: FloatArray) -> _Design:
    """One indicator column per model (the baseline is the zero of the scale) and the standardised features."""
    n_models = len(battles.models)
    indicators = np.zeros((len(battles.model), n_models))
    indicators[np.arange(len(battles.model)), battles.model] = 1.0
    return _Design(np.hstack([indicators, standardise(features, battles.weight)]), n_models)


def style_controlled(
    battles: Battles,
    features: FloatArray,
    names: tuple[str, ...],
    *,
    rounds: int = ROUNDS,
    seed: int = 0,
    level: float = LEVEL,
) -> StyleControlled:
    """Bradley-Terry scores at zero style difference, with a bootstrap over all battles (as the reference).

    Args:
        battles: the battles, one row per game that counts.
        features: their style differences (`style_differences`), restricted to the controlled columns.
        names: the controlled features' names, one per column of `features`.
    """
    design = _design(battles, features)
    beta = fit_soft_logistic(design.x, battles.outcome, battles.weight)
    counts = _draws(battles.weight, rounds, np.random.default_rng(seed))
    boot = np.atleast_2d(fit_soft_logistic(design.x, battles.outcome, counts, start=beta))
    rates, boot_rates = expit(beta[: design.n_models]), expit(boot[:, : design.n_models])
    scores = [
        Score(name, float(rates[i]), *percentile_interval(boot_rates[:, i], level))
        for i, name in enumerate(battles.models)
    ]
    coefficients = {
        name: (float(beta[design.n_models + j]), *percentile_interval(boot[:, design.n_models + j], level))
        for j, name in enumerate(names)
    }
    return StyleControlled(scores, coefficients)


@dataclass(frozen=True)
class PairedScores:
    """Two releases' scores on the prompts both have battles on, and their difference with a paired interval."""

    prompts: int
    candidate: float
    previous: float
    difference: float  # candidate - previous
    low: float  # the one-sided bounds of the difference at the confidence asked
    high: float


def paired_scores(candidate: FloatArray, previous: FloatArray, *, rounds: int = 1000, seed: int = 0,
                  confidence: float = 0.95) -> PairedScores:  # fmt: skip
    """Paired comparison of two releases by prompt: each score is its weighted outcomes over its weights, and a
    resample draws prompts once for both releases, so what they share (each prompt's difficulty against the
    baseline) cancels out of the difference.

    Args:
        candidate: per shared prompt, the candidate's (sum of weighted outcomes, sum of weights), shape (n, 2).
        previous: the same for the previous release, rows in the same prompt order.
        confidence: of each one-sided bound.
    """
    n = len(candidate)
    draws = resample_counts(n, rounds, seed)
    cand = draws @ candidate[:, 0] / (draws @ candidate[:, 1])
    prev = draws @ previous[:, 0] / (draws @ previous[:, 1])
    diff = cand - prev
    point_c, point_p = candidate[:, 0].sum() / candidate[:, 1].sum(), previous[:, 0].sum() / previous[:, 1].sum()
    low, high = np.quantile(diff, [1 - confidence, confidence])
    return PairedScores(n, float(point_c), float(point_p), float(point_c - point_p), float(low), float(high))
