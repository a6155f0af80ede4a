"""Raw metrics: AlpacaEval's definitions, and the published values for every shared model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from alpaca_lc.records.annotations import Annotations
from alpaca_lc.stats.winrate import average_length, raw_metrics


def test_counts_and_discrete_win_rate() -> None:
    m = raw_metrics([2.0, 1.0, 1.5, 1.7, 1.2, np.nan])
    assert (m.n_wins, m.n_wins_base, m.n_draws, m.n_total, m.n_failed) == (2, 2, 1, 5, 1)
    assert math.isclose(m.win_rate, (1 + 0 + 0.5 + 0.7 + 0.2) / 5 * 100)
    assert math.isclose(m.discrete_win_rate, (1 + 0 + 0.5 + 1 + 0) / 5 * 100)
    assert math.isclose(m.standard_error, np.std([1, 0, 0.5, 0.7, 0.2], ddof=1) / math.sqrt(5) * 100)


def test_average_length_truncates_like_alpaca_eval() -> None:
    assert average_length([2, 3]) == 2 and average_length([]) == 0


def test_raw_metrics_equal_published(shared_annotations: Annotations, published: pd.DataFrame) -> None:
    """Acceptance 1: raw win rate within 0.01 points of the published value for every shared model."""
    worst = 0.0
    for model, group in shared_annotations.to_pandas().groupby("model"):
        m = raw_metrics(group.preference.to_numpy())
        pub = published.loc[model]
        worst = max(worst, abs(m.win_rate - pub.win_rate))
        assert abs(m.win_rate - pub.win_rate) < 0.01, model
        assert abs(m.standard_error - pub.standard_error) < 0.01, model
        assert (m.n_wins, m.n_wins_base, m.n_draws, m.n_total) == (
            pub.n_wins,
            pub.n_wins_base,
            pub.n_draws,
            pub.n_total,
        ), model
        assert abs(m.discrete_win_rate - pub.discrete_win_rate) < 0.01, model
    assert worst < 1e-6
