"""The release gate: pass, fail or inconclusive, from a paired comparison with the previous release."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.annotator import Pair, Tally
from alpaca_lc.annotation.run import build_pairs, judge_instrument, run_annotate, subset_pairs
from alpaca_lc.config import AnnotateConfig, GateConfig
from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.calibration import Calibration, calibration_notes, check_coverage, resolve_calibration
from alpaca_lc.records.instrument import UNKNOWN, Instrument, check_one_instrument, instruments_by_model
from alpaca_lc.records.subset import Subset, resolve_subset
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.scoring.screening import Flag, screen
from alpaca_lc.scoring.subset import estimate_model
from alpaca_lc.stats.lc import GamedRows, LCResult, ModelRows, length_controlled
from alpaca_lc.stats.paired import PairedLC, paired_lc
from alpaca_lc.stats.winrate import RawMetrics, average_length, raw_metrics

if TYPE_CHECKING:
    from alpaca_lc.records.bridge import Bridge


@dataclass(frozen=True)
class Release:
    """One release's judgments (of each of its `samples` outputs per instruction), raw metrics and flags."""

    name: str
    rows: ModelRows
    raw: RawMetrics
    avg_length: int
    flags: list[Flag]
    samples: int = 1


@dataclass(frozen=True)
class PendingSample:
    """One file of a release, read and checked: its preferences, or the judging job that will make them."""

    name: str
    keys: npt.NDArray[np.str_]
    output_1: list[str]
    output_2: list[str]
    preferences: np.ndarray | None
    job: tuple[AnnotateConfig, list[Pair]] | None
    instrument: Instrument = UNKNOWN


@dataclass(frozen=True)
class _Sample:
    """One file of a release, judged: a row per instruction, output lengths and screening flags."""

    rows: ModelRows
    lengths: list[int]
    flags: list[Flag]


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


def read_release(
    paths: tuple[Path, ...], config: GateConfig, calibration: Calibration, subset: Subset | None = None
) -> list[PendingSample]:
    """Read a release's files (one per sampled output of each instruction) and check them; nothing is judged yet.

    Args:
        paths: the release's files (annotations, or model outputs to judge); all name the same model.
        config: the gate configuration (judge, reference, eval set).
        calibration: supplies the eval set's coverage.
        subset: judge only this subset's instructions.
    """
    if subset is not None and len(paths) > 1:
        raise UsageError("with --subset, give one file per release (sampled outputs are not pooled)")
    samples: list[PendingSample] = []
    for path in paths:
        sample = _read_sample(path, config, calibration, subset)
        if samples and sample.name != samples[0].name:
            raise InputError(f"holds model {sample.name!r}, but {paths[0]} holds {samples[0].name!r}; "
                             "give samples of one release", path=path)  # fmt: skip
        samples.append(sample)
    return samples


def finish_release(pending: list[PendingSample], calibration: Calibration) -> Release:
    """Judge what a release's files still lack (through the cached annotator) and pool its samples.

    Args:
        pending: the release's files as `read_release` returned them.
        calibration: supplies instruction difficulty.
    """
    samples = [_judged(p, calibration) for p in pending]
    rows = ModelRows.stack([s.rows for s in samples])
    flags: dict[str, Flag] = {}
    for s in samples:  # a flag is reported once, with the first flagged sample's figures
        for f in s.flags:
            flags.setdefault(f.name, f)
    lengths = [n for s in samples for n in s.lengths]
    raw = raw_metrics(rows.preference, rows.key if len(samples) > 1 else None)
    return Release(pending[0].name, rows, raw, average_length(lengths), list(flags.values()), len(samples))


def _read_sample(path: Path, config: GateConfig, calibration: Calibration, subset: Subset | None) -> PendingSample:
    """One file of a release: finished annotations (a file or results folder), or model outputs to judge (with a
    subset, only its instructions)."""
    if _is_annotations(path):
        if subset is not None:
            raise InputError("with --subset a release is its model outputs (every instruction's length is needed), "
                             "not annotations", path=path)  # fmt: skip
        table = read_annotations([path])
        models = set(table.model.tolist())
        if len(models) != 1:
            raise InputError(f"holds annotations of {len(models)} models; give one release", path=path)
        name = str(table.model[0])
        instructions, out1, out2 = table.instruction.tolist(), table.output_1.tolist(), table.output_2.tolist()
        prefs, job = table.preference, None
        instrument = instruments_by_model(table)[name]
    else:
        annotate = AnnotateConfig(model_outputs=path, reference=config.reference, eval_set=config.eval_set,
                                  run=config.run, max_instances=config.max_instances,
                                  dry_run=config.dry_run)  # fmt: skip
        name, pairs = build_pairs(annotate)
        instructions = [p.instruction for p in pairs]
        out1, out2 = [p.output_1 for p in pairs], [p.output_2 for p in pairs]
        prefs, job = None, (annotate, pairs if subset is None else subset_pairs(pairs, subset))
        instrument = judge_instrument(config.run)
    keys = instruction_keys(instructions)
    check_coverage(calibration, keys, [str(path)] * len(keys), np.arange(1, len(keys) + 1))
    if subset is not None:
        subset.check_covers(keys, str(path))
    return PendingSample(name, keys, out1, out2, prefs, job, instrument)


def _judged(pending: PendingSample, calibration: Calibration) -> _Sample:
    prefs = pending.preferences
    if pending.job is not None:
        annotate, pairs = pending.job
        run = run_annotate(annotate, (pending.name, pairs))
        run.check_complete()
        assert run.result is not None
        # With a subset only its pairs were judged: the others stay NaN (not judged) in the full-set rows.
        values = [np.nan if v is None else v for v in run.result.preferences]
        judged = dict(zip(instruction_keys(p.instruction for p in pairs).tolist(), values, strict=True))
        prefs = np.array([judged.get(k, np.nan) for k in pending.keys.tolist()], dtype=float)
    assert prefs is not None
    out1, out2 = pending.output_1, pending.output_2
    rows = ModelRows(
        pending.keys,
        np.array([len(a) - len(b) for a, b in zip(out1, out2, strict=True)], dtype=float),
        prefs,
        calibration.difficulty_of(pending.keys),
        is_baseline=out1 == out2,
    )
    return _Sample(rows, [len(o) for o in out2], screen(out2, out1))


def _is_annotations(path: Path) -> bool:
    if path.is_dir() or path.suffix in (".parquet", ".jsonl"):
        return True
    try:
        first = json.loads(path.read_text(encoding="utf-8"))[0]
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (ValueError, IndexError, KeyError, TypeError):
        return False
    return isinstance(first, dict) and "preference" in first and "output_1" in first


def estimate_gate(config: GateConfig) -> Tally:
    """What judging both releases would take (`--dry-run`): every file read and checked, nothing called.

    Args:
        config: the gate configuration.
    """
    calibration = resolve_calibration(config.calibration, config.eval_set)
    subset = None if config.subset is None else resolve_subset(config.subset)
    pending = [*read_release(config.candidate, config, calibration, subset),
               *(read_release(config.previous, config, calibration, subset) if config.previous else [])]  # fmt: skip
    total = Tally()
    for sample in pending:
        if sample.job is not None:
            annotate, pairs = sample.job
            estimate = run_annotate(annotate, (sample.name, pairs)).estimate
            assert estimate is not None
            total = total + estimate
    return total


def run_gate(config: GateConfig) -> GateResult:
    """Load both releases, compare them, and decide.

    Args:
        config: the gate configuration.
    """
    calibration = resolve_calibration(config.calibration, config.eval_set)
    gamed = calibration.gamed_rows()
    level = 2 * config.confidence - 1  # the two-sided interval whose ends are one-sided bounds at `confidence`
    # Every file is read and checked before any judgment is paid for.
    subset = None if config.subset is None else resolve_subset(config.subset)
    pending = read_release(config.candidate, config, calibration, subset)
    pending_previous = read_release(config.previous, config, calibration, subset) if config.previous else None
    files = [*zip(config.candidate, pending, strict=True), *zip(config.previous, pending_previous or [], strict=True)]
    notes = check_one_instrument([(str(f), p.instrument) for f, p in files], config.mix_judges, "compare releases")
    notes += calibration_notes(calibration, [p.instrument for _, p in files])
    # Before anything is paid for: --min-lc must be comparable to what is judged.
    bridge = _check_scale(pending[0].instrument, config) if config.min_lc is not None else None
    candidate = finish_release(pending, calibration)
    previous = finish_release(pending_previous, calibration) if pending_previous else None

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
            lc, scale_notes = _on_official_scale(lc, candidate, bridge, level)
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
                      paired, config.confidence, exit_code, notes)  # fmt: skip


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


def _on_official_scale(lc: LCResult, release: Release, bridge: Bridge, level: float) -> tuple[LCResult, list[str]]:
    """The candidate's LC through its bridge, on AlpacaEval 2.0's official scale (which `--min-lc` is on)."""
    from alpaca_lc.scoring.bridge import bridged_row

    row = {"model": release.name, "length_controlled_winrate": lc.length_controlled_winrate,
           "lc_standard_error": lc.lc_standard_error, "win_rate": release.raw.win_rate,
           "standard_error": release.raw.standard_error, "avg_length": release.avg_length}  # fmt: skip
    bridged = bridged_row(row, bridge, level)
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
