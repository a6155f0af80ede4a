"""Subset estimates on the real AlpacaEval 2.0 judgments: the bundled subsets, and models the fit never saw."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result

from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.records.subset import resolve_subset
from alpaca_lc.scoring.judged import JudgedRows, load_judged
from alpaca_lc.scoring.subset import Matrix, estimate_model, fit_item_model, judgment_matrix, with_chosen
from alpaca_lc.stats.lc import ModelRows, length_controlled

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def judged(shared: Path) -> JudgedRows:
    return load_judged([shared / "annotations.parquet"])


@pytest.mark.parametrize(("name", "size"), [("tiny", 100), ("small", 200)])
def test_bundled_subsets_are_what_the_command_makes(
    run_cli: Callable[..., Result], shared: Path, tmp_path: Path, name: str, size: int
) -> None:
    out = tmp_path / f"subset_{name}.json"
    result = run_cli("subset", "fit", shared / "annotations.parquet", "--size", size, "--name", name, "-o", out)
    assert result.exit_code == 0, result.output
    fresh, bundled = (
        json.loads(out.read_text()),
        json.loads((ROOT / "alpaca_lc/data" / f"subset_{name}.json").read_text()),
    )
    assert fresh["subset"] == bundled["subset"] and len(fresh["subset"]) == size
    assert fresh["instructions"]["key"] == bundled["instructions"]["key"]
    for field in ("easiness", "slope", "embedding"):
        np.testing.assert_allclose(fresh["instructions"][field], bundled["instructions"][field], atol=1e-3)
    np.testing.assert_allclose(fresh["prior"]["cov"], bundled["prior"]["cov"], atol=1e-3)
    assert fresh["judge"] == bundled["judge"] == "weighted_alpaca_eval_gpt4_turbo"


def test_a_smaller_subset_is_part_of_a_larger_one() -> None:
    tiny, small = resolve_subset("tiny"), resolve_subset("small")
    assert set(tiny.chosen) < set(small.chosen) and len(tiny.keys) == 805


def test_models_the_fit_never_saw_are_estimated_within_a_few_points(judged: JudgedRows) -> None:
    """Every family of one fold held out of the item model and prior; each estimated from 100 instructions."""
    matrix = judgment_matrix(judged)
    held_out = [i for i, m in enumerate(matrix.models) if m.startswith(("claude", "gpt-3.5", "vicuna", "FuseChat"))]
    keep = [i for i in range(len(matrix.models)) if i not in held_out]
    train = Matrix([matrix.models[i] for i in keep], matrix.keys, matrix.y[keep], matrix.x[keep], matrix.typical[keep])
    subset = with_chosen(fit_item_model(train), 100, seed=0)
    calibration = resolve_calibration("bundled")
    gamed = calibration.gamed_rows()
    lc_errors, raw_errors, covered = [], [], []
    for i in held_out:
        idx = np.flatnonzero(judged.model == matrix.models[i])
        full = ModelRows(judged.key[idx], (judged.len_1[idx] - judged.len_2[idx]).astype(float),
                         judged.preference[idx], calibration.difficulty_of(judged.key[idx]))  # fmt: skip
        seen = np.where(subset.members(full.key), full.preference, np.nan)
        est = estimate_model(subset, ModelRows(full.key, full.delta_len, seen, full.difficulty), gamed, n_boot=100)
        truth = length_controlled(full, gamed).length_controlled_winrate
        lc_errors.append(est.lc.length_controlled_winrate - truth)
        raw_errors.append(est.raw.win_rate - np.nanmean(full.preference - 1) * 100)
        covered.append(est.lc.lc_ci_low <= truth <= est.lc.lc_ci_high)
        assert est.n_judged == int(np.sum(~np.isnan(seen))) <= 100 and est.raw.n_total == est.n_judged
    assert len(held_out) >= 12
    assert np.mean(np.abs(lc_errors)) < 3.5 and np.mean(np.abs(raw_errors)) < 2.5
    assert np.mean(covered) >= 0.8  # 95% intervals; benchmarks/subset_accuracy.py measures coverage properly


def test_more_judgments_narrow_the_interval(judged: JudgedRows) -> None:
    subset = resolve_subset("small")
    calibration = resolve_calibration("bundled")
    idx = np.flatnonzero(judged.model == "claude-2")
    full = ModelRows(judged.key[idx], (judged.len_1[idx] - judged.len_2[idx]).astype(float), judged.preference[idx],
                     calibration.difficulty_of(judged.key[idx]))  # fmt: skip
    widths = []
    for chosen in (resolve_subset("tiny").chosen, subset.chosen, full.key):
        seen = np.where(np.isin(full.key, chosen), full.preference, np.nan)
        est = estimate_model(subset, ModelRows(full.key, full.delta_len, seen, full.difficulty), None, n_boot=0)
        widths.append(est.lc.lc_ci_high - est.lc.lc_ci_low)
    # Every instruction judged: no subset error is left, and without a bootstrap the interval closes (up to
    # rounding, whose sign depends on the BLAS build).
    assert widths[0] > widths[1] > widths[2] >= 0 and widths[2] < 1e-6
