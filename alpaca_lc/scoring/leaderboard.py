"""`alpaca-lc leaderboard`: judged annotations in, one row per model out, ranked by LC win rate.

The driver resolves every input once (the judged rows, the calibration, and with a subset the subset and each
model's outputs on every instruction, with a bridge the bridge), scores the models (`scoring.score`), and puts
the rows on the official scale last when a bridge is given. Nothing is written here: the command writes the table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.annotations import expand_annotation_paths
from alpaca_lc.records.bridge import read_bridge
from alpaca_lc.records.calibration import Calibration, calibration_notes, resolve_calibration
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.evalset import EvalSet, load_eval_set
from alpaca_lc.records.instrument import check_one_instrument, instruments_by_model
from alpaca_lc.records.outputs import Coverage, read_outputs_by_model
from alpaca_lc.records.subset import resolve_subset, subset_judge_note
from alpaca_lc.scoring.bridge import bridge_table
from alpaca_lc.scoring.judged import JudgedRows, load_judged, only_judge
from alpaca_lc.scoring.score import ModelScore, SubsetStep, estimate_rows, score_rows
from alpaca_lc.scoring.screening import partial_flag
from alpaca_lc.stats.lc import SPECS

if TYPE_CHECKING:
    import pandas as pd


def leaderboard_table(scores: list[ModelScore]) -> list[dict[str, object]]:
    """Scores as leaderboard rows (dicts in `LEADERBOARD_COLUMNS` order) sorted by LC win rate, best first."""
    return leaderboard_table_rows([s.row() for s in scores])


def leaderboard_table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leaderboard rows sorted by LC win rate, best first (a model without one last)."""
    return sorted(rows, key=lambda r: -_sort_value(r["length_controlled_winrate"]))


def _sort_value(value: object) -> float:
    number = float(value) if isinstance(value, int | float) else math.nan
    return -math.inf if math.isnan(number) else number


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
    output: Path | None = None  # where the command writes the table (checked before anything is read)
    judge: str | None = None  # only this judge's annotations (a folder may hold several judges')
    extrapolate: bool = False  # bridged rows outside the bridge's panel get numbers too (`scoring.bridge`)

    def __post_init__(self) -> None:
        if not self.annotations:
            raise UsageError("no annotations given")
        if self.bootstrap < 0:
            raise UsageError(f"bootstrap resamples must be >= 0, got {self.bootstrap}")
        if self.spec not in SPECS:
            raise UsageError(f"unknown LC spec {self.spec!r} (known: {', '.join(SPECS)})")


def run_leaderboard(config: LeaderboardConfig) -> LeaderboardRun:
    """Resolve the inputs, score every model, and (with a bridge) put the rows on the official scale.

    Args:
        config: the leaderboard run's configuration.
    """
    check_destinations([config.output], [*expand_annotation_paths(config.annotations), *config.outputs,
                                         config.eval_set, config.bridge, Path(config.calibration)])  # fmt: skip
    rows = only_judge(load_judged(list(config.annotations)), config.judge)
    if config.eval_set is not None and config.subset is None:
        check_in_eval_set(rows, load_eval_set(config.eval_set))
    calibration = resolve_calibration(config.calibration, config.eval_set)
    bridge = None if config.bridge is None else read_bridge(config.bridge)
    step = None
    if config.subset is not None:  # every model's outputs on the whole eval set, and the baseline's
        eval_set = load_eval_set(config.eval_set)
        baseline = {key: item.output for key, item in zip(eval_set.keys, eval_set.items, strict=True)}
        step = SubsetStep(resolve_subset(config.subset), read_outputs_by_model(config.outputs), baseline)
    instruments = instruments_by_model(rows)
    notes = check_one_instrument(instruments.items(), config.mix_judges, "rank")
    coverage_notes: list[str] = []
    if step is None:
        scores = score_rows(rows, calibration, n_boot=config.bootstrap, seed=config.seed, spec=SPECS[config.spec],
                            instruments=instruments)  # fmt: skip
        scores, coverage_notes = flag_partial(rows, scores, len(calibration.keys))
    else:  # a subset's judgments: each model's row is an estimate for the whole eval set
        scores = estimate_rows(rows, calibration, step, instruments, n_boot=config.bootstrap, seed=config.seed)
    table, bridge_notes = leaderboard_table(scores), list[str]()
    if bridge is not None:
        bridged, bridge_notes = bridge_table(table, bridge, config.extrapolate)
        table = leaderboard_table_rows(bridged)
    return LeaderboardRun(table, notes + _notes(config, calibration, scores, step) + coverage_notes + bridge_notes)


PARTIAL_BELOW = 0.99  # a row judged on less than this share of the eval set is flagged `partial`


def flag_partial(rows: JudgedRows, scores: list[ModelScore], total: int) -> tuple[list[ModelScore], list[str]]:
    """Rows judged on part of the eval set (`total` instructions, the calibration's): a note naming every model
    short of it, and the `partial` flag on those below `PARTIAL_BELOW` of it. A few missing instructions are
    usual in published results (AlpacaEval's own leaderboard has models with 802-804 of 805) and move LC far less
    than its interval; a release that stopped after 100 prompts is not comparable at all."""
    counts = {model: len(set(rows.key[idx].tolist())) for model, idx in rows.groups()}
    short = {model: n for model, n in counts.items() if n < total}
    if not short:
        return scores, []
    note = (f"{len(short)} model(s) judged on fewer than the eval set's {total} instructions: "
            + ", ".join(f"{m} {n}" for m, n in sorted(short.items(), key=lambda kv: kv[1])))  # fmt: skip
    flagged = [
        dataclasses.replace(s, flags=(*s.flags, partial_flag(Coverage(short[s.model], total))))
        if short.get(s.model, total) < PARTIAL_BELOW * total else s
        for s in scores
    ]  # fmt: skip
    return flagged, [note]


def _notes(config: LeaderboardConfig, calibration: Calibration, scores: list[ModelScore], step: SubsetStep | None
           ) -> list[str]:  # fmt: skip
    """What the reader of the table must be told: the calibration's judge, and how the rows were made."""
    notes = [] if step is not None else [f"LC spec {config.spec}, calibration {calibration.source}"]
    notes += calibration_notes(calibration, [s.instrument for s in scores])
    if step is not None:
        return notes + subset_judge_note(step.subset, [s.instrument.judge for s in scores]) + [s.note for s in scores]
    if calibration.gamed_table is None:
        notes.append("no gamed-baseline annotations in the calibration: LC fitted without regularisation")
    if config.bootstrap:
        notes.append(
            f"LC 95% interval: bias-corrected percentile bootstrap over instructions, {config.bootstrap} resamples"
        )
    failed = sum(s.raw.n_failed for s in scores)
    if failed:
        notes.append(f"{failed} failed judgments (null preference) excluded; see column n_failed")
    return notes


def check_in_eval_set(annotations: JudgedRows, eval_set: EvalSet) -> None:
    """Fail on the first annotation whose instruction is not in the eval set."""
    known = set(eval_set.keys)
    unknown = [i for i, key in enumerate(annotations.key.tolist()) if key not in known]
    if unknown:
        path, record = annotations.where(unknown[0])
        raise InputError(f"instruction not in the eval set {eval_set.source}", path=path, record=record)
