"""Raw win-rate metrics with AlpacaEval's definitions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RawMetrics:
    """AlpacaEval's head-to-head metrics; win rates in percent."""

    win_rate: float
    standard_error: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    n_failed: int
    discrete_win_rate: float


def raw_metrics(preferences: npt.ArrayLike, keys: npt.ArrayLike | None = None) -> RawMetrics:
    """Win rate, its standard error and counts from preferences in [1, 2] (NaN = failed judgment).

    Args:
        preferences: one preference per judgment, already normalised (legacy 0 mapped to 1.5).
        keys: the instruction of each judgment, when an instruction may have several (sampled outputs); the
            standard error is then taken over instructions, as their samples' judgments correlate.
    """
    prefs = np.asarray(preferences, dtype=float)
    valid = prefs[~np.isnan(prefs)] - 1.0
    n = valid.size
    sem = _standard_error(valid if keys is None else _instruction_means(prefs - 1.0, np.asarray(keys)))
    # Discrete: each judgment rounded to a win or a loss; an exact tie counts half.
    discrete = np.where(valid == 0.5, 0.5, np.round(valid))
    return RawMetrics(
        win_rate=float(valid.mean() * 100) if n else float("nan"),
        standard_error=sem * 100,
        n_wins=int((valid > 0.5).sum()),
        n_wins_base=int((valid < 0.5).sum()),
        n_draws=int((valid == 0.5).sum()),
        n_total=int(n),
        n_failed=int(prefs.size - n),
        discrete_win_rate=float(discrete.mean() * 100) if n else float("nan"),
    )


def _instruction_means(values: FloatArray, keys: npt.NDArray[np.generic]) -> FloatArray:
    """Mean of the valid values of each instruction (NaN for an instruction with none)."""
    _, codes = np.unique(keys, return_inverse=True)
    ok = ~np.isnan(values)
    sums = np.bincount(codes[ok], weights=values[ok], minlength=codes.max() + 1)
    counts = np.bincount(codes[ok], minlength=codes.max() + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means: FloatArray = sums / counts
    return means


def _standard_error(values: npt.ArrayLike) -> float:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")


def average_length(lengths: npt.ArrayLike) -> int:
    """Mean length in characters of a model's outputs, truncated to an integer as AlpacaEval reports it."""
    arr = np.asarray(lengths, dtype=float)
    return int(arr.mean()) if arr.size else 0
