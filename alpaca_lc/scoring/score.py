"""One leaderboard row per model: raw and LC win rates with intervals, and screening flags.

A model is scored in one of two ways. With every instruction judged, its rows are fitted with the LC spec. With
only a subset judged (`records.subset`), its outputs on every instruction supply the length differences, and
the rest of the eval set is estimated (`scoring.subset`); the row then says which subset it came from.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from alpaca_lc.errors import InputError
from alpaca_lc.records.calibration import Calibration, check_coverage
from alpaca_lc.records.instrument import UNKNOWN, Instrument, instruments_by_model
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.scoring.judged import JudgedRows
from alpaca_lc.scoring.screening import Flag, screen
from alpaca_lc.scoring.twoprocess import map_in_two
from alpaca_lc.stats.lc import DEFAULT_SPEC, GamedRows, GLMSpec, LCResult, ModelRows, length_controlled, positions_in
from alpaca_lc.stats.winrate import RawMetrics, average_length, raw_metrics

if TYPE_CHECKING:
    from alpaca_lc.records.annotations import Annotations
    from alpaca_lc.records.outputs import ModelOutput
    from alpaca_lc.records.subset import Subset

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

LEADERBOARD_COLUMNS = [
    "model",
    "win_rate",
    "standard_error",
    "n_wins",
    "n_wins_base",
    "n_draws",
    "n_total",
    "discrete_win_rate",
    "avg_length",
    "length_controlled_winrate",
    "lc_standard_error",
    "lc_ci_low",
    "lc_ci_high",
    "n_failed",
    "lc_regularized",
    "judge",
    "judge_protocol",
    "flags",
    "subset",
]


@dataclass(frozen=True)
class ModelScore:
    """One leaderboard row: raw metrics, average length and the LC fit of one model."""

    model: str
    raw: RawMetrics
    avg_length: int
    lc: LCResult
    instrument: Instrument = UNKNOWN
    flags: tuple[Flag, ...] = ()
    subset: str = ""  # the subset the row was estimated from ("" for the full eval set)
    note: str = ""  # what a reader of the row must be told (how a subset estimate was made); not a column

    def row(self) -> dict[str, object]:
        """The row as a flat dict in `LEADERBOARD_COLUMNS` order."""
        flat: dict[str, object] = {"model": self.model, **asdict(self.raw), "avg_length": self.avg_length}
        flat["judge"], flat["judge_protocol"] = self.instrument.judge, self.instrument.protocol
        flat["flags"] = "; ".join(f"{f.name}: {f.reason}" for f in self.flags)
        flat["length_controlled_winrate"] = self.lc.length_controlled_winrate
        flat["lc_standard_error"] = self.lc.lc_standard_error
        flat["lc_ci_low"] = self.lc.lc_ci_low
        flat["lc_ci_high"] = self.lc.lc_ci_high
        flat["lc_regularized"] = self.lc.regularized
        flat["subset"] = self.subset
        return {c: flat[c] for c in LEADERBOARD_COLUMNS}


def score_annotations(
    annotations: Annotations,
    calibration: Calibration,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    spec: GLMSpec = DEFAULT_SPEC,
) -> list[ModelScore]:
    """Raw and LC metrics, and screening flags, for every model in the annotations.

    Args:
        annotations: validated annotations (`records.annotations.read_annotations`).
        calibration: instruction difficulties and gamed-baseline rows.
        n_boot: bootstrap resamples for the LC interval; 0 turns the interval off.
        seed: bootstrap seed; each model's stream is derived from it and the model's name, so a model's
            interval does not depend on which other models are scored with it.
        spec: the LC GLM spec.
    """
    return score_rows(JudgedRows.of(annotations), calibration, n_boot=n_boot, seed=seed, spec=spec)


def score_rows(
    rows: JudgedRows,
    calibration: Calibration,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    spec: GLMSpec = DEFAULT_SPEC,
    instruments: dict[str, Instrument] | None = None,
) -> list[ModelScore]:
    """`score_annotations` on judged rows (`scoring.judged.load_judged`, or `JudgedRows.of` annotations); `instruments`
    are `instruments_by_model(rows)` when the caller has them already."""
    by_model = instruments_by_model(rows) if instruments is None else instruments
    code = calibration.positions(rows.key, rows.source, rows.record)
    gamed = calibration.coded_gamed_rows()
    if gamed is None:
        logger.warning("calibration %s has no gamed-baseline rows: LC is fitted without regularisation",
                       calibration.source)  # fmt: skip
    difficulty = calibration.values[code]

    def score(item: tuple[str, npt.NDArray[np.int64]]) -> ModelScore:
        model, idx = item
        stream = model_seed(seed, model) if n_boot else 0  # no bootstrap: numpy.random (9 ms) not imported
        flags = tuple(rows.screen(idx))
        scored = _score_model(model, rows, idx, code[idx], difficulty[idx], gamed, spec, n_boot, stream)
        return dataclasses.replace(scored, instrument=by_model[model], flags=flags)

    groups = rows.groups()
    if not n_boot:  # ~1.3 ms of GIL-bound numpy calls per model: half the models go to a forked process
        costs = [len(idx) for _, idx in groups]
        return map_in_two(groups, costs, lambda part: [score(g) for g in part], min_cost=_FORK_FROM_ROWS,
                          child_uses_pyarrow=False)  # fmt: skip
    # A bootstrap is many small matrix products: one BLAS thread per fit and one fit per core beats BLAS
    # threads spinning on products too small to split. numpy releases the GIL inside them.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(score, groups))


_FORK_FROM_ROWS = 20_000  # judgments: ~25 models, 35 ms of fits, against a fork's few milliseconds


def _score_model(
    model: str,
    rows: JudgedRows,
    idx: npt.NDArray[np.int64],
    code: npt.NDArray[np.int64],
    difficulty: FloatArray,
    gamed: GamedRows | None,
    spec: GLMSpec,
    n_boot: int,
    seed: int,
) -> ModelScore:
    preference = rows.preference[idx]
    if np.isnan(preference).all():
        path, _ = rows.where(int(idx[0]))
        raise InputError(f"model '{model}' has no valid annotations ({len(idx)} failed judgments)", path=path)
    len_1, len_2 = rows.len_1[idx].astype(float), rows.len_2[idx].astype(float)
    fit_rows = ModelRows(code, len_1 - len_2, preference, difficulty, is_baseline=bool(rows.identical[idx].all()))
    lc = length_controlled(fit_rows, gamed, spec, n_boot=n_boot, seed=seed)
    return ModelScore(model, raw_metrics(preference), average_length(len_2), lc)


def model_seed(seed: int, model: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(model.encode("utf-8"))]).generate_state(1)[0])


@dataclass(frozen=True)
class AllOutputs:
    """A model's outputs on every instruction, which a subset estimate needs beside the few judged: each
    instruction's key, the baseline's length minus the model's, the model's lengths and its screening flags."""

    keys: npt.NDArray[np.str_]
    delta: FloatArray
    lengths: list[int]
    flags: tuple[Flag, ...]
    difficulty: FloatArray  # each instruction's, from the calibration

    @staticmethod
    def of(keys: npt.NDArray[np.str_], outputs: list[str], references: list[str], calibration: Calibration
           ) -> AllOutputs:  # fmt: skip
        """From the model's outputs and the baseline's, both in `keys` order, and the calibration (which must cover
        every key: `check_coverage`)."""
        delta = np.array([len(r) - len(t) for r, t in zip(references, outputs, strict=True)], dtype=float)
        flags = tuple(screen(outputs, references))
        return AllOutputs(keys, delta, [len(t) for t in outputs], flags, calibration.difficulty_of(keys))


@dataclass(frozen=True)
class SubsetStep:
    """What scoring from a subset needs beyond the judged rows: the subset, each model's outputs on every
    instruction (by model: its file and outputs), and the baseline's output of every instruction (by key)."""

    subset: Subset
    outputs: dict[str, tuple[Path, list[ModelOutput]]]
    baseline: dict[str, str]

    def all_outputs(self, model: str, calibration: Calibration) -> tuple[Path, AllOutputs]:
        """The model's outputs on every instruction, checked against the eval set, the calibration and the subset
        (one line naming the file and record at fault)."""
        path, found = self.outputs[model]
        keys = instruction_keys(o.instruction for o in found)
        unknown = [i for i, k in enumerate(keys.tolist()) if k not in self.baseline]
        if unknown:
            raise InputError("instruction not in the eval set", path=path, record=unknown[0] + 1)
        check_coverage(calibration, keys, [str(path)] * len(keys), np.arange(1, len(keys) + 1))
        self.subset.check_covers(keys, str(path))
        outputs = AllOutputs.of(keys, [o.output for o in found], [self.baseline[k] for k in keys.tolist()], calibration)
        return path, outputs


def estimate_from_subset(
    model: str, outputs: AllOutputs, preference: FloatArray, subset: Subset, gamed: GamedRows | None, *,
    n_boot: int, seed: int, n_failed: int = 0,
) -> ModelScore:  # fmt: skip
    """A model's row estimated from its judged subset, with the note that says so.

    Args:
        model: the model's name.
        outputs: the model's outputs on every instruction.
        preference: the judge's preference on every instruction of `outputs`, NaN where not judged.
        subset: the subset (item model and prior).
        gamed: the LC spec's gamed-baseline rows (`Calibration.gamed_rows`).
        n_boot: bootstrap resamples for the sampling part of the interval.
        seed: the run's seed (each model's stream is derived from it and the name).
        n_failed: judgments that failed.
    """
    from alpaca_lc.scoring.subset import estimate_model  # its item model needs scipy.special: only here

    rows = ModelRows(outputs.keys, outputs.delta, preference, outputs.difficulty)
    est = estimate_model(subset, rows, gamed, n_boot=n_boot, seed=model_seed(seed, model), n_failed=n_failed)
    note = (f"{model}: estimated from {est.n_judged} of {est.n_instructions} instructions (subset {subset.name}); "
            "the intervals include the subset's estimation error")  # fmt: skip
    return ModelScore(model, est.raw, average_length(outputs.lengths), est.lc, flags=outputs.flags,
                      subset=subset.name, note=note)  # fmt: skip


def estimate_rows(
    rows: JudgedRows, calibration: Calibration, step: SubsetStep, instruments: dict[str, Instrument], *, n_boot: int,
    seed: int,
) -> list[ModelScore]:  # fmt: skip
    """`score_rows` for rows that cover a subset: each model's row estimated for the whole eval set
    (`estimate_from_subset`), one model after another."""
    gamed = calibration.gamed_rows()
    return [dataclasses.replace(_subset_score(model, rows, idx, step, calibration, gamed, n_boot=n_boot, seed=seed),
                                instrument=instruments[model]) for model, idx in rows.groups()]  # fmt: skip


def _subset_score(
    model: str, rows: JudgedRows, idx: npt.NDArray[np.int64], step: SubsetStep, calibration: Calibration,
    gamed: GamedRows | None, *, n_boot: int, seed: int,
) -> ModelScore:  # fmt: skip
    """`estimate_from_subset` of one model's judged rows, placed among its outputs on every instruction."""
    if model not in step.outputs:
        path, record = rows.where(int(idx[0]))
        raise InputError(f"no --outputs file holds model {model!r}", path=path, record=record)
    source, outputs = step.all_outputs(model, calibration)
    at = positions_in(outputs.keys, rows.key[idx])  # the outputs' instructions are distinct (checked on reading)
    if (at < 0).any():
        path, record = rows.where(int(idx[np.flatnonzero(at < 0)[0]]))
        raise InputError(f"instruction not among {model!r}'s outputs in {source}", path=path, record=record)
    preference = np.full(len(outputs.keys), np.nan)
    preference[at] = rows.preference[idx]
    n_failed = int(np.isnan(rows.preference[idx]).sum())
    return estimate_from_subset(model, outputs, preference, step.subset, gamed, n_boot=n_boot,
                                seed=seed, n_failed=n_failed)  # fmt: skip
