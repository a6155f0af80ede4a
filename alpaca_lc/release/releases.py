"""A release as the gate sees it: its files (one per sampled output of each instruction) read and checked before
anything is paid for, then judged through the cached annotator and pooled into one set of rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.plan import Pair
from alpaca_lc.annotation.run import build_pairs, judge_instrument, run_annotate, subset_pairs
from alpaca_lc.config import AnnotateConfig, GateConfig
from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.calibration import Calibration, check_coverage
from alpaca_lc.records.instrument import UNKNOWN, Instrument, instruments_by_model
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
        prefs = run.preferences_at(pending.keys)  # with a subset, the others stay NaN (not judged)
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
