"""Judge bridges: AlpacaEval 2.0's scale from a judge that still exists.

AlpacaEval 2.0's judge (`weighted_alpaca_eval_gpt4_turbo`, on `gpt-4-1106-preview`) was retired by its provider
on 2026-03-26, yet every published AlpacaEval 2.0 number is on its scale. A bridge maps a successor judge's
figures onto that scale: it is fitted (`bridge fit`) on a panel of models the successor has judged and whose
official figures are published, and kept in a small JSON file of numbers and identities, shared like a
calibration. Applied to a model the successor judged, it gives raw and LC win rates on the official scale with
intervals that include the model's own sampling error, the fit's uncertainty and the disagreement between the
two judges the panel showed (`alpaca_lc.stats.bridge`). A bridge only ever reads the successor it was fitted
for: its instrument (judge name and protocol hash) is in the file and checked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from alpaca_lc.errors import UsageError
from alpaca_lc.records.bridge import Bridge, PanelModel, check_successor, reference_instrument
from alpaca_lc.records.instrument import Instrument
from alpaca_lc.stats.bridge import (
    MAPS,
    Panel,
    Prediction,
    choose_map,
    fit_map,
    logit_percent,
    logit_variance,
    outliers,
    percent_of,
)

MIN_PANEL = 4  # models with official figures a bridge needs (a two-coefficient map left one out keeps 2 dof)
_LENGTH_SLACK = 1.5  # a model's average length this many times beyond the panel's range is outside it
_LC_SLACK = 5.0  # percentage points beyond the panel's LC range


def panel_arrays(panel: Iterable[PanelModel], target: str) -> Panel:
    """The panel for one target ("lc" or "raw") on the logit scale."""
    models = list(panel)
    lc, wr = logit_percent([p.lc for p in models]), logit_percent([p.win_rate for p in models])
    if target == "lc":
        own_var = logit_variance([p.lc for p in models], [p.lc_se for p in models])
        return Panel(lc, wr, logit_percent([p.official_lc for p in models]), own_var)
    own_var = logit_variance([p.win_rate for p in models], [p.win_rate_se for p in models])
    return Panel(wr, lc, logit_percent([p.official_win_rate for p in models]), own_var)


def fit_bridge(panel: list[PanelModel], successor: Instrument, spec: str, calibration: str) -> Bridge:
    """Fit both maps on the panel, leaving out the models on which the judges disagree wildly.

    Args:
        panel: the successor's figures and the official ones, per model.
        successor: the successor judge's instrument.
        spec: the LC spec the successor's LC was computed with.
        calibration: the calibration it was computed with (its source).
    """
    if len(panel) < MIN_PANEL:
        raise UsageError(f"a bridge needs at least {MIN_PANEL} panel models with official figures, got {len(panel)}")
    wild = outliers(panel_arrays(panel, "lc")) | outliers(panel_arrays(panel, "raw"))
    kept = [dataclasses.replace(p, used=not w) for p, w in zip(panel, wild.tolist(), strict=True)]
    used = [p for p in kept if p.used]
    if len(used) < MIN_PANEL:
        raise UsageError(f"only {len(used)} panel models agree well enough to fit a bridge (need {MIN_PANEL})")
    lc_map, lc_loo = choose_map(panel_arrays(used, "lc"))
    raw_map, raw_loo = choose_map(panel_arrays(used, "raw"))
    loo = {"length_controlled_winrate": lc_loo, "win_rate": raw_loo}
    return Bridge(successor, reference_instrument(), tuple(kept), lc_map, raw_map, loo, spec, calibration)


def number(value: Any) -> float | None:
    """A table cell as a float; None for a missing, NaN or non-numeric one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def bridged_row(row: Mapping[str, Any], bridge: Bridge, level: float = 0.95, extrapolate: bool = False
                ) -> dict[str, Any]:  # fmt: skip
    """A leaderboard row of the successor's, on the official scale: raw and LC win rates with standard errors and
    the LC interval at `level`, labelled with the bridge, and flagged when the model lies outside the panel.

    Outside the panel's range (its successor LC or length) the panel cannot say how the judges compare there: the
    row has no number, unless `extrapolate`, and then its interval spans the intervals of every candidate map
    fitted on the panel (how far they disagree there), not only the chosen one's.

    Args:
        row: a leaderboard row (`ModelScore.row()`), judged by the bridge's successor.
        bridge: the bridge.
        level: the LC interval's coverage.
        extrapolate: give numbers outside the panel's range too.
    """
    out = dict(row)
    out["judge"], out["judge_protocol"] = bridge.label(), bridge.reference.protocol
    if row.get("n_draws") is not None and row.get("n_draws") == row.get("n_total"):
        return out  # the baseline against itself: 50 on any judge's scale
    lc, wr = float(row["length_controlled_winrate"]), float(row["win_rate"])
    flags = [f for f in str(row.get("flags") or "").split("; ") if f]
    found = outside_panel(bridge, lc, wr, float(row["avg_length"]))
    outside = any(f.startswith("outside_bridge_panel") for f in found)
    if outside:
        found.append("extrapolated: the LC interval spans every candidate map's" if extrapolate else
                     "no number on the official scale: the panel does not reach this far (--extrapolate gives one, "
                     "with an interval as wide as the candidate maps' disagreement there)")  # fmt: skip
    out["flags"] = "; ".join(flags + found)
    if outside and not extrapolate:
        for column in ("length_controlled_winrate", "lc_standard_error", "lc_ci_low", "lc_ci_high", "win_rate",
                       "standard_error"):  # fmt: skip
            out[column] = math.nan
        return out
    lc_se, wr_se = number(row.get("lc_standard_error")), number(row.get("standard_error"))
    x_lc, x_wr = float(logit_percent(lc)), float(logit_percent(wr))
    var_lc = math.nan if lc_se is None else float(logit_variance(lc, lc_se))
    var_wr = math.nan if wr_se is None else float(logit_variance(wr, wr_se))
    on_lc = bridge.lc_map.predict(x_lc, x_wr, var_lc, level)
    on_wr = bridge.raw_map.predict(x_wr, x_lc, var_wr, level)
    low, high = on_lc.low, on_lc.high
    if outside:
        spread = candidate_predictions(bridge, x_lc, x_wr, var_lc, level)
        low, high = min([low, *(p.low for p in spread)]), max([high, *(p.high for p in spread)])
    out["length_controlled_winrate"] = float(percent_of(on_lc.estimate))
    out["lc_standard_error"] = _points(on_lc.estimate, on_lc.se)
    out["lc_ci_low"], out["lc_ci_high"] = float(percent_of(low)), float(percent_of(high))
    out["win_rate"] = float(percent_of(on_wr.estimate))
    out["standard_error"] = _points(on_wr.estimate, on_wr.se)
    return out


def candidate_predictions(bridge: Bridge, own: float, other: float, own_var: float, level: float) -> list[Prediction]:
    """What every candidate LC map, fitted on the bridge's panel, predicts for a model (logits): where they part,
    the panel cannot tell which is right."""
    panel = panel_arrays([p for p in bridge.panel if p.used], "lc")
    predictions = []
    for kind in MAPS:
        try:
            predictions.append(fit_map(kind, panel).predict(own, other, own_var, level))
        except ValueError:  # too few panel models for this map's coefficients
            continue
    return predictions


def bridge_table(rows: Sequence[Mapping[str, Any]], bridge: Bridge, extrapolate: bool = False
                 ) -> tuple[list[dict[str, Any]], list[str]]:  # fmt: skip
    """Leaderboard rows of the bridge's successor on the official scale, and notes saying so (a row of another
    judge is refused with one line); outside the panel's range only with `extrapolate` (`bridged_row`)."""
    check_successor([(str(r["model"]), Instrument(r.get("judge"), r.get("judge_protocol"))) for r in rows], bridge)
    notes = [f"BRIDGED to the official scale of {bridge.reference.judge}: {bridge.label()}; intervals include the "
             f"model's sampling error, the fit's uncertainty and the judges' disagreement on the panel"]  # fmt: skip
    return [bridged_row(r, bridge, extrapolate=extrapolate) for r in rows], notes


def _points(logit: float, se: float) -> float:
    p = float(percent_of(logit)) / 100
    return 100 * se * p * (1 - p)


def outside_panel(bridge: Bridge, lc: float, win_rate: float, avg_length: float) -> list[str]:
    """Flags for a model the panel does not speak for: its successor LC or length far outside the panel's range,
    or a gap between raw and LC win rate unlike any panel model's (its judgments look unlike the panel's)."""
    used = [p for p in bridge.panel if p.used]
    flags = []
    lcs, lengths = [p.lc for p in used], [p.avg_length for p in used]
    if not min(lcs) - _LC_SLACK <= lc <= max(lcs) + _LC_SLACK:
        flags.append(f"outside_bridge_panel: successor LC {lc:.1f} beyond the panel's {min(lcs):.1f}-{max(lcs):.1f}")
    if not min(lengths) / _LENGTH_SLACK <= avg_length <= max(lengths) * _LENGTH_SLACK:
        flags.append(f"outside_bridge_panel: average length {avg_length:.0f} beyond the panel's "
                     f"{min(lengths):.0f}-{max(lengths):.0f}")  # fmt: skip
    gaps = np.array([float(logit_percent(p.win_rate) - logit_percent(p.lc)) for p in used])
    gap = float(logit_percent(win_rate) - logit_percent(lc))
    spread = max(float(gaps.std()), 0.1)
    if not gaps.min() - 2 * spread <= gap <= gaps.max() + 2 * spread:
        flags.append("unlike_bridge_panel: raw and LC win rates differ unlike any panel model's")
    return flags


def describe(bridge: Bridge) -> list[str]:
    """What a bridge is and how well it did on its panel, in a few lines."""
    used = [p for p in bridge.panel if p.used]
    lines = [f"bridge from {bridge.successor} to {bridge.reference}: {len(used)} panel models"]
    if bridge.flagged:
        lines.append(f"FLAGGED and left out of the fit (the judges disagree far more than on the rest): "
                     f"{', '.join(bridge.flagged)}")  # fmt: skip
    for target, fit in (("length_controlled_winrate", bridge.lc_map), ("win_rate", bridge.raw_map)):
        errors = ", ".join(f"{k} {v:.2f}" for k, v in bridge.loo[target].items())
        lines.append(f"{target}: map {fit.kind}; leave-one-model-out mean |error| in points: {errors}")
    return lines
