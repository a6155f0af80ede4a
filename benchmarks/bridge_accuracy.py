"""How well a judge bridge puts a successor judge's numbers on AlpacaEval 2.0's official scale.

1. Real judges (`../shared/data/cross_judge/`): for each model a judge other than the official one scored, the
   bridge is fitted on the other panel models (exactly what `alpaca-lc bridge fit` does) and that model's bridged
   row is compared with its published official LC: mean and max |error|, and how many 90% intervals cover it.
2. Synthetic successors over the 43 models with official annotations (`../shared/data/alpaca_eval_2/`): each
   judgment re-drawn from the official one with another length bias, another position bias, more noise, a
   compressed scale, or a model-specific disagreement of a chosen size; the truth is each model's LC under the
   official judgments. Leave one model out, as above.

Usage: python benchmarks/bridge_accuracy.py [--level 0.9]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _common import require_shared

from alpaca_lc.pipeline.bridge_fit import panel_from_scores
from alpaca_lc.records.annotations import Annotations, read_annotations
from alpaca_lc.records.bridge import PanelModel
from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.records.instrument import Instrument
from alpaca_lc.scoring.bridge import bridged_row, fit_bridge
from alpaca_lc.scoring.judged import JudgedRows
from alpaca_lc.scoring.score import ModelScore, score_rows

CROSS = Path(__file__).resolve().parents[2] / "shared" / "data" / "cross_judge"
# (length bias, position bias, noise sd, scale, model-specific disagreement sd), on the logit scale
SYNTHETIC = {
    "another length bias": (0.6, 0.0, 0.3, 1.0, 0.05),
    "another position bias": (0.0, 0.6, 0.3, 1.0, 0.05),
    "more noise": (0.0, 0.0, 1.2, 1.0, 0.05),
    "a compressed scale": (0.0, 0.0, 0.3, 0.6, 0.05),
    "small model-specific disagreement (sd 0.1)": (0.0, 0.0, 0.3, 1.0, 0.1),
    "large model-specific disagreement (sd 0.4)": (0.0, 0.0, 0.3, 1.0, 0.4),
    "all of them, disagreement sd 0.25": (0.6, 0.6, 1.2, 0.6, 0.25),
}


def leave_one_out(panel: list[PanelModel], successor: Instrument, level: float) -> pd.DataFrame:
    """Each panel model predicted by a bridge fitted on the others: estimate, interval, truth, flags."""
    rows = []
    for i, left in enumerate(panel):
        bridge = fit_bridge(panel[:i] + panel[i + 1 :], successor, "length_controlled_v1", "bundled")
        row = {"model": left.model, "length_controlled_winrate": left.lc, "lc_standard_error": left.lc_se,
               "win_rate": left.win_rate, "standard_error": left.win_rate_se, "avg_length": left.avg_length,
               "flags": ""}  # fmt: skip
        bridged = bridged_row(row, bridge, level, extrapolate=True)  # outside the panel: marked, counted apart
        rows.append({"model": left.model, "bridged": bridged["length_controlled_winrate"],
                     "low": bridged["lc_ci_low"], "high": bridged["lc_ci_high"], "truth": left.official_lc,
                     "unbridged": left.lc, "flags": bridged["flags"],
                     "outside": "outside_bridge_panel" in bridged["flags"],
                     "flagged_in_fit": ", ".join(bridge.flagged)})  # fmt: skip
    table = pd.DataFrame(rows)
    table["error"] = table.bridged - table.truth
    table["covered"] = (table.low <= table.truth) & (table.truth <= table.high)
    return table


def summary(table: pd.DataFrame, level: float) -> str:
    unbridged = (table.unbridged - table.truth).abs().mean()
    line = (
        f"mean |error| {table.error.abs().mean():.2f} (unbridged {unbridged:.2f}), max "
        f"{table.error.abs().max():.2f}; {int(table.covered.sum())} of {len(table)} {level:.0%} intervals cover"
    )
    outside = table[table.outside]
    if len(outside):  # rows without a number unless --extrapolate: their interval spans every candidate map's
        line += (f"; {len(outside)} outside the panel's range (no number without --extrapolate; extrapolated, "
                 f"{int(outside.covered.sum())} of {len(outside)} intervals cover)")  # fmt: skip
    return line


def real_judges(level: float, calibration_choice: str = "bundled") -> None:
    if not (CROSS / "judgments.parquet").exists():
        print(f"skipped: cross-judge data not found at {CROSS}")
        return
    shared = require_shared()
    official = pd.read_csv(shared / "published_leaderboard.csv").set_index("model")
    judgments = pd.read_parquet(CROSS / "judgments.parquet")
    calibration = resolve_calibration(calibration_choice)
    for judge, part in judgments.groupby("annotator"):
        path = Path(f"/tmp/bridge_accuracy_{judge}.parquet")
        part.to_parquet(path)
        rows = JudgedRows.of(read_annotations([path]))
        scores = score_rows(rows, calibration, n_boot=200, seed=0)
        panel, _ = panel_from_scores(scores, official)
        table = leave_one_out(panel, Instrument(str(judge), None), level)
        print(f"\n{judge}: {len(panel)} models, each left out in turn; {summary(table, level)}")
        for r in table.itertuples():
            mark = "" if r.covered else "  NOT COVERED"
            note = f"  [{r.flags}]" if r.flags else ""
            print(f"  {r.model:28} bridged {r.bridged:5.1f} [{r.low:5.1f}, {r.high:5.1f}]  official {r.truth:5.1f}"
                  f"  unbridged {r.unbridged:5.1f}{mark}{note}")  # fmt: skip
        flagged = {m for f in table.flagged_in_fit for m in f.split(", ") if m}
        print(f"  flagged and left out of the fits: {', '.join(sorted(flagged)) or 'none'}")
        if flagged:
            rest = table[~table.model.isin(flagged)]
            print(f"  the other {len(rest)}: {summary(rest, level)}")
        path.unlink()


def _synthetic_scores(base: Annotations, calibration: object, params: tuple[float, ...], seed: int) -> list[ModelScore]:
    length_bias, position_bias, noise, scale, disagreement = params
    rng = np.random.default_rng(seed)
    q = np.clip(np.nan_to_num(base.preference - 1, nan=0.5), 0.01, 0.99)
    eta = scale * np.log(q / (1 - q))
    len_1 = np.array([len(t) for t in base.output_1.tolist()], dtype=float)
    len_2 = np.array([len(t) for t in base.output_2.tolist()], dtype=float)
    eta += length_bias * np.tanh((len_2 - len_1) / 1000)
    first = np.array([hashlib.sha256(t.encode()).digest()[0] & 1 for t in base.instruction.tolist()]) * 2 - 1
    eta += position_bias * first
    eta += noise * rng.standard_normal(len(eta))
    models = base.model.tolist()
    offset = {m: disagreement * rng.standard_normal() for m in sorted(set(models))}
    eta += np.array([offset[m] for m in models])
    preference = np.where(len_1 == len_2, base.preference, 1 + 1 / (1 + np.exp(-eta)))
    synthetic = dataclasses.replace(base, preference=preference, annotator=np.full(len(eta), "synthetic", dtype=object))
    return score_rows(JudgedRows.of(synthetic), calibration, n_boot=0)  # type: ignore[arg-type]


def synthetic(level: float) -> None:
    shared = require_shared()
    base = read_annotations([shared / "annotations.parquet"])
    calibration = resolve_calibration("bundled")
    truth = {s.model: s for s in score_rows(JudgedRows.of(base), calibration, n_boot=0)}
    official = pd.DataFrame({"length_controlled_winrate": {m: s.lc.length_controlled_winrate for m, s in truth.items()},
                             "win_rate": {m: s.raw.win_rate for m, s in truth.items()}})  # fmt: skip
    print(f"\nsynthetic successors over {len(truth)} models with official annotations (truth: their official LC)")
    for i, (name, params) in enumerate(SYNTHETIC.items()):
        panel, _ = panel_from_scores(_synthetic_scores(base, calibration, params, seed=i), official)
        table = leave_one_out(panel, Instrument("synthetic", None), level)
        print(f"  {name:44} {summary(table, level)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", type=float, default=0.9, help="the intervals' coverage")
    args = parser.parse_args()
    require_shared()
    real_judges(args.level)
    synthetic(args.level)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
