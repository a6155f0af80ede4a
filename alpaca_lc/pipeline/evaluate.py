"""`alpaca-lc evaluate`: judge a model's outputs against the baseline, then score them into its results folder.

The driver resolves everything that can refuse the run before anything is paid for (the pairs, the
calibration's coverage, screening, the judge, a bridge, a leaderboard to rank on, a subset), judges the pairs
the cache lacks, scores the model (every instruction, or a subset estimated for the whole eval set), and
writes `results/<model>/<judge>/annotations.json` and `leaderboard.csv` last.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.plan import Pair
from alpaca_lc.annotation.run import AnnotateRun, build_pairs, judge_instrument, judge_pairs, write_annotations
from alpaca_lc.config import EvaluateConfig
from alpaca_lc.records.annotations import Annotations
from alpaca_lc.records.bridge import Bridge, check_successor, read_bridge
from alpaca_lc.records.calibration import Calibration, calibration_notes, check_coverage, resolve_calibration
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.evalset import local_eval_set
from alpaca_lc.records.instrument import Instrument, check_one_instrument
from alpaca_lc.records.outputs import Coverage
from alpaca_lc.records.subset import resolve_subset, subset_judge_note
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.report.tables import board_instruments, read_leaderboard, write_table
from alpaca_lc.scoring.bridge import bridge_table
from alpaca_lc.scoring.leaderboard import leaderboard_table
from alpaca_lc.scoring.score import AllOutputs, estimate_from_subset, score_annotations
from alpaca_lc.scoring.screening import Flag, partial_flag

if TYPE_CHECKING:
    import pandas as pd

    from alpaca_lc.records.subset import Subset


@dataclass(frozen=True)
class EvaluateRun:
    """Where the results went and the one-row leaderboard."""

    annotate: AnnotateRun
    table: list[dict[str, Any]]
    folder: Path
    rank: tuple[int, int] | None
    flags: list[Flag]
    notes: list[str]
    estimated: str = ""  # with a subset: "estimated from N of M instructions ..."


@dataclass(frozen=True)
class _Inputs:
    """What `evaluate` resolved before paying for anything."""

    name: str
    pairs: list[Pair]
    keys: npt.NDArray[np.str_]  # each pair's instruction key
    todo: list[Pair]  # what is judged: every pair, or the subset's
    calibration: Calibration
    instrument: Instrument
    bridge: Bridge | None
    board: pd.DataFrame | None
    subset: Subset | None
    notes: list[str]
    coverage: Coverage

    def flags(self, outputs: AllOutputs) -> list[Flag]:
        """The screening flags of the outputs, and `partial` when they do not cover the eval set."""
        partial = [partial_flag(self.coverage)] if self.coverage.partial else []
        return [*outputs.flags, *partial]


def run_evaluate(config: EvaluateConfig) -> EvaluateRun:
    """Annotate, check completeness, then score the model and write its results folder.

    Args:
        config: the evaluate configuration.
    """
    inputs = _resolve(config)
    annotated = judge_pairs(config.annotate, inputs.name, inputs.todo)
    folder = config.output_dir / inputs.name / annotated.judge_name
    pairs = inputs.pairs
    outputs = AllOutputs.of(inputs.keys, [p.output_2 for p in pairs], [p.output_1 for p in pairs], inputs.calibration)
    flags = inputs.flags(outputs)
    if annotated.estimate is not None:  # --dry-run: the estimate, nothing scored or written
        return EvaluateRun(annotated, [], folder, None, flags, inputs.notes)
    annotated.check_complete()
    table, notes, estimated = _score(inputs, outputs, annotated, str(folder / "annotations.json"), config)
    rank = _rank(table, inputs.board) if inputs.board is not None else None
    write_annotations(annotated, folder / "annotations.json")
    write_table(folder / "leaderboard.csv", table, "csv")
    return EvaluateRun(annotated, table, folder, rank, flags, inputs.notes + notes, estimated)


def _resolve(config: EvaluateConfig) -> _Inputs:
    """Every input, checked before anything is paid for: the judge and the board to rank on, then the pairs and
    the records that must agree with them."""
    instrument = judge_instrument(config.annotate.run)
    board = None if config.leaderboard is None else read_leaderboard(config.leaderboard, ("length_controlled_winrate",))
    others = board_instruments(board) if board is not None else []
    name, pairs, coverage, thinking = build_pairs(config.annotate)
    if not config.annotate.dry_run:  # the results folder can be written, and holds none of the inputs
        folder = config.output_dir / name / str(instrument.judge)
        given = config.annotate
        check_destinations([folder / "annotations.json", folder / "leaderboard.csv"],
                           [given.model_outputs, given.reference, local_eval_set(given.eval_set), config.leaderboard,
                            given.bridge])  # fmt: skip
    calibration = resolve_calibration(config.calibration, config.annotate.eval_set)
    bridge = None if config.annotate.bridge is None else read_bridge(config.annotate.bridge)
    if bridge is not None:
        check_successor([(name, instrument)], bridge)
    # A leaderboard to rank on must be of the same instrument (a bridged row is on the official scale: it ranks
    # against official rows, marked as bridged).
    ranked = instrument if bridge is None else bridge.reference
    unnamed = board is not None and "judge" not in board.columns  # AlpacaEval's leaderboard CSVs name none
    notes = check_one_instrument([(name, ranked), *([] if unnamed else others)], config.mix_judges,
                                 "rank on one leaderboard")  # fmt: skip
    if unnamed:
        notes.append(f"{config.leaderboard} names no judge (AlpacaEval's leaderboards do not): its {len(others)} rows "
                     f"are taken to be on the scale of {ranked}")  # fmt: skip
    notes += calibration_notes(calibration, [instrument]) + list(thinking)
    keys = instruction_keys(p.instruction for p in pairs)
    subset, todo = None, pairs
    if config.annotate.subset is not None:  # the subset must know every instruction; only its pairs are judged
        subset = resolve_subset(config.annotate.subset)
        subset.check_covers(keys, str(config.annotate.model_outputs))
        todo = [p for p, member in zip(pairs, subset.members(keys).tolist(), strict=True) if member]
    # Every instruction must have a difficulty in the calibration.
    check_coverage(calibration, keys, [str(config.annotate.model_outputs)] * len(pairs), np.arange(1, len(pairs) + 1))
    return _Inputs(name, pairs, keys, todo, calibration, instrument, bridge, board, subset, notes, coverage)


def _score(
    inputs: _Inputs, outputs: AllOutputs, annotated: AnnotateRun, source: str, config: EvaluateConfig
) -> tuple[list[dict[str, Any]], list[str], str]:
    """The model's row (on the official scale with a bridge), the notes, and with a subset how it was estimated."""
    assert annotated.result is not None
    notes: list[str] = []
    estimated = ""
    if inputs.subset is None:
        judged = _annotations(inputs.name, inputs.pairs, annotated.result.preferences, source, inputs.instrument)
        scores = score_annotations(judged, inputs.calibration, n_boot=config.bootstrap, seed=config.seed)
    else:
        preference = annotated.preferences_at(inputs.keys)  # NaN outside the subset
        gamed = inputs.calibration.gamed_rows()
        score = estimate_from_subset(inputs.name, outputs, preference, inputs.subset, gamed,
                                     n_boot=config.bootstrap, seed=config.seed)  # fmt: skip
        scores = [dataclasses.replace(score, instrument=inputs.instrument)]
        notes, estimated = subset_judge_note(inputs.subset, [annotated.judge_name]), score.note
    if inputs.coverage.partial:
        scores = [dataclasses.replace(s, flags=(*s.flags, partial_flag(inputs.coverage))) for s in scores]
    table = leaderboard_table(scores)
    if inputs.bridge is not None:
        table, bridge_notes = bridge_table(table, inputs.bridge, config.extrapolate)
        notes += bridge_notes
    return table, notes, estimated


def _annotations(
    name: str, pairs: list[Pair], prefs: list[float | None], source: str, instrument: Instrument
) -> Annotations:
    def column(values: list[Any]) -> npt.NDArray[np.object_]:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out

    n = len(pairs)
    return Annotations(
        model=column([name] * n), instruction=column([p.instruction for p in pairs]),
        output_1=column([p.output_1 for p in pairs]), output_2=column([p.output_2 for p in pairs]),
        preference=np.array([math.nan if p is None else p for p in prefs], dtype=float),
        annotator=column([instrument.judge] * n), annotator_protocol=column([instrument.protocol] * n),
        raw_completion=column([None] * n), file=np.zeros(n, dtype=np.int64),
        record=np.arange(1, n + 1, dtype=np.int64), files=(source,),
    )  # fmt: skip


def _rank(table: list[dict[str, Any]], board: pd.DataFrame) -> tuple[int, int]:
    ours = table[0]
    others = board.drop(index=str(ours["model"]), errors="ignore")["length_controlled_winrate"].dropna()
    return int((others > ours["length_controlled_winrate"]).sum()) + 1, len(others) + 1
