"""The release gate: pass, fail or inconclusive, from a paired comparison with the previous release."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from alpaca_lc.annotation.plan import Tally
from alpaca_lc.annotation.run import run_annotate
from alpaca_lc.config import GateConfig
from alpaca_lc.errors import UsageError
from alpaca_lc.records.calibration import calibration_notes, resolve_calibration
from alpaca_lc.records.instrument import Instrument, check_one_instrument
from alpaca_lc.records.subset import Subset, resolve_subset
from alpaca_lc.release.drift import DriftCheck, check_drift, estimate_check, rejudge_after_drift, stop_line
from alpaca_lc.release.releases import Release, check_covers_previous, finish_release, read_release
from alpaca_lc.scoring.subset import estimate_model
from alpaca_lc.stats.lc import GamedRows, LCResult, length_controlled
from alpaca_lc.stats.paired import PairedLC, paired_lc

if TYPE_CHECKING:
    from alpaca_lc.records.bridge import Bridge


@dataclass(frozen=True)
class Check:
    """One gate criterion and its outcome, and what would settle an inconclusive one.

    `more_instructions`: instructions to add; `samples_needed`: sampled outputs per instruction (each judged)
    that would do instead, on the same instructions, when the difference is mostly judgment noise.
    """

    name: str
    outcome: str  # "pass", "fail" or "inconclusive"
    detail: str
    more_instructions: int | None = None
    samples_needed: int | None = None


@dataclass
class GateResult:
    """The decision, the checks behind it, and the figures."""

    outcome: str
    checks: list[Check]
    candidate: Release
    previous: Release | None
    lc_candidate: float
    lc_candidate_interval: tuple[float, float]
    paired: PairedLC | None
    confidence: float
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    drift: DriftCheck | None = None


def estimate_gate(config: GateConfig) -> Tally:
    """What judging both releases would take (`--dry-run`): every file read and checked, nothing called.

    Args:
        config: the gate configuration.
    """
    calibration = resolve_calibration(config.calibration, config.eval_set)
    subset = None if config.subset is None else resolve_subset(config.subset)
    candidate = read_release(config.candidate, config, calibration, subset)
    previous = read_release(config.previous, config, calibration, subset, previous=True) if config.previous else []
    if previous:
        check_covers_previous(candidate, previous, config.candidate)
    pending = [*candidate, *previous]
    total = Tally()
    for sample in pending:
        if sample.job is not None:
            annotate, pairs = sample.job
            estimate = run_annotate(annotate, (sample.name, pairs)).estimate
            assert estimate is not None
            total = total + estimate
    check = estimate_check(candidate, previous, config, time.time()) if previous else None
    return total if check is None else total + check


def run_gate(config: GateConfig) -> GateResult:
    """Load both releases, compare them, and decide.

    Args:
        config: the gate configuration.
    """
    started = time.time()
    calibration = resolve_calibration(config.calibration, config.eval_set)
    gamed = calibration.gamed_rows()
    level = 2 * config.confidence - 1  # the two-sided interval whose ends are one-sided bounds at `confidence`
    # Every file is read and checked before any judgment is paid for.
    subset = None if config.subset is None else resolve_subset(config.subset)
    pending = read_release(config.candidate, config, calibration, subset)
    pending_previous = (read_release(config.previous, config, calibration, subset, previous=True)
                        if config.previous else None)  # fmt: skip
    if pending_previous:
        check_covers_previous(pending, pending_previous, config.candidate)
    files = [*zip(config.candidate, pending, strict=True), *zip(config.previous, pending_previous or [], strict=True)]
    notes = check_one_instrument([(str(f), p.instrument) for f, p in files], config.mix_judges, "compare releases")
    notes += calibration_notes(calibration, [p.instrument for _, p in files])
    # Before anything is paid for: --min-lc must be comparable to what is judged.
    bridge = _check_scale(pending[0].instrument, config) if config.min_lc is not None else None
    candidate = finish_release(pending, calibration)
    previous = finish_release(pending_previous, calibration) if pending_previous else None
    drift = None
    if previous is not None and pending_previous:
        drift = check_drift(pending, pending_previous, previous, config, started)
        if drift is not None and drift.drifted:
            if not config.rejudge_on_drift:
                raise stop_line(drift)
            again, superseded = rejudge_after_drift([*pending, *pending_previous], config, started)
            candidate = finish_release(again[: len(pending)], calibration)
            previous = finish_release(again[len(pending) :], calibration)
            drift = dataclasses.replace(drift, superseded=superseded)

    if subset is not None:
        candidate, lc, previous, paired = _subset_comparison(candidate, previous, subset, gamed, config, level)
        notes.append(f"estimated from {candidate.raw.n_total} of {len(candidate.rows.key)} instructions (subset "
                     f"{subset.name}); the intervals include the subset's estimation error")  # fmt: skip
    else:
        lc = length_controlled(candidate.rows, gamed, n_boot=config.bootstrap, seed=config.seed, level=level)
        paired = None
        if previous is not None:
            paired = paired_lc(candidate.rows, previous.rows, gamed, n_boot=config.bootstrap, seed=config.seed,
                               level=level)  # fmt: skip
    checks = [_screening_check(candidate, config)]
    if config.min_lc is not None:
        if bridge is not None:
            lc, scale_notes = _on_official_scale(lc, candidate, bridge, level, config)
            notes += scale_notes
        bounds = (lc.lc_ci_low, lc.lc_ci_high)
        n, k = len(set(candidate.rows.key[~np.isnan(candidate.rows.preference)])), candidate.samples
        checks.append(
            _threshold_check("min_lc", lc.length_controlled_winrate, bounds, config.min_lc, below_fails=True, n=n, k=k)
        )
    if paired is not None and previous is not None:
        bounds = (-paired.difference_interval[1], -paired.difference_interval[0])
        n, k = paired.n_instructions, max(candidate.samples, previous.samples)
        checks.append(
            _threshold_check("max_drop", -paired.difference, bounds, config.max_drop, below_fails=False, n=n, k=k)
        )
    outcome = "fail" if any(c.outcome == "fail" for c in checks) else (
        "inconclusive" if any(c.outcome == "inconclusive" for c in checks) else "pass")  # fmt: skip
    exit_code = {"pass": 0, "fail": 1}.get(outcome, 0 if config.on_inconclusive == "pass" else 1)
    return GateResult(outcome, checks, candidate, previous, lc.length_controlled_winrate, (lc.lc_ci_low, lc.lc_ci_high),
                      paired, config.confidence, exit_code, notes, drift)  # fmt: skip


def _check_scale(instrument: Instrument, config: GateConfig) -> Bridge | None:
    """`--min-lc` is a number on AlpacaEval 2.0's official scale: a successor judge's LC needs its bridge, which
    is returned (None for the official judge)."""
    from alpaca_lc.records.bridge import check_successor, read_bridge, reference_instrument

    if config.bridge is not None:
        bridge = read_bridge(config.bridge)
        check_successor([("the candidate", instrument)], bridge)
        return bridge
    if not instrument.same_as(reference_instrument()):
        raise UsageError(
            f"--min-lc is on AlpacaEval 2.0's official scale and {instrument} is not: give --bridge "
            "BRIDGE.json fitted for this judge (docs/judge-bridge.md), or gate on --max-drop alone"
        )
    return None


def _on_official_scale(lc: LCResult, release: Release, bridge: Bridge, level: float, config: GateConfig
                       ) -> tuple[LCResult, list[str]]:  # fmt: skip
    """The candidate's LC through its bridge, on AlpacaEval 2.0's official scale (which `--min-lc` is on)."""
    from alpaca_lc.scoring.bridge import bridged_row

    row = {"model": release.name, "length_controlled_winrate": lc.length_controlled_winrate,
           "lc_standard_error": lc.lc_standard_error, "win_rate": release.raw.win_rate,
           "standard_error": release.raw.standard_error, "avg_length": release.avg_length}  # fmt: skip
    bridged = bridged_row(row, bridge, level, extrapolate=config.extrapolate)
    on_scale = dataclasses.replace(lc, length_controlled_winrate=bridged["length_controlled_winrate"],
                                   lc_standard_error=bridged["lc_standard_error"], lc_ci_low=bridged["lc_ci_low"],
                                   lc_ci_high=bridged["lc_ci_high"])  # fmt: skip
    notes = [f"LC and --min-lc on the official scale: {bridge.label()}"]
    notes += [f"bridge flag {flag}" for flag in str(bridged["flags"]).split("; ") if flag]
    return on_scale, notes


def _subset_comparison(
    candidate: Release, previous: Release | None, subset: Subset, gamed: GamedRows | None, config: GateConfig,
    level: float,
) -> tuple[Release, LCResult, Release | None, PairedLC | None]:  # fmt: skip
    """Both releases estimated from the same subset; the difference's interval adds both estimates' subset
    error to the paired sampling error of the completed rows."""
    est = estimate_model(subset, candidate.rows, gamed, n_boot=config.bootstrap, seed=config.seed, level=level)
    candidate = dataclasses.replace(candidate, raw=est.raw)
    if previous is None:
        return candidate, est.lc, None, None
    old = estimate_model(subset, previous.rows, gamed, n_boot=config.bootstrap, seed=config.seed, level=level)
    previous = dataclasses.replace(previous, raw=old.raw)
    sampling = paired_lc(dataclasses.replace(candidate.rows, preference=est.completed),
                         dataclasses.replace(previous.rows, preference=old.completed), gamed, n_boot=config.bootstrap,
                         seed=config.seed, level=level)  # fmt: skip
    difference = est.lc.length_controlled_winrate - old.lc.length_controlled_winrate
    se = math.sqrt(sampling.difference_se**2 + est.lc_subset_se**2 + old.lc_subset_se**2)
    half = NormalDist().inv_cdf((1 + level) / 2) * se
    paired = PairedLC(est.n_judged, est.lc.length_controlled_winrate, old.lc.length_controlled_winrate,
                      (est.lc.lc_ci_low, est.lc.lc_ci_high), (old.lc.lc_ci_low, old.lc.lc_ci_high), difference,
                      (difference - half, difference + half), se)  # fmt: skip
    return candidate, est.lc, previous, paired


def _screening_check(release: Release, config: GateConfig) -> Check:
    if not release.flags:
        return Check("screening", "pass", "no flags")
    detail = "; ".join(f"{f.name}: {f.reason}" for f in release.flags)
    return Check(
        "screening", "pass" if config.allow_flagged else "fail", detail + (" (allowed)" if config.allow_flagged else "")
    )


def _threshold_check(
    name: str, estimate: float, bounds: tuple[float, float], threshold: float, *, below_fails: bool, n: int, k: int
) -> Check:
    """Pass/fail when the one-sided bounds are on one side of the threshold; else inconclusive.

    `n` instructions with `k` samples each gave the bounds; they size what would settle an inconclusive check.
    """
    low, high = bounds
    if math.isnan(estimate):  # a bridged LC outside the bridge's panel, not extrapolated
        return Check(name, "inconclusive", f"no LC on the official scale to compare with {threshold:g}: the model lies "
                     "outside the bridge's panel (--extrapolate gives one, with a wide interval)")  # fmt: skip
    what = "LC" if below_fails else "LC drop"
    limit = "minimum" if below_fails else "maximum"
    detail = f"{what} {estimate + 0.0:.2f} (bounds {low + 0.0:.2f}..{high + 0.0:.2f}) vs {limit} {threshold:g}"
    settled_bad = high < threshold if below_fails else low > threshold
    settled_good = low >= threshold if below_fails else high <= threshold
    if settled_bad:
        return Check(name, "fail", detail)
    if settled_good:
        return Check(name, "pass", detail)
    factor = _variance_factor(estimate, bounds, threshold)
    if factor is None:
        return Check(name, "inconclusive", detail)
    return Check(name, "inconclusive", detail, max(0, math.ceil(n * factor) - n), math.ceil(k * factor))


def _variance_factor(estimate: float, bounds: tuple[float, float], threshold: float) -> float | None:
    """How many times the data the interval, shrinking as 1/sqrt(data), needs to clear the threshold.

    None when the estimate sits on the threshold, where no amount settles it.
    """
    distance = abs(estimate - threshold)
    half_width = (bounds[1] - estimate) if threshold > estimate else (estimate - bounds[0])
    return None if distance <= 1e-9 else (half_width / distance) ** 2
