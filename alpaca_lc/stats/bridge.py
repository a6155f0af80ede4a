"""Judge bridges, the math: a map from a successor judge's figures to a reference judge's scale, fitted on a panel
of models both have judged, with prediction intervals that say how large the remaining disagreement is.

Everything is on the logit scale of a win rate. For one target (the reference judge's LC, or its raw win rate)
each panel model gives `own` (the successor's figure of the same kind), `other` (the successor's other figure:
raw for an LC map, LC for a raw map) and `target`. The candidate maps:

- `offset`: target = own + a (the successor is uniformly kinder or harsher);
- `offset_gap`: target = own + a + c * (other - own) (the gap between raw and LC win rate says how much length
  moved the successor; a judge that weighs length differently moves the reference by another share of it);
- `linear`: target = a + b * own (a compressed or stretched scale).

The map is chosen by leave-one-model-out error on the panel. The disagreement between two judges is partly
model-specific, so no map removes all of it: the prediction interval of a new model is the ordinary least-squares
one, s * sqrt(1 + x0' (X'X)^-1 x0) with a t quantile (the residual spread of the panel, which holds the panel's
own sampling noise and the between-model disagreement, plus the fit's uncertainty), widened by however much
more sampling noise the new model's figure has than the panel's had (a subset estimate, say).

Arrays in, numbers out: the files and the scoring are `alpaca_lc/scoring/bridge.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MAPS = ("offset", "offset_gap", "linear")  # simplest first
SIMPLER_MARGIN = 0.1  # a later map is chosen only if its leave-one-out error is this much smaller (relative)
_CLIP = 0.001  # win rates are kept within [0.1%, 99.9%] before the logit
OUTLIER_SCALES = 5.0  # robust standard deviations from the panel's median disagreement that flag a model
OUTLIER_FLOOR = 0.5  # ...and at least this much on the logit scale (a tight panel must not flag ordinary models)


def logit_percent(percent: npt.ArrayLike) -> FloatArray:
    """The logit of win rates given in percent (clipped to [0.1, 99.9])."""
    p = np.clip(np.asarray(percent, dtype=float) / 100, _CLIP, 1 - _CLIP)
    return np.asarray(np.log(p / (1 - p)), dtype=float)


def percent_of(logit: npt.ArrayLike) -> FloatArray:
    """Win rates in percent from logits."""
    return np.asarray(100 / (1 + np.exp(-np.asarray(logit, dtype=float))), dtype=float)


def logit_variance(percent: npt.ArrayLike, standard_error: npt.ArrayLike) -> FloatArray:
    """Sampling variance on the logit scale of win rates with standard errors (both in percent), by the delta
    method; NaN where the standard error is unknown."""
    p = np.clip(np.asarray(percent, dtype=float) / 100, _CLIP, 1 - _CLIP)
    se = np.asarray(standard_error, dtype=float) / 100
    return np.asarray((se / (p * (1 - p))) ** 2, dtype=float)


@dataclass(frozen=True)
class Panel:
    """Per panel model, on the logit scale: the successor's figure of the target's kind, its other figure, the
    reference judge's figure, and the sampling variance of the first (NaN where unknown)."""

    own: FloatArray
    other: FloatArray
    target: FloatArray
    own_var: FloatArray

    def __len__(self) -> int:
        return len(self.own)

    def take(self, idx: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Panel:
        """These models only (indices or a boolean mask)."""
        return Panel(self.own[idx], self.other[idx], self.target[idx], self.own_var[idx])


def _design(kind: str, own: FloatArray, other: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(base, X): the map is target = base + X @ coef."""
    ones = np.ones_like(own)
    if kind == "offset":
        return own, ones[:, None]
    if kind == "offset_gap":
        return own, np.c_[ones, other - own]
    if kind == "linear":
        return np.zeros_like(own), np.c_[ones, own]
    raise ValueError(f"unknown map {kind!r}; known: {', '.join(MAPS)}")


@dataclass(frozen=True)
class MapFit:
    """A fitted map and what its prediction intervals need."""

    kind: str
    coef: tuple[float, ...]
    xtx_inv: tuple[tuple[float, ...], ...]
    residual_sd: float
    dof: int
    panel_var: float  # the panel's mean sampling variance of `own` (0 when unknown)

    def predict(self, own: float, other: float, own_var: float = math.nan, level: float = 0.9) -> Prediction:
        """The reference judge's figure for a model with these successor figures (logits), and its interval.

        Args:
            own: the successor's figure of the target's kind (logit).
            other: the successor's other figure (logit).
            own_var: its sampling variance on the logit scale (NaN: as the panel's).
            level: the interval's coverage.
        """
        from scipy import stats

        base, x = _design(self.kind, np.array([own]), np.array([other]))
        estimate = float(base[0] + x[0] @ np.array(self.coef))
        leverage = float(x[0] @ np.array(self.xtx_inv) @ x[0])
        extra = 0.0 if math.isnan(own_var) else max(0.0, own_var - self.panel_var)
        se = math.sqrt(self.residual_sd**2 * (1 + leverage) + extra)
        half = float(stats.t.ppf(0.5 + level / 2, max(self.dof, 1))) * se
        return Prediction(estimate, se, estimate - half, estimate + half)


@dataclass(frozen=True)
class Prediction:
    """A bridged figure on the logit scale: estimate, standard error and interval."""

    estimate: float
    se: float
    low: float
    high: float


def fit_map(kind: str, panel: Panel) -> MapFit:
    """Least squares of one map on the panel.

    Args:
        kind: one of `MAPS`.
        panel: at least one model more than the map has coefficients.
    """
    base, x = _design(kind, panel.own, panel.other)
    n, p = x.shape
    if n <= p:
        raise ValueError(f"map {kind} needs more than {p} panel models, got {n}")
    coef, *_ = np.linalg.lstsq(x, panel.target - base, rcond=None)
    residual = panel.target - base - x @ coef
    dof = n - p
    known = panel.own_var[~np.isnan(panel.own_var)]
    return MapFit(
        kind, tuple(float(c) for c in coef), tuple(tuple(float(v) for v in row) for row in np.linalg.pinv(x.T @ x)),
        float(math.sqrt(residual @ residual / dof)), dof, float(known.mean()) if known.size else 0.0,
    )  # fmt: skip


def loo_errors(kind: str, panel: Panel) -> FloatArray:
    """Each panel model's error in percentage points when the map is fitted on the others and predicts it."""
    errors = np.empty(len(panel))
    for i in range(len(panel)):
        fit = fit_map(kind, panel.take(np.arange(len(panel)) != i))
        predicted = fit.predict(float(panel.own[i]), float(panel.other[i])).estimate
        errors[i] = float(percent_of(predicted)) - float(percent_of(panel.target[i]))
    return errors


def choose_map(panel: Panel) -> tuple[MapFit, dict[str, float]]:
    """The map with the smallest mean absolute leave-one-model-out error (percentage points), fitted on the whole
    panel, and every candidate's error (a candidate with too few models for its coefficients is left out)."""
    scores = {kind: float(np.abs(loo_errors(kind, panel)).mean()) for kind in MAPS
              if len(panel) > _design(kind, panel.own[:1], panel.other[:1])[1].shape[1] + 1}  # fmt: skip
    if not scores:
        raise ValueError(f"a bridge needs at least 3 panel models, got {len(panel)}")
    best = next(iter(scores))
    for kind in scores:  # a map with more coefficients must earn them: clearly better, not better by chance
        if scores[kind] < (1 - SIMPLER_MARGIN) * scores[best]:
            best = kind
    return fit_map(best, panel), scores


def outliers(panel: Panel) -> npt.NDArray[np.bool_]:
    """Models on which the two judges disagree far more than on the rest of the panel (or a broken file): their
    offset (target - own) is more than `OUTLIER_SCALES` robust standard deviations (1.4826 MAD), and at least
    `OUTLIER_FLOOR`, from the panel's median offset. They are left out of the fit, so one cannot bend it."""
    offset = panel.target - panel.own
    center = float(np.median(offset))
    scale = 1.4826 * float(np.median(np.abs(offset - center)))
    distance = np.abs(offset - center)
    return np.asarray((distance > OUTLIER_SCALES * scale) & (distance > OUTLIER_FLOOR), dtype=bool)
