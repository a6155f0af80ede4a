"""The LC statistics stage: annotations in, leaderboard rows (raw and LC win rates) or a calibration out."""

from __future__ import annotations

import dataclasses
import logging
import os
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields

import numpy as np
import numpy.typing as npt
import pandas as pd
from threadpoolctl import threadpool_limits

from alpaca_lc.calibration import Calibration, check_coverage, resolve_calibration, write_calibration
from alpaca_lc.config import CalibrateConfig, LeaderboardConfig
from alpaca_lc.errors import InputError
from alpaca_lc.evalset import EvalSet, load_eval_set
from alpaca_lc.instrument import UNKNOWN, Instrument, check_one_instrument, instruments_by_model
from alpaca_lc.records import instruction_keys, read_annotations
from alpaca_lc.stats.difficulty import fit_joint_difficulty
from alpaca_lc.stats.lc import DEFAULT_SPEC, SPECS, GamedRows, GLMSpec, LCResult, ModelRows, length_controlled
from alpaca_lc.stats.winrate import RawMetrics, average_length, raw_metrics

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
]


@dataclass(frozen=True)
class ModelScore:
    """One leaderboard row: raw metrics, average length and the LC fit of one model."""

    model: str
    raw: RawMetrics
    avg_length: int
    lc: LCResult
    instrument: Instrument = UNKNOWN

    def row(self) -> dict[str, object]:
        """The row as a flat dict in `LEADERBOARD_COLUMNS` order."""
        flat: dict[str, object] = {"model": self.model, **asdict(self.raw), "avg_length": self.avg_length}
        flat["judge"], flat["judge_protocol"] = self.instrument.judge, self.instrument.protocol
        flat["length_controlled_winrate"] = self.lc.length_controlled_winrate
        flat["lc_standard_error"] = self.lc.lc_standard_error
        flat["lc_ci_low"] = self.lc.lc_ci_low
        flat["lc_ci_high"] = self.lc.lc_ci_high
        flat["lc_regularized"] = self.lc.regularized
        return {c: flat[c] for c in LEADERBOARD_COLUMNS}


def leaderboard_table(scores: list[ModelScore]) -> pd.DataFrame:
    """Scores as a table sorted by LC win rate (best first)."""
    table = pd.DataFrame([s.row() for s in scores], columns=LEADERBOARD_COLUMNS)
    return table.sort_values("length_controlled_winrate", ascending=False, kind="stable").reset_index(drop=True)


def score_annotations(
    annotations: pd.DataFrame,
    calibration: Calibration,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    spec: GLMSpec = DEFAULT_SPEC,
) -> list[ModelScore]:
    """Raw and LC metrics for every model in the annotations.

    Args:
        annotations: validated annotations (`records.read_annotations`).
        calibration: instruction difficulties and gamed-baseline rows.
        n_boot: bootstrap resamples for the LC interval; 0 turns the interval off.
        seed: bootstrap seed; each model's stream is derived from it and the model's name, so a model's
            interval does not depend on which other models are scored with it.
        spec: the LC GLM spec.
    """
    keys = instruction_keys(annotations["instruction"])
    check_coverage(calibration, keys, annotations["source"], annotations["record"])
    gamed = calibration.gamed_rows()
    if gamed is None:
        logger.warning(
            "calibration %s has no gamed-baseline rows: LC is fitted without regularisation",
            calibration.source,
        )
    columns = _Columns.of(annotations, keys, calibration)
    groups = sorted((str(m), idx) for m, idx in annotations.groupby("model").indices.items())
    instruments = instruments_by_model(annotations)

    def score(item: tuple[str, npt.NDArray[np.int64]]) -> ModelScore:
        model, idx = item
        scored = _score_model(model, columns.take(idx), gamed, spec, n_boot, _model_seed(seed, model))
        return dataclasses.replace(scored, instrument=instruments[model])

    # Each fit is many small matrix products: one BLAS thread per fit and one fit per core beats
    # BLAS threads spinning on products too small to split. numpy releases the GIL inside them.
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(score, groups))


@dataclass(frozen=True)
class _Columns:
    """The per-annotation arrays scoring needs, derived once for all models."""

    key: npt.NDArray[np.str_]
    len_1: FloatArray
    len_2: FloatArray
    identical: npt.NDArray[np.bool_]
    preference: FloatArray
    difficulty: FloatArray
    source: npt.NDArray[np.str_]

    @staticmethod
    def of(annotations: pd.DataFrame, keys: pd.Series, calibration: Calibration) -> _Columns:
        out1, out2 = annotations["output_1"], annotations["output_2"]
        return _Columns(
            key=keys.to_numpy(str),
            len_1=out1.str.len().to_numpy(float),
            len_2=out2.str.len().to_numpy(float),
            identical=(out1 == out2).to_numpy(bool),
            preference=annotations["preference"].to_numpy(float),
            difficulty=keys.map(calibration.difficulty).to_numpy(float),
            source=annotations["source"].to_numpy(str),
        )

    def take(self, idx: npt.NDArray[np.int64]) -> _Columns:
        return _Columns(*(getattr(self, f.name)[idx] for f in fields(self)))


def _score_model(model: str, c: _Columns, gamed: GamedRows | None, spec: GLMSpec, n_boot: int, seed: int) -> ModelScore:
    if np.isnan(c.preference).all():
        raise InputError(
            f"model '{model}' has no valid annotations ({len(c.preference)} failed judgments)", path=c.source[0]
        )
    rows = ModelRows(c.key, c.len_1 - c.len_2, c.preference, c.difficulty, is_baseline=bool(c.identical.all()))
    lc = length_controlled(rows, gamed, spec, n_boot=n_boot, seed=seed)
    return ModelScore(model, raw_metrics(c.preference), average_length(c.len_2), lc)


def _model_seed(seed: int, model: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(model.encode("utf-8"))]).generate_state(1)[0])


def calibrate(
    annotations: pd.DataFrame, gamed: pd.DataFrame | None, *, ridge: float = 1.0, provenance: str = ""
) -> Calibration:
    """Fit instruction difficulties jointly over many models, and attach the gamed-baseline rows.

    Args:
        annotations: validated annotations of many models against one baseline.
        gamed: annotations of the baseline's own verbose/concise variants (they join the joint fit and are
            kept for the LC regularisation), or None.
        ridge: L2 penalty on the instruction terms (see `stats.difficulty`).
        provenance: free text stored in the calibration file.
    """
    both = annotations if gamed is None else pd.concat([annotations, gamed], ignore_index=True)
    # The baseline judged against itself carries no information about instructions; a real model's answer
    # that happens to equal the baseline's is a tie, which does.
    identical = (both["output_1"] == both["output_2"]).groupby(both["model"]).transform("all")
    both = both[~identical]
    if both["model"].nunique() < 2:
        raise InputError(
            "calibration needs annotations of at least two models", path=str(annotations["source"].iloc[0])
        )
    delta = both["output_1"].str.len() - both["output_2"].str.len()
    keys = instruction_keys(both["instruction"])
    fit = fit_joint_difficulty(both["model"], keys, delta, both["preference"], ridge=ridge)
    logger.info("joint fit over %d models converged in %d Newton steps", both["model"].nunique(), fit.iterations)
    judges = annotations["annotator"].dropna().unique()
    judge = str(judges[0]) if len(judges) == 1 else None
    return Calibration(fit.difficulty, _gamed_table(gamed), "calibrate", provenance, judge)


def _gamed_table(gamed: pd.DataFrame | None) -> pd.DataFrame | None:
    if gamed is None:
        return None
    delta = gamed["output_1"].str.len() - gamed["output_2"].str.len()
    sd = delta.groupby(gamed["model"]).transform(lambda s: s.std(ddof=1))
    return (
        pd.DataFrame(
            {
                "key": instruction_keys(gamed["instruction"]),
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


def run_leaderboard(config: LeaderboardConfig) -> LeaderboardRun:
    """Read annotations, resolve the calibration, and score every model.

    Args:
        config: the leaderboard run's configuration.
    """
    annotations = read_annotations(list(config.annotations))
    if config.eval_set is not None:
        check_in_eval_set(annotations, load_eval_set(config.eval_set))
    calibration = resolve_calibration(config.calibration, config.eval_set)
    instruments = instruments_by_model(annotations)
    notes = check_one_instrument(instruments.items(), config.mix_judges, "rank")
    scores = score_annotations(
        annotations, calibration, n_boot=config.bootstrap, seed=config.seed, spec=SPECS[config.spec]
    )
    notes += [f"LC spec {config.spec}, calibration {calibration.source}"]
    notes += calibration_notes(calibration, instruments.values())
    if calibration.gamed is None:
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


def check_in_eval_set(annotations: pd.DataFrame, eval_set: EvalSet) -> None:
    """Fail on the first annotation whose instruction is not in the eval set."""
    known = annotations["instruction"].isin(set(eval_set.instructions))
    if not known.all():
        row = annotations[~known].iloc[0]
        raise InputError(f"instruction not in the eval set {eval_set.source}", path=row.source, record=int(row.record))


def run_calibrate(config: CalibrateConfig) -> str:
    """Fit and write a calibration; return a one-line summary.

    Args:
        config: the annotation files, the gamed-baseline files, the prior and the output path.
    """
    annotations = read_annotations(list(config.annotations))
    gamed = read_annotations(list(config.gamed)) if config.gamed else None
    sources = ", ".join(p.name for p in (*config.annotations, *config.gamed))
    provenance = f"alpaca-lc calibrate (ridge={config.ridge}) over {annotations['model'].nunique()} models: {sources}"
    calibration = calibrate(annotations, gamed, ridge=config.ridge, provenance=provenance)
    write_calibration(config.output, calibration)
    n_gamed = 0 if calibration.gamed is None else len(calibration.gamed)
    return f"wrote {config.output}: {len(calibration.difficulty)} instruction difficulties, {n_gamed} gamed rows"
