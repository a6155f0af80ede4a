"""LC win rate: the spec's behaviour, the bootstrap, and predictions against other baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alpaca_lc.stats.glm import logistic
from alpaca_lc.stats.lc import (
    DIFFICULTY,
    INTERCEPT,
    SPECS,
    GamedRows,
    ModelRows,
    length_controlled,
    pairwise_lc_matrix,
    predict_winrate,
)


def simulate(seed: int, *, intercept: float, slope: float = -1.8, n: int = 805, verbose: float = 0.0) -> ModelRows:
    """A model whose judge prefers longer answers; `verbose` makes its answers longer on average."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1, n)
    delta = rng.normal(-verbose, 600, n)  # baseline length - model length
    eta = intercept + 0.95 * difficulty + slope * np.tanh(delta / delta.std(ddof=1))
    prefs = 1 + rng.binomial(1, logistic(eta)).astype(float)
    return ModelRows(np.array([f"k{i}" for i in range(n)]), delta, prefs, difficulty)


def true_lc(intercept: float, difficulty: np.ndarray) -> float:
    return float(logistic(intercept + 0.95 * difficulty).mean() * 100)


def test_lc_recovers_the_length_free_win_rate() -> None:
    rows = simulate(0, intercept=-1.0, verbose=800)
    res = length_controlled(rows)
    raw = (rows.preference - 1).mean() * 100
    assert raw > true_lc(-1.0, rows.difficulty) + 10  # the judge's length bias inflates the raw rate
    assert abs(res.length_controlled_winrate - true_lc(-1.0, rows.difficulty)) < 3
    assert res.coef[0] < 0 and not res.regularized


def test_baseline_against_itself_is_fifty() -> None:
    rows = simulate(0, intercept=0.0)
    res = length_controlled(ModelRows(rows.key, np.zeros(805), np.full(805, 1.5), rows.difficulty, is_baseline=True))
    assert res.length_controlled_winrate == 50.0 and res.lc_ci_low == res.lc_ci_high == 50.0


def test_failed_judgments_are_excluded_from_the_fit_but_not_the_average() -> None:
    rows = simulate(1, intercept=-0.5)
    prefs = rows.preference.copy()
    prefs[:50] = np.nan
    with_nan = length_controlled(ModelRows(rows.key, rows.delta_len, prefs, rows.difficulty))
    assert np.isfinite(with_nan.length_controlled_winrate)


def test_bootstrap_is_deterministic_given_a_seed_and_brackets_the_estimate() -> None:
    rows = simulate(2, intercept=-1.0)
    a = length_controlled(rows, n_boot=200, seed=5)
    b = length_controlled(rows, n_boot=200, seed=5)
    c = length_controlled(rows, n_boot=200, seed=6)
    assert (a.lc_ci_low, a.lc_ci_high, a.lc_standard_error) == (b.lc_ci_low, b.lc_ci_high, b.lc_standard_error)
    assert a.lc_ci_low != c.lc_ci_low
    assert a.lc_ci_low < a.length_controlled_winrate < a.lc_ci_high
    assert 0.5 < a.lc_standard_error < 3


def test_gamed_rows_regularise_the_length_slope_toward_the_baseline() -> None:
    rows = simulate(3, intercept=-1.0, n=100, slope=-4.0)  # few rows, so the prior matters
    rng = np.random.default_rng(9)
    n_g = 805
    std_len = rng.normal(0, 1, n_g)
    gamed = GamedRows(
        np.array([f"k{i % 100}" for i in range(n_g)]),
        std_len,
        1 + logistic(-1.0 * np.tanh(std_len)),
        rng.normal(0, 1, n_g),
    )
    free = length_controlled(rows, None)
    reg = length_controlled(rows, gamed, SPECS["length_controlled_v1"])
    assert reg.regularized and reg.coef[0] > free.coef[0]  # pulled toward the gamed rows' -1.0
    boot = length_controlled(rows, gamed, n_boot=50, seed=1)
    assert boot.lc_ci_low < boot.length_controlled_winrate < boot.lc_ci_high


def test_copies_of_each_sample_weigh_as_one_instruction_in_the_fit_and_the_bootstrap() -> None:
    rows = simulate(4, intercept=-1.0, n=300, slope=-3.0)
    gamed = GamedRows(rows.key, rows.delta_len / rows.delta_len.std(), np.full(300, 1.4), rows.difficulty)
    one = length_controlled(rows, gamed, n_boot=200, seed=3)
    three = length_controlled(ModelRows.stack([rows, rows, rows]), gamed, n_boot=200, seed=3)
    # Were rows (not instructions) resampled, or copies weighed thrice against the gamed rows, these would differ.
    assert three.length_controlled_winrate == pytest.approx(one.length_controlled_winrate, abs=1e-9)
    assert (three.lc_ci_low, three.lc_ci_high) == pytest.approx((one.lc_ci_low, one.lc_ci_high), abs=1e-9)


def test_predict_winrate_and_pairwise_matrix() -> None:
    difficulty = np.random.default_rng(0).normal(0, 1, 805)
    coefs = {"a": np.array([-1.5, 1.0, -1.0]), "b": np.array([-1.7, 0.9, 0.5]), "base": np.zeros(3)}
    matrix = pairwise_lc_matrix(coefs, difficulty)
    assert matrix.loc["a", "a"] == pytest.approx(50.0)
    # Against the original baseline, the prediction is the model's own LC.
    own = logistic(coefs["a"][INTERCEPT] + coefs["a"][DIFFICULTY] * difficulty).mean() * 100
    assert matrix.loc["a", "base"] == pytest.approx(own)
    assert predict_winrate(coefs["a"], coefs["b"], difficulty) == pytest.approx(matrix.loc["a", "b"])
    assert matrix.loc["a", "b"] + matrix.loc["b", "a"] == pytest.approx(100.0, abs=5)
    assert isinstance(matrix, pd.DataFrame)
