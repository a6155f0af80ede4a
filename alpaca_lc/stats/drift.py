"""Judge drift: does a judge still agree with its own earlier judgments? Pure math: preferences in, a test out.

Providers change the model behind a name (an alias moves; a snapshot's serving stack changes), so a release judged
months ago may be compared with one judged today by what is no longer the same judge. Re-judging a random sample
of the earlier judgments tells: each pair judged twice either keeps its verdict (which output is better) or flips
it. A judge that has not changed flips only as often as it disagrees with itself anyway (`tolerance`: ~2% for a
judge read from logprobs, more for one whose verdict is sampled text); one-sided exact binomial test
against that rate. Near-ties (a preference within `margin` of 1.5) carry no verdict and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DriftTest:
    """Pairs compared, verdicts flipped, the tolerated flip rate, the test's p-value, and its outcome."""

    compared: int
    flips: int
    tolerance: float
    p_value: float
    drifted: bool


def flip_test(old: FloatArray, new: FloatArray, tolerance: float, *, alpha: float = 0.05, margin: float = 0.1
              ) -> DriftTest:  # fmt: skip
    """Whether the verdicts of pairs judged twice flip more often than a judge's own noise explains.

    Args:
        old: the earlier preferences (AlpacaEval's encoding: 1 the baseline, 2 the model; NaN: failed).
        new: the same pairs judged again.
        tolerance: the flip rate of an unchanged judge.
        alpha: the test's level (its false-alarm rate when the judge flips at exactly `tolerance`).
        margin: preferences within this of 1.5 are near-ties, not verdicts.
    """
    from scipy import stats

    decided = (np.abs(old - 1.5) > margin) & (np.abs(new - 1.5) > margin)
    compared = int(decided.sum())
    flips = int((np.sign(old - 1.5) != np.sign(new - 1.5))[decided].sum())
    p_value = float(stats.binom.sf(flips - 1, compared, tolerance)) if compared else 1.0
    return DriftTest(compared, flips, tolerance, p_value, compared > 0 and p_value < alpha)


def alarm_threshold(compared: int, tolerance: float, alpha: float = 0.05) -> int:
    """The fewest flips among `compared` pairs that signal drift at level `alpha`."""
    from scipy import stats

    return int(
        next(k for k in range(compared + 2) if k > compared or stats.binom.sf(k - 1, compared, tolerance) < alpha)
    )
