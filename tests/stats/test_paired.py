"""Paired LC comparison: identical releases differ by exactly 0; a real shift is found."""

from __future__ import annotations

import numpy as np
import pytest

from alpaca_lc.stats.lc import ModelRows, length_controlled
from alpaca_lc.stats.paired import paired_lc

from .test_lc import simulate


def test_identical_releases_differ_by_zero() -> None:
    rows = simulate(0, intercept=-1.0)
    res = paired_lc(rows, rows, n_boot=100)
    assert res.difference == 0 and res.difference_interval == (0.0, 0.0)
    assert res.lc_candidate == pytest.approx(length_controlled(rows).length_controlled_winrate)


def test_a_large_drop_is_found_and_pairing_narrows_the_interval() -> None:
    prev = simulate(1, intercept=-0.5)
    rng = np.random.default_rng(2)
    worse = np.where(rng.random(805) < 0.3, 1.0, prev.preference)  # 30% of wins turned into losses
    cand = type(prev)(prev.key, prev.delta_len, worse, prev.difficulty)
    res = paired_lc(cand, prev, n_boot=300, seed=1)
    assert res.difference < -3 and res.difference_interval[1] < 0
    unpaired_width = (res.candidate_interval[1] - res.candidate_interval[0]) + (
        res.previous_interval[1] - res.previous_interval[0]
    )
    assert res.difference_interval[1] - res.difference_interval[0] < unpaired_width


def test_only_shared_instructions_are_compared() -> None:
    prev = simulate(3, intercept=-1.0)
    cand = type(prev)(prev.key[:400], prev.delta_len[:400], prev.preference[:400], prev.difficulty[:400])
    assert paired_lc(cand, prev, n_boot=50).n_instructions == 400


def test_more_samples_per_instruction_narrow_the_difference_when_judgments_are_noisy() -> None:
    base = simulate(5, intercept=-1.0)
    p = (base.preference - 1) * 0.6 + 0.2  # each instruction's chance of a win, re-drawn per sampled output

    def release(seed: int, k: int) -> ModelRows:
        rng = np.random.default_rng(seed)
        return ModelRows.stack(
            [type(base)(base.key, base.delta_len, 1 + rng.binomial(1, p), base.difficulty) for _ in range(k)]
        )

    one = paired_lc(release(1, 1), release(2, 1), n_boot=300)
    four = paired_lc(release(3, 4), release(4, 4), n_boot=300)
    assert four.n_instructions == one.n_instructions == 805
    assert four.difference_se < 0.7 * one.difference_se  # ~1/sqrt(4) of the judgment noise remains
