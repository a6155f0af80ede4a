"""A release as the gate sees it: its files (one per sampled output of each instruction) read and checked before
anything is paid for, then judged through the cached annotator and pooled into one set of rows."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.plan import Pair
from alpaca_lc.annotation.run import build_pairs, judge_instrument, partial_allowed_by, run_annotate, subset_pairs
from alpaca_lc.config import AnnotateConfig, GateConfig
from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.calibration import Calibration, check_coverage
from alpaca_lc.records.instrument import UNKNOWN, Instrument, instruments_by_model
from alpaca_lc.records.outputs import Coverage
from alpaca_lc.records.subset import Subset
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.scoring.screening import Flag, screen
from alpaca_lc.stats.lc import ModelRows
from alpaca_lc.stats.winrate import RawMetrics, average_length, raw_metrics


@dataclass(frozen=True)
class Release:
    """One release's judgments (of each of its `samples` outputs per instruction), raw metrics and flags."""

    name: str
    rows: ModelRows
    raw: RawMetrics
    avg_length: int
    flags: list[Flag]
    samples: int = 1
    coverage: Coverage | None = None  # of the eval set (the least of its samples')
    judged_at: float | None = None  # when its oldest judgment was made (None: unknown, e.g. an annotations file)


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
    coverage: Coverage | None = None
    path: Path = Path()
    instructions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Sample:
    """One file of a release, judged: a row per instruction, output lengths and screening flags."""

    rows: ModelRows
    lengths: list[int]
    flags: list[Flag]
    judged_at: float | None  # its oldest judgment's time (None for annotations read from a file)


def read_release(
    paths: tuple[Path, ...], config: GateConfig, calibration: Calibration, subset: Subset | None = None,
    previous: bool = False,
) -> list[PendingSample]:  # fmt: skip
    """Read a release's files (one per sampled output of each instruction) and check them; nothing is judged yet.

    Args:
        paths: the release's files (annotations, or model outputs to judge); all name the same model.
        config: the gate configuration (judge, reference, eval set).
        calibration: supplies the eval set's coverage.
        subset: judge only this subset's instructions.
        previous: the previous release, whose coverage of the eval set is what it is (the candidate must cover the
            eval set, and what the previous release covers).
    """
    if subset is not None and len(paths) > 1:
        raise UsageError("with --subset, give one file per release (sampled outputs are not pooled)")
    samples: list[PendingSample] = []
    for path in paths:
        sample = _read_sample(path, config, calibration, subset, previous)
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
    coverage = min((p.coverage for p in pending if p.coverage is not None), key=lambda c: c.covered, default=None)
    times = [s.judged_at for s in samples]
    judged_at = None if None in times else min(t for t in times if t is not None)
    return Release(pending[0].name, rows, raw, average_length(lengths), list(flags.values()), len(samples), coverage,
                   judged_at)  # fmt: skip


def check_covers_previous(candidate: list[PendingSample], previous: list[PendingSample], paths: tuple[Path, ...]
                          ) -> None:  # fmt: skip
    """The candidate must cover every instruction the previous release was judged on: a paired comparison on the
    instructions both have would pass a release whose generation stopped after 100 prompts."""
    have = {k for sample in candidate for k in sample.keys.tolist()}
    needed = list(dict.fromkeys(k for sample in previous for k in sample.keys.tolist()))
    missing = [k for k in needed if k not in have]
    if missing:
        raise InputError(f"covers {len(needed) - len(missing)} of the {len(needed)} instructions the previous release "
                         "was judged on: a release is compared on all of them (generate the rest)",
                         path=paths[0])  # fmt: skip


def _read_sample(path: Path, config: GateConfig, calibration: Calibration, subset: Subset | None, previous: bool
                 ) -> PendingSample:  # fmt: skip
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
        coverage = _annotations_coverage(path, instructions, calibration, config, previous)
    else:
        annotate = AnnotateConfig(model_outputs=path, reference=config.reference, eval_set=config.eval_set,
                                  run=config.run, max_instances=config.max_instances, subset=config.subset,
                                  allow_partial=config.allow_partial or previous, keep_thinking=config.keep_thinking,
                                  think_tags=config.think_tags, dry_run=config.dry_run)  # fmt: skip
        name, pairs, coverage, _ = build_pairs(annotate)
        instructions = [p.instruction for p in pairs]
        out1, out2 = [p.output_1 for p in pairs], [p.output_2 for p in pairs]
        prefs, job = None, (annotate, pairs if subset is None else subset_pairs(pairs, subset))
        instrument = judge_instrument(config.run)
    keys = instruction_keys(instructions)
    check_coverage(calibration, keys, [str(path)] * len(keys), np.arange(1, len(keys) + 1))
    if subset is not None:
        subset.check_covers(keys, str(path))
    return PendingSample(name, keys, out1, out2, prefs, job, instrument, coverage, path, instructions)


def _annotations_coverage(path: Path, instructions: list[str], calibration: Calibration, config: GateConfig,
                          previous: bool) -> Coverage:  # fmt: skip
    """How much of the eval set (the calibration's instructions) a release given as annotations covers; a candidate
    short of it is refused, unless the gate was asked for a partial run."""
    covered, total = len(set(instructions)), len(calibration.keys)
    allowed = partial_allowed_by(config.max_instances, config.subset, config.allow_partial) or (
        "the previous release" if previous else "")  # fmt: skip
    if covered < total and not allowed:
        raise InputError(f"holds judgments of {covered} of the eval set's {total} instructions: judge the rest, or "
                         "ask for a partial run with --allow-partial", path=path)  # fmt: skip
    return Coverage(covered, total, allowed if covered < total else "")


def _judged(pending: PendingSample, calibration: Calibration) -> _Sample:
    prefs, judged_at = pending.preferences, None
    if pending.job is not None:
        annotate, pairs = pending.job
        run = run_annotate(annotate, (pending.name, pairs))
        run.check_complete()
        prefs = run.preferences_at(pending.keys)  # with a subset, the others stay NaN (not judged)
        assert run.result is not None
        made = [j.created for judged in run.result.judgments for j in judged if j.created is not None]
        judged_at = min(made, default=time.time())
    assert prefs is not None
    out1, out2 = pending.output_1, pending.output_2
    rows = ModelRows(
        pending.keys,
        np.array([len(a) - len(b) for a, b in zip(out1, out2, strict=True)], dtype=float),
        prefs,
        calibration.difficulty_of(pending.keys),
        is_baseline=out1 == out2,
    )
    return _Sample(rows, [len(o) for o in out2], screen(out2, out1), judged_at)


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
