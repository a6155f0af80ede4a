"""Length-controlled (LC) win rate: named, versioned GLM specs, the fit, and its bootstrap interval.

Spec `length_controlled_v1` (the LC AlpacaEval paper's GLM): per model, a logistic GLM on the soft target
(preference - 1) with features tanh(delta_len / sd(delta_len)), the instruction's difficulty and the
model's own intercept, where delta_len = len(baseline output) - len(model output). The LC win rate is the
mean over the model's instructions of the predicted win probability with the length term at zero, x100.
When annotations of the baseline's own verbose and concise variants are available, their rows join the fit
(without the model's intercept, weight lambda/2 each), which pulls the length slope toward the baseline's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from alpaca_lc.stats.glm import fit_soft_logistic, logistic

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]

# Column names of AlpacaEval's weight files, so fitted weights can be exchanged with it.
FEATURES = ("np.tanh(std_delta_len)", "instruction_difficulty", "not_gamed_baseline.astype(float)")
LENGTH, DIFFICULTY, INTERCEPT = range(3)


@dataclass(frozen=True)
class GLMSpec:
    """A named, versioned LC model; `regularize_lambda` weighs the gamed-baseline rows (lambda/2 each)."""

    name: str
    regularize_lambda: float


SPECS = {"length_controlled_v1": GLMSpec("length_controlled_v1", regularize_lambda=0.2)}
DEFAULT_SPEC = SPECS["length_controlled_v1"]


@dataclass(frozen=True)
class GamedRows:
    """Judgments of the baseline's verbose/concise variants against the baseline, as GLM rows."""

    key: npt.NDArray[np.generic]  # instruction keys, or integer codes shared with the model rows
    std_delta_len: FloatArray
    preference: FloatArray
    difficulty: FloatArray


@dataclass(frozen=True)
class ModelRows:
    """One model's judgments: keys, length differences, preferences (NaN = failed), difficulty.

    A key may repeat: several sampled outputs of the same instruction. Each instruction then weighs as one
    (its rows share its weight) and the bootstrap draws instructions with all their rows.
    """

    key: npt.NDArray[np.generic]  # instruction keys (or integer codes, the same for one instruction)
    delta_len: FloatArray
    preference: FloatArray
    difficulty: FloatArray
    is_baseline: bool = False

    def take(self, idx: npt.NDArray[np.intp]) -> ModelRows:
        """These rows at positions `idx`."""
        return ModelRows(
            self.key[idx], self.delta_len[idx], self.preference[idx], self.difficulty[idx], self.is_baseline
        )

    @staticmethod
    def stack(samples: Sequence[ModelRows]) -> ModelRows:
        """One release from several sampled outputs per instruction: the samples' rows one after another."""
        return ModelRows(
            np.concatenate([r.key for r in samples]),
            np.concatenate([r.delta_len for r in samples]),
            np.concatenate([r.preference for r in samples]),
            np.concatenate([r.difficulty for r in samples]),
            all(r.is_baseline for r in samples),
        )


@dataclass(frozen=True)
class LCResult:
    """LC win rate (percent) with its bootstrap interval; `coef` is ordered as `FEATURES`."""

    length_controlled_winrate: float
    coef: FloatArray
    regularized: bool
    lc_standard_error: float = float("nan")
    lc_ci_low: float = float("nan")
    lc_ci_high: float = float("nan")


def length_controlled(
    rows: ModelRows,
    gamed: GamedRows | None = None,
    spec: GLMSpec = DEFAULT_SPEC,
    *,
    n_boot: int = 0,
    seed: int = 0,
    level: float = 0.95,
) -> LCResult:
    """Fit the spec's GLM for one model and return its LC win rate, with a bootstrap interval if asked.

    Args:
        rows: the model's annotations.
        gamed: the baseline's gamed-variant rows for the regularisation, or None to fit without it.
        spec: the GLM spec.
        n_boot: bootstrap resamples over instructions (refitting each); 0 for no interval.
        seed: seed of the bootstrap, which is deterministic given it.
        level: two-sided level of the interval.
    """
    if rows.is_baseline:  # the baseline against itself: 50% by construction, nothing to fit
        return LCResult(50.0, np.zeros(3), gamed is not None, 0.0, 50.0, 50.0)
    design = LCDesign.build(rows, gamed if spec.regularize_lambda else None, spec)
    n = len(design.difficulty)
    coef = fit_soft_logistic(design.x, design.y, design.weights(np.ones(n)))
    lc = lc_from_coef(coef[None, :], design.difficulty, np.ones((1, n)))[0]
    if n_boot <= 0:
        return LCResult(lc, coef, design.regularized)
    counts = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), n_boot).astype(float)
    boot_coef = fit_soft_logistic(design.x, design.y, design.weights(counts), start=coef)
    boot = lc_from_coef(boot_coef, design.difficulty, counts)
    low, high = bias_corrected_interval(boot, lc, level)
    return LCResult(lc, coef, design.regularized, float(boot.std(ddof=1)), low, high)


def lc_of_targets(
    rows: ModelRows, targets: FloatArray, gamed: GamedRows | None = None, spec: GLMSpec = DEFAULT_SPEC
) -> FloatArray:
    """LC win rate for each row of `targets` (preferences in [1, 2], one per row of `rows`) on one design.

    Args:
        rows: the model's rows (keys, length differences, difficulty); their preferences are not used.
        targets: (draws, rows) preferences, e.g. completions of a subset's unjudged instructions.
        gamed: the baseline's gamed-variant rows, or None.
        spec: the GLM spec.
    """
    design = LCDesign.build(rows, gamed if spec.regularize_lambda else None, spec)
    n = len(design.difficulty)
    weights, tail = design.weights(np.ones(n)), design.y[len(rows.key) :]
    coef = np.array([fit_soft_logistic(design.x, np.concatenate([t - 1, tail]), weights) for t in targets])
    return lc_from_coef(coef, design.difficulty, np.ones((1, n)))


def bias_corrected_interval(boot: FloatArray, estimate: float, level: float = 0.95) -> tuple[float, float]:
    """Bias-corrected (BC) percentile bootstrap interval (Efron 1987).

    Shifts the percentiles by the share of replicates below the estimate, which corrects the median bias
    of the bootstrap distribution: it matters for models near 0% or 100% LC, where that distribution is
    skewed, and is negligible near 50% (`tests/stats/test_lc_coverage.py` checks the coverage).

    Args:
        boot: bootstrap replicates of the statistic.
        estimate: the statistic on the original sample.
        level: the interval's nominal coverage.
    """
    from statistics import NormalDist  # here: only an interval needs it (decimal, fractions: 3 ms of imports)

    normal = NormalDist()
    below = (np.sum(boot < estimate) + 0.5 * np.sum(boot == estimate)) / len(boot)
    z0 = normal.inv_cdf(float(np.clip(below, 1 / len(boot), 1 - 1 / len(boot))))
    shares = [normal.cdf(2 * z0 + normal.inv_cdf(q)) for q in ((1 - level) / 2, (1 + level) / 2)]
    low, high = np.percentile(boot, [100 * q for q in shares])
    return float(low), float(high)


@dataclass(frozen=True)
class LCDesign:
    """The stacked GLM rows (model rows first, then gamed rows) and how instruction counts weight them.

    Counts are per instruction (in order of first appearance in the model's rows); a model row gets its
    instruction's count divided by the instruction's number of rows, so samples share one instruction's weight.
    """

    x: FloatArray
    y: FloatArray
    row_instruction: npt.NDArray[np.int64]  # per valid model row: index of its instruction
    row_share: FloatArray  # per valid model row: 1 / rows of its instruction
    difficulty: FloatArray  # per instruction
    gamed_row_of: npt.NDArray[np.int64]  # per gamed row: index of its instruction among the model's, or -1
    gamed_weight: float

    @property
    def regularized(self) -> bool:
        return len(self.gamed_row_of) > 0

    @staticmethod
    def build(rows: ModelRows, gamed: GamedRows | None, spec: GLMSpec) -> LCDesign:
        codes, keys = factorize(rows.key)
        share = 1 / np.bincount(codes)[codes]
        valid = ~np.isnan(rows.preference)
        sd = _instruction_weighted_sd(rows.delta_len, share)
        std_len = rows.delta_len / sd if sd > 0 else np.zeros_like(rows.delta_len)
        x_m = np.column_stack([np.tanh(std_len), rows.difficulty, np.ones(len(std_len))])[valid]
        y_m = rows.preference[valid] - 1
        difficulty = np.zeros(len(keys))
        difficulty[codes] = rows.difficulty
        model = (codes[valid].astype(np.int64), share[valid], difficulty)
        if gamed is None:
            return LCDesign(x_m, y_m, *model, np.zeros(0, dtype=np.int64), 0.0)
        x_g = np.column_stack([np.tanh(gamed.std_delta_len), gamed.difficulty, np.zeros(len(gamed.key))])
        return LCDesign(
            np.vstack([x_m, x_g]),
            np.concatenate([y_m, gamed.preference - 1]),
            *model,
            positions_in(keys, gamed.key),
            spec.regularize_lambda / 2,
        )

    def weights(self, counts: FloatArray) -> FloatArray:
        """Row weights from per-instruction counts, shape (n,) or (b, n) over the model's instructions."""
        c = np.atleast_2d(counts)
        w_m = c[:, self.row_instruction] * self.row_share
        # A gamed row follows its instruction's count; one whose instruction the model lacks keeps weight 1.
        c_g = np.where(self.gamed_row_of >= 0, c[:, np.maximum(self.gamed_row_of, 0)], 1.0)
        w = np.hstack([w_m, self.gamed_weight * c_g])
        return w[0] if counts.ndim == 1 else w


def factorize(values: npt.NDArray[np.generic]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.generic]]:
    """(code of each value, the distinct values), codes numbered in order of first appearance."""
    uniques, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inverse.ravel()].astype(np.int64), uniques[order]


def positions_in(reference: npt.NDArray[np.generic], values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The position of each value in `reference` (distinct values), -1 where absent (a sorted search: no
    per-value Python)."""
    values = np.asarray(values)
    if not len(reference) or not len(values):
        return np.full(len(values), -1, dtype=np.int64)
    order = np.argsort(reference, kind="stable")
    ordered = reference[order]
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return np.where(ordered[at] == values, order[at], -1).astype(np.int64)


def _instruction_weighted_sd(delta_len: FloatArray, share: FloatArray) -> float:
    """The sd (ddof 1) of the length differences, each instruction weighing one (0 for a single instruction).

    With one row per instruction it is the plain sample sd the spec normalises by.
    """
    n = share.sum()
    if n <= 1:
        return 0.0
    mean = (share * delta_len).sum() / n
    return float(np.sqrt((share * (delta_len - mean) ** 2).sum() / (n - 1)))


def lc_from_coef(coef: FloatArray, difficulty: FloatArray, counts: FloatArray) -> FloatArray:
    """Count-weighted mean predicted preference at zero length difference, in percent, per coefficient row."""
    p = logistic(coef[:, [DIFFICULTY]] * difficulty[None, :] + coef[:, [INTERCEPT]])
    return (counts * p).sum(axis=1) / counts.sum(axis=1) * 100


def predict_winrate(coef_model: FloatArray, coef_baseline: FloatArray, difficulty: FloatArray) -> float:
    """LC win rate (percent) of one model against another baseline, from both models' fitted weights.

    Args:
        coef_model: the model's coefficients, ordered as `FEATURES`.
        coef_baseline: the other baseline's coefficients, fitted against the same original baseline.
        difficulty: the instruction difficulties of the eval set.
    """
    delta = np.asarray(coef_model) - np.asarray(coef_baseline)
    return float(logistic(delta[INTERCEPT] + delta[DIFFICULTY] * difficulty).mean() * 100)


def pairwise_lc_matrix(coefs: dict[str, FloatArray], difficulty: FloatArray) -> pd.DataFrame:
    """Full LC matrix: entry [baseline][model] is the model's LC win rate against that baseline.

    Args:
        coefs: fitted coefficients per model (all against the same original baseline).
        difficulty: the instruction difficulties of the eval set.
    """
    names = list(coefs)
    c = np.array([coefs[n] for n in names])
    # eta[b, m, i] = (intercept_m - intercept_b) + (beta_m - beta_b) * difficulty_i
    d_int = c[None, :, INTERCEPT] - c[:, None, INTERCEPT]
    d_diff = c[None, :, DIFFICULTY] - c[:, None, DIFFICULTY]
    lc = logistic(d_int[..., None] + d_diff[..., None] * difficulty[None, None, :]).mean(axis=2) * 100
    import pandas as pd

    return pd.DataFrame(lc.T, index=names, columns=names)
