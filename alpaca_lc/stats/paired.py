"""Paired comparison of two models' LC win rates on the same instructions, by a paired bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alpaca_lc.stats.glm import fit_soft_logistic
from alpaca_lc.stats.lc import (
    DEFAULT_SPEC,
    GamedRows,
    GLMSpec,
    LCDesign,
    ModelRows,
    bias_corrected_interval,
    lc_from_coef,
    positions_in,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PairedLC:
    """LC of both models on their shared instructions, and their difference with a paired interval."""

    n_instructions: int
    lc_candidate: float
    lc_previous: float
    candidate_interval: tuple[float, float]
    previous_interval: tuple[float, float]
    difference: float  # candidate - previous
    difference_interval: tuple[float, float]
    difference_se: float


def _restrict(rows: ModelRows, keys: npt.NDArray[np.str_]) -> ModelRows:
    """The rows of `keys`' instructions, ordered as `keys`, so both releases' instruction counts line up."""
    position = positions_in(keys, rows.key)
    idx = np.flatnonzero(position >= 0)
    idx = idx[np.argsort(position[idx], kind="stable")]
    return rows.take(idx)


def paired_lc(
    candidate: ModelRows,
    previous: ModelRows,
    gamed: GamedRows | None = None,
    spec: GLMSpec = DEFAULT_SPEC,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedLC:
    """LC difference (candidate - previous) with a paired bootstrap over the shared instructions.

    Each resample draws instructions once and refits both models' GLMs on that same draw, so what the
    two releases share (instruction difficulty, the baseline) cancels out of the difference. A release may
    hold several sampled outputs per instruction; an instruction is drawn with all its rows.

    Args:
        candidate: the candidate's annotations.
        previous: the previous release's annotations, against the same baseline and judge.
        gamed: the baseline's gamed-variant rows for the regularisation, or None.
        spec: the LC GLM spec.
        n_boot: bootstrap resamples.
        seed: bootstrap seed.
        level: two-sided interval level.
    """
    keys = np.array(sorted(set(candidate.key) & set(previous.key)))
    if len(keys) < 2:
        raise ValueError("the two models share fewer than 2 judged instructions")
    c, p = _restrict(candidate, keys), _restrict(previous, keys)
    counts = np.vstack(
        [
            np.ones(len(keys)),
            resample_counts(len(keys), n_boot, seed),
        ]
    )
    lc_c, lc_p = _lc_draws(c, gamed, spec, counts), _lc_draws(p, gamed, spec, counts)
    diff = lc_c - lc_p
    return PairedLC(
        n_instructions=len(keys),
        lc_candidate=float(lc_c[0]),
        lc_previous=float(lc_p[0]),
        candidate_interval=bias_corrected_interval(lc_c[1:], float(lc_c[0]), level),
        previous_interval=bias_corrected_interval(lc_p[1:], float(lc_p[0]), level),
        difference=float(diff[0]),
        difference_interval=percentile_interval(diff[1:], level),
        difference_se=float(diff[1:].std(ddof=1)),
    )


def resample_counts(n: int, rounds: int, seed: int) -> FloatArray:
    """A paired bootstrap's draws: how often each of n items is drawn in each resample, shape (rounds, n)."""
    return np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=rounds).astype(float)


def percentile_interval(boot: FloatArray, level: float) -> tuple[float, float]:
    """Plain percentile interval. For the difference of two releases it holds its level where the
    bias-corrected one, whose correction is estimated from the resamples too, did not: simulated false-fail
    rates at 95% one-sided were 4.9% over 2,000 runs (percentile, 1,000 resamples) vs 5.4-7.0% (bias-corrected);
    see benchmarks/gate_simulation.py.
    """
    low, high = np.percentile(boot, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def _lc_draws(rows: ModelRows, gamed: GamedRows | None, spec: GLMSpec, counts: FloatArray) -> FloatArray:
    """LC for each row of instruction counts (the first row: the original sample)."""
    if rows.is_baseline:
        return np.full(len(counts), 50.0)
    design = LCDesign.build(rows, gamed if spec.regularize_lambda else None, spec)
    start = fit_soft_logistic(design.x, design.y, design.weights(counts[0]))
    coef = fit_soft_logistic(design.x, design.y, design.weights(counts), start=start)
    return lc_from_coef(coef, design.difficulty, counts)
