"""LC with the bundled calibration against the published AlpacaEval 2.0 leaderboard (acceptance 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alpaca_lc.records.annotations import Annotations
from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.scoring.leaderboard import leaderboard_table
from alpaca_lc.scoring.score import score_annotations

# Models whose LC lands more than 2.5 points from the published value, and why (see docs/statistics.md, "Calibration").
KNOWN_OFF = {
    # Published LC came from calibration files not in ../shared (difficulty fitted on early-2024 models
    # and real judgments of the gamed baselines; ours are reconstructed expected preferences). The gap is
    # largest for the strongest length-neutral models, and is still ~2.3 for them with the official
    # difficulty recovered from the reconstructed rows, so it comes from the gamed-baseline rows.
    "claude-2",
    "claude",
    "claude-instant-1.2",
    "gpt-3.5-turbo-1106_verbose",
    "Mixtral-8x7B-Instruct-v0.1_concise",
}


def test_lc_matches_published(shared_annotations: Annotations, published: pd.DataFrame) -> None:
    table = pd.DataFrame(
        leaderboard_table(score_annotations(shared_annotations, resolve_calibration("bundled"), n_boot=0))
    )
    table = table.set_index("model").join(published[["length_controlled_winrate"]].add_suffix("_published"))
    full = table[table.n_total == 805].dropna(subset=["length_controlled_winrate_published"])
    delta = full.length_controlled_winrate - full.length_controlled_winrate_published
    spearman = stats.spearmanr(full.length_controlled_winrate, full.length_controlled_winrate_published).statistic
    off = set(delta[delta.abs() > 2.5].index)
    print(
        f"\nLC vs published over {len(full)} models with 805 annotations: mean |d| {delta.abs().mean():.3f}, "
        f"max {delta.abs().max():.2f} ({delta.abs().idxmax()}), Spearman {spearman:.4f}; off by > 2.5: {sorted(off)}"
    )
    assert delta.abs().mean() <= 1.0
    assert spearman >= 0.995
    assert off <= KNOWN_OFF, off - KNOWN_OFF
    assert np.isfinite(table.length_controlled_winrate).all()
