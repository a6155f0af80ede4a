"""Subset estimates: judge ~100 instructions, estimate the full eval set's raw and LC win rates with intervals.

A subset file (`records.subset`) holds instruction hashes and numbers only: which instructions to judge,
every instruction's terms of the item model (`stats.irt`) fitted on many models' judgments, and the prior of a
new model's terms. For a model, all outputs are generated (so every instruction's length difference is known)
and only the subset is judged. Its terms are estimated from those judgments; each unjudged instruction gets its
expected preference; the raw win rate is the mean, and the LC win rate is the unchanged LC spec fitted on the
completed rows. The interval combines the estimate's posterior spread (Laplace draws of the model's terms,
each carried through the same LC fit) with the sampling error a full run's interval carries.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from alpaca_lc.errors import InputError
from alpaca_lc.records.annotations import expand_annotation_paths
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.subset import Subset, write_subset
from alpaca_lc.scoring.judged import JudgedRows, load_judged
from alpaca_lc.stats import irt
from alpaca_lc.stats.lc import GamedRows, LCResult, ModelRows, lc_of_targets, length_controlled
from alpaca_lc.stats.winrate import RawMetrics, raw_metrics

if TYPE_CHECKING:
    from alpaca_lc.config import SubsetFitConfig

FloatArray = npt.NDArray[np.float64]

# The prior's covariance is the fitted models' spread, doubled: a new model may be unlike all of them, and a
# tight prior then pulls it toward them (leave-models-out error is lowest at 1.5-3x).
PRIOR_INFLATION = 2.0
DRAWS = 200


@dataclass(frozen=True)
class Matrix:
    """Models x instructions: soft preferences (NaN: not judged) and length features, and which models may
    shape the prior (not the baseline itself, not flagged by screening)."""

    models: list[str]
    keys: npt.NDArray[np.str_]
    y: FloatArray
    x: FloatArray
    typical: npt.NDArray[np.bool_]


def judgment_matrix(rows: JudgedRows) -> Matrix:
    """Arrange many models' judgments by instruction (the baseline judged against itself is left out)."""
    keys = np.unique(rows.key)
    groups = [(m, idx) for m, idx in rows.groups() if not rows.identical[idx].all()]
    y, x = np.full((len(groups), len(keys)), np.nan), np.full((len(groups), len(keys)), np.nan)
    for row, (_, idx) in enumerate(groups):
        col = np.searchsorted(keys, rows.key[idx])
        y[row, col] = rows.preference[idx] - 1
        x[row, col] = irt.length_feature((rows.len_1[idx] - rows.len_2[idx]).astype(float))
    typical = np.array([not rows.screen(idx) for _, idx in groups], dtype=bool)
    return Matrix([m for m, _ in groups], keys, y, x, typical)


def fit_subset(matrix: Matrix, size: int, *, seed: int = 0, name: str = "", judge: str | None = None) -> Subset:
    """Choose `size` instructions at random (seeded) and fit the item model and prior on all the models.

    Random, not designed: subsets chosen to be most informative about the fitted models (D- or c-optimal,
    k-means anchors) estimated models unlike them worse in leave-models-out tests (README, "Subset estimates").

    Args:
        matrix: many models' judgments (`judgment_matrix`).
        size: instructions to judge.
        seed: seed of the choice and of the fit.
        name: the subset's name.
        judge: whose judgments these are.
    """
    if not 0 < size <= len(matrix.keys):
        raise InputError(f"--size must be between 1 and {len(matrix.keys)}, the instructions judged")
    return with_chosen(fit_item_model(matrix, seed=seed, name=name, judge=judge), size, seed)


def fit_item_model(matrix: Matrix, *, seed: int = 0, name: str = "", judge: str | None = None) -> Subset:
    """The item model and prior fitted on all the models, with no instruction chosen yet (`with_chosen`)."""
    if matrix.typical.sum() < 3:
        raise InputError("a subset needs the judgments of at least 3 unflagged models")
    fitted = irt.fit_items(matrix.y, matrix.x, seed=seed)
    abilities = fitted.abilities[matrix.typical]
    prior_mean = np.median(abilities, axis=0)
    prior_cov = np.cov(abilities.T) * PRIOR_INFLATION + 1e-3 * np.eye(abilities.shape[1])
    items = irt.ItemModel(np.zeros((0, abilities.shape[1])), fitted.easiness, fitted.slope, fitted.embedding)
    return Subset(name, matrix.keys, matrix.keys[:0], items, prior_mean, prior_cov, name, judge)


def with_chosen(subset: Subset, size: int, seed: int) -> Subset:
    """The subset with `size` of its instructions chosen uniformly at random (seeded); for one seed, a smaller
    subset is part of a larger one, so a `tiny` run's judgments count toward a `small` one."""
    order = np.random.default_rng(seed).permutation(len(subset.keys))
    chosen = np.sort(subset.keys[order[:size]])
    return dataclasses.replace(subset, chosen=chosen)


@dataclass(frozen=True)
class SubsetEstimate:
    """Full-set raw metrics and LC estimated from the judged instructions, with widened intervals."""

    raw: RawMetrics
    lc: LCResult
    n_judged: int
    n_instructions: int
    raw_subset_se: float  # the subset's estimation error alone (within the standard errors above)
    lc_subset_se: float
    completed: FloatArray  # preferences in [1, 2]: judged ones, and the expected ones elsewhere


def estimate_model(
    subset: Subset,
    rows: ModelRows,
    gamed: GamedRows | None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    n_failed: int = 0,
) -> SubsetEstimate:
    """Estimate a model's full-set raw and LC win rates from its judged rows.

    Args:
        subset: the subset and item model.
        rows: one row per instruction of the full set (lengths known), preference NaN where not judged.
        gamed: the LC spec's gamed-baseline rows.
        n_boot: bootstrap resamples for the full-set sampling part of the LC interval (0: posterior only).
        seed: seed of the posterior draws and the bootstrap.
        level: two-sided level of the LC interval.
        n_failed: judgments that failed (reported, not used).
    """
    items = subset.items_of(rows.key)
    judged = ~np.isnan(rows.preference)
    if not judged.any():
        raise InputError(f"no judged instruction of subset {subset.name}", path=subset.source)
    x, y = irt.length_feature(rows.delta_len), rows.preference - 1
    posterior = irt.fit_new_model(y, x, items, subset.prior_mean, subset.prior_cov)
    draws = np.random.default_rng(seed).multivariate_normal(posterior.mean, posterior.cov, DRAWS)
    completed = np.where(judged, y[None, :], posterior.predict(np.vstack([posterior.mean, draws]), x, items))
    z = NormalDist().inv_cdf((1 + level) / 2)
    lc, lc_subset_se = _lc_estimate(rows, completed, gamed, n_boot, seed, z)
    raw_draws = completed[1:].mean(axis=1) * 100
    raw_subset_se = float(np.std(raw_draws, ddof=1))
    # A full run's raw standard error, from the judged instructions' spread.
    sampling = float(np.std(y[judged], ddof=1) / np.sqrt(len(y))) * 100 if judged.sum() > 1 else 0.0
    own = raw_metrics(rows.preference[judged])
    raw = dataclasses.replace(own, win_rate=float(completed[0].mean() * 100), n_failed=n_failed,
                              standard_error=math.hypot(raw_subset_se, sampling))  # fmt: skip
    return SubsetEstimate(raw, lc, int(judged.sum()), len(rows.key), raw_subset_se, lc_subset_se, completed[0] + 1)


def _lc_estimate(
    rows: ModelRows, completed: FloatArray, gamed: GamedRows | None, n_boot: int, seed: int, z: float
) -> tuple[LCResult, float]:
    """LC on the completed rows (first row of `completed`; the others are posterior draws) with a normal interval
    whose variance is the draws' plus the full-set bootstrap's; and the draws' standard deviation."""
    point = length_controlled(_with(rows, completed[0]), gamed, n_boot=n_boot, seed=seed)
    subset_se = float(np.std(lc_of_targets(_with(rows, completed[0]), completed[1:] + 1, gamed), ddof=1))
    se = math.hypot(subset_se, _finite(point.lc_standard_error))
    value = point.length_controlled_winrate
    low, high = max(0.0, value - z * se), min(100.0, value + z * se)
    return LCResult(value, point.coef, point.regularized, se, low, high), subset_se


def _with(rows: ModelRows, y: FloatArray) -> ModelRows:
    return ModelRows(rows.key, rows.delta_len, y + 1, rows.difficulty, rows.is_baseline)


def _finite(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def run_subset_fit(config: SubsetFitConfig) -> str:
    """Fit a subset from many models' annotations and write it; returns a one-line summary.

    Args:
        config: the annotation files, the size, the seed, the name and the output path.
    """
    check_destinations([config.output], expand_annotation_paths(config.annotations))
    rows = load_judged(list(config.annotations))
    matrix = judgment_matrix(rows)
    judges = {str(j) for j in rows.annotator.tolist() if j}
    name = config.name or config.output.stem
    subset = fit_subset(matrix, config.size, seed=config.seed, name=name,
                        judge=judges.pop() if len(judges) == 1 else None)  # fmt: skip
    sources = ", ".join(p.name for p in config.annotations)
    provenance = f"alpaca-lc subset fit --size {config.size} --seed {config.seed} over {len(matrix.models)} models: "
    write_subset(config.output, _with_provenance(subset, provenance + sources))
    return (f"wrote {config.output}: {config.size} of {len(matrix.keys)} instructions to judge, item model over "
            f"{len(matrix.models)} models ({int(matrix.typical.sum())} in the prior)")  # fmt: skip


def _with_provenance(subset: Subset, provenance: str) -> Subset:
    return dataclasses.replace(subset, provenance=provenance)
