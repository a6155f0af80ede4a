"""The LC statistics stage: annotations in, leaderboard rows (raw and LC win rates) or a calibration out."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import Annotations, read_annotations
from alpaca_lc.records.calibration import Calibration, check_coverage, resolve_calibration, write_calibration
from alpaca_lc.records.evalset import EvalSet, load_eval_set
from alpaca_lc.records.instrument import UNKNOWN, Instrument, check_one_instrument, instruments_by_model
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.scoring.judged import JudgedRows, load_judged
from alpaca_lc.scoring.screening import Flag
from alpaca_lc.scoring.twoprocess import map_in_two
from alpaca_lc.stats.lc import (
    DEFAULT_SPEC,
    SPECS,
    GamedRows,
    GLMSpec,
    LCResult,
    ModelRows,
    length_controlled,
    positions_in,
)
from alpaca_lc.stats.winrate import RawMetrics, average_length, raw_metrics

if TYPE_CHECKING:
    import pandas as pd

    from alpaca_lc.config import CalibrateConfig

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


def leaderboard_table(scores: list[ModelScore]) -> list[dict[str, object]]:
    """Scores as leaderboard rows (dicts in `LEADERBOARD_COLUMNS` order) sorted by LC win rate, best first."""
    return leaderboard_table_rows([s.row() for s in scores])


def leaderboard_table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leaderboard rows sorted by LC win rate, best first (a model without one last)."""
    return sorted(rows, key=lambda r: -_sort_value(r["length_controlled_winrate"]))


def _sort_value(value: object) -> float:
    number = float(value) if isinstance(value, int | float) else math.nan
    return -math.inf if math.isnan(number) else number


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
        annotations: validated annotations (`records.read_annotations`).
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
    """`score_annotations` on judged rows (`judged.load_judged`, or `JudgedRows.of` annotations); `instruments`
    are `instruments_by_model(rows)` when the caller has them already."""
    # Each instruction as its position in the calibration: the fits compare small integers, not key strings.
    code = positions_in(calibration.keys, rows.key)
    if (code < 0).any():
        check_coverage(calibration, rows.key, rows.source, rows.record)
    gamed = calibration.gamed_rows()
    if gamed is None:
        logger.warning(
            "calibration %s has no gamed-baseline rows: LC is fitted without regularisation",
            calibration.source,
        )
    else:
        gamed = dataclasses.replace(gamed, key=positions_in(calibration.keys, gamed.key))
    difficulty = calibration.values[code]
    by_model = instruments_by_model(rows) if instruments is None else instruments

    def score(item: tuple[str, npt.NDArray[np.int64]]) -> ModelScore:
        model, idx = item
        stream = model_seed(seed, model) if n_boot else 0  # no bootstrap: numpy.random (9 ms) not imported
        scored = _score_model(model, rows, idx, code[idx], difficulty[idx], gamed, spec, n_boot, stream)
        return dataclasses.replace(scored, instrument=by_model[model], flags=tuple(rows.screen(idx)))

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


def calibrate(
    annotations: Annotations, gamed: Annotations | None, *, ridge: float = 1.0, provenance: str = ""
) -> Calibration:
    """Fit instruction difficulties jointly over many models, and attach the gamed-baseline rows.

    Args:
        annotations: validated annotations of many models against one baseline.
        gamed: annotations of the baseline's own verbose/concise variants (they join the joint fit and are
            kept for the LC regularisation), or None.
        ridge: L2 penalty on the instruction terms (see `stats.difficulty`).
        provenance: free text stored in the calibration file.
    """
    import pandas as pd

    from alpaca_lc.stats.difficulty import fit_joint_difficulty

    frame = annotations.to_pandas()
    gamed_frame = None if gamed is None else gamed.to_pandas()
    both = frame if gamed_frame is None else pd.concat([frame, gamed_frame], ignore_index=True)
    # The baseline judged against itself carries no information about instructions; a real model's answer
    # that happens to equal the baseline's is a tie, which does.
    identical = (both["output_1"] == both["output_2"]).groupby(both["model"]).transform("all")
    both = both[~identical]
    if both["model"].nunique() < 2:
        raise InputError("calibration needs annotations of at least two models", path=annotations.files[0])
    delta = both["output_1"].str.len() - both["output_2"].str.len()
    keys = instruction_keys(both["instruction"].tolist())
    fit = fit_joint_difficulty(both["model"], keys, delta, both["preference"], ridge=ridge)
    logger.info("joint fit over %d models converged in %d Newton steps", both["model"].nunique(), fit.iterations)
    judges = frame["annotator"].dropna().unique()
    judge = str(judges[0]) if len(judges) == 1 else None
    return Calibration.of(fit.difficulty, _gamed_table(gamed_frame), "calibrate", provenance, judge)


def _gamed_table(gamed: pd.DataFrame | None) -> pd.DataFrame | None:
    import pandas as pd

    if gamed is None:
        return None
    delta = gamed["output_1"].str.len() - gamed["output_2"].str.len()
    sd = delta.groupby(gamed["model"]).transform(lambda s: s.std(ddof=1))
    return (
        pd.DataFrame(
            {
                "key": instruction_keys(gamed["instruction"].tolist()),
                "variant": gamed["model"],
                "std_delta_len": delta / sd,
                "preference": gamed["preference"],
            }
        )
        .dropna(subset=["preference"])
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class LeaderboardRun:
    """The scored table and what the user should be told about how it was computed."""

    table: pd.DataFrame
    notes: list[str]


@dataclass(frozen=True)
class LeaderboardConfig:
    """`alpaca-lc leaderboard`: score annotations into one row per model.

    A checked dataclass rather than one of `alpaca_lc.config`'s pydantic models: it is only ever built from
    command-line values click has parsed, and importing pydantic would be a tenth of the command's time.
    """

    annotations: tuple[Path, ...]
    calibration: str = "bundled"
    eval_set: Path | None = None
    bootstrap: int = 1000
    seed: int = 0
    spec: str = "length_controlled_v1"
    mix_judges: bool = False
    subset: str | None = None  # annotations cover this subset: estimate the full set from them
    outputs: tuple[Path, ...] = ()  # with `subset`: each model's outputs on every instruction
    bridge: Path | None = None  # a successor judge's rows put on the official scale (`alpaca_lc.scoring.bridge`)

    def __post_init__(self) -> None:
        if not self.annotations:
            raise UsageError("no annotations given")
        if self.bootstrap < 0:
            raise UsageError(f"bootstrap resamples must be >= 0, got {self.bootstrap}")
        if self.spec not in SPECS:
            raise UsageError(f"unknown LC spec {self.spec!r} (known: {', '.join(SPECS)})")


def run_leaderboard(config: LeaderboardConfig) -> LeaderboardRun:
    """Read annotations, resolve the calibration, and score every model (with a bridge: on the official scale).

    Args:
        config: the leaderboard run's configuration.
    """
    if config.bridge is None:
        return _score_leaderboard(config)
    from alpaca_lc.records.bridge import read_bridge
    from alpaca_lc.scoring.bridge import bridge_table

    bridge = read_bridge(config.bridge)
    run = _score_leaderboard(config)
    table, notes = bridge_table(list(run.table), bridge)
    return LeaderboardRun(leaderboard_table_rows(table), run.notes + notes)


def _score_leaderboard(config: LeaderboardConfig) -> LeaderboardRun:
    if config.subset is not None:
        from alpaca_lc.scoring.subset_scoring import run_subset_leaderboard

        return run_subset_leaderboard(config)
    annotations = load_judged(list(config.annotations))
    if config.eval_set is not None:
        check_in_eval_set(annotations, load_eval_set(config.eval_set))
    calibration = resolve_calibration(config.calibration, config.eval_set)
    instruments = instruments_by_model(annotations)
    notes = check_one_instrument(instruments.items(), config.mix_judges, "rank")
    scores = score_rows(annotations, calibration, n_boot=config.bootstrap, seed=config.seed, spec=SPECS[config.spec],
                        instruments=instruments)  # fmt: skip
    notes += [f"LC spec {config.spec}, calibration {calibration.source}"]
    notes += calibration_notes(calibration, instruments.values())
    if calibration.gamed_table is None:
        notes.append("no gamed-baseline annotations in the calibration: LC fitted without regularisation")
    if config.bootstrap:
        notes.append(
            f"LC 95% interval: bias-corrected percentile bootstrap over instructions, {config.bootstrap} resamples"
        )
    failed = sum(s.raw.n_failed for s in scores)
    if failed:
        notes.append(f"{failed} failed judgments (null preference) excluded; see column n_failed")
    return LeaderboardRun(leaderboard_table(scores), notes)


def calibration_notes(calibration: Calibration, instruments: Iterable[Instrument]) -> list[str]:
    """A note when the calibration was fitted on another judge's judgments than the ones it is applied to."""
    others = sorted({i.judge for i in instruments if i.judge and calibration.judge and i.judge != calibration.judge})
    if not others:
        return []
    return [f"calibration {calibration.source} was fitted on {calibration.judge}'s judgments and is applied here to "
            f"{', '.join(others)}'s: its instruction difficulties are that judge's, not these"]  # fmt: skip


def check_in_eval_set(annotations: JudgedRows, eval_set: EvalSet) -> None:
    """Fail on the first annotation whose instruction is not in the eval set."""
    known = set(eval_set.keys)
    unknown = [i for i, key in enumerate(annotations.key.tolist()) if key not in known]
    if unknown:
        path, record = annotations.where(unknown[0])
        raise InputError(f"instruction not in the eval set {eval_set.source}", path=path, record=record)


def run_calibrate(config: CalibrateConfig) -> str:
    """Fit and write a calibration; return a one-line summary.

    Args:
        config: the annotation files, the gamed-baseline files, the prior and the output path.
    """
    annotations = read_annotations(list(config.annotations))
    gamed = read_annotations(list(config.gamed)) if config.gamed else None
    sources = ", ".join(p.name for p in (*config.annotations, *config.gamed))
    n_models = len(set(annotations.model.tolist()))
    provenance = f"alpaca-lc calibrate (ridge={config.ridge}) over {n_models} models: {sources}"
    calibration = calibrate(annotations, gamed, ridge=config.ridge, provenance=provenance)
    write_calibration(config.output, calibration)
    n_gamed = 0 if calibration.gamed_table is None else len(calibration.gamed_table)
    return f"wrote {config.output}: {len(calibration.values)} instruction difficulties, {n_gamed} gamed rows"
