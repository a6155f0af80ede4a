"""Leaderboard rows estimated from subsets, and `alpaca-lc subset fit`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from alpaca_lc.errors import InputError
from alpaca_lc.records.calibration import Calibration, check_coverage, resolve_calibration
from alpaca_lc.records.evalset import load_eval_set
from alpaca_lc.records.instrument import check_one_instrument, instruments_by_model
from alpaca_lc.records.outputs import ModelOutput, read_model_outputs
from alpaca_lc.records.subset import Subset, resolve_subset, write_subset
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.scoring.judged import JudgedRows, load_judged
from alpaca_lc.scoring.leaderboard import (
    LeaderboardConfig,
    LeaderboardRun,
    ModelScore,
    calibration_notes,
    leaderboard_table,
    model_seed,
)
from alpaca_lc.scoring.screening import screen
from alpaca_lc.scoring.subset import estimate_model, fit_subset, judgment_matrix
from alpaca_lc.stats.lc import GamedRows, ModelRows, positions_in
from alpaca_lc.stats.winrate import average_length

if TYPE_CHECKING:
    from alpaca_lc.config import SubsetFitConfig


def score_subset_model(
    model: str, rows: ModelRows, lengths: list[int], subset: Subset, gamed: GamedRows | None, *, n_boot: int,
    seed: int, n_failed: int = 0,
) -> tuple[ModelScore, str]:  # fmt: skip
    """A model's leaderboard row estimated from its judged rows, and the note that says so.

    Args:
        model: the model's name.
        rows: every instruction of the eval set, preference NaN where not judged.
        lengths: the model's output lengths (all instructions).
        subset: the subset (item model and prior).
        gamed: the LC spec's gamed-baseline rows.
        n_boot: bootstrap resamples for the sampling part of the interval.
        seed: the run's seed (each model's stream is derived from it and the name).
        n_failed: judgments that failed.
    """
    est = estimate_model(subset, rows, gamed, n_boot=n_boot, seed=model_seed(seed, model), n_failed=n_failed)
    score = ModelScore(model, est.raw, average_length(lengths), est.lc, subset=subset.name)
    note = (f"{model}: estimated from {est.n_judged} of {est.n_instructions} instructions (subset {subset.name}); "
            "the intervals include the subset's estimation error")  # fmt: skip
    return score, note


def subset_judge_note(subset: Subset, judges: list[str | None]) -> list[str]:
    """A note when the subset's item model was fitted on another judge's judgments."""
    others = sorted({j for j in judges if j and subset.judge and j != subset.judge})
    if not others:
        return []
    return [f"subset {subset.name} was fitted on {subset.judge}'s judgments and is applied to {', '.join(others)}'s"]


def run_subset_leaderboard(config: LeaderboardConfig) -> LeaderboardRun:
    """Score annotations that cover a subset, with every instruction's lengths from the models' outputs.

    Args:
        config: the leaderboard configuration (`subset` and `outputs` set).
    """
    assert config.subset is not None
    annotations = load_judged(list(config.annotations))
    subset = resolve_subset(config.subset)
    calibration = resolve_calibration(config.calibration, config.eval_set)
    eval_set = load_eval_set(config.eval_set)
    baseline = {key: item.output for key, item in zip(eval_set.keys, eval_set.items, strict=True)}
    outputs = _outputs_by_model(config.outputs)
    instruments = instruments_by_model(annotations)
    notes = check_one_instrument(instruments.items(), config.mix_judges, "rank")
    notes += calibration_notes(calibration, instruments.values())
    notes += subset_judge_note(subset, [i.judge for i in instruments.values()])
    scores = []
    for model, idx in annotations.groups():
        if model not in outputs:
            path, record = annotations.where(int(idx[0]))
            raise InputError(f"no --outputs file holds model {model!r}", path=path, record=record)
        score, note = _score_outputs(model, annotations, idx, outputs[model], baseline, subset, calibration, config)
        scores.append(dataclasses.replace(score, instrument=instruments[model]))
        notes.append(note)
    return LeaderboardRun(leaderboard_table(scores), notes)


def _outputs_by_model(paths: tuple[Path, ...]) -> dict[str, tuple[Path, list[ModelOutput]]]:
    found: dict[str, tuple[Path, list[ModelOutput]]] = {}
    for path in paths:
        outputs = read_model_outputs(path)
        name = outputs[0].generator if outputs else path.stem
        if name in found:
            raise InputError(f"model {name!r} is also in {found[name][0]}", path=path)
        found[name] = (path, outputs)
    return found


def _score_outputs(
    model: str, annotations: JudgedRows, idx: np.ndarray, outputs: tuple[Path, list[ModelOutput]],
    baseline: dict[str, str], subset: Subset, calibration: Calibration, config: LeaderboardConfig,
) -> tuple[ModelScore, str]:  # fmt: skip
    path, outs = outputs
    keys = instruction_keys(o.instruction for o in outs)
    unknown = [i for i, k in enumerate(keys.tolist()) if k not in baseline]
    if unknown:
        raise InputError("instruction not in the eval set", path=path, record=unknown[0] + 1)
    check_coverage(calibration, keys, [str(path)] * len(keys), np.arange(1, len(keys) + 1))
    subset.check_covers(keys, str(path))
    at = positions_in(keys, annotations.key[idx])  # the outputs' instructions are distinct (checked on reading)
    if (at < 0).any():
        source, record = annotations.where(int(idx[np.flatnonzero(at < 0)[0]]))
        raise InputError(f"instruction not among {model!r}'s outputs in {path}", path=source, record=record)
    preference = np.full(len(keys), np.nan)
    preference[at] = annotations.preference[idx]
    references = [baseline[k] for k in keys.tolist()]
    texts = [o.output for o in outs]
    delta = np.array([len(r) - len(t) for r, t in zip(references, texts, strict=True)], dtype=float)
    rows = ModelRows(keys, delta, preference, calibration.difficulty_of(keys))
    n_failed = int(np.isnan(annotations.preference[idx]).sum())
    score, note = score_subset_model(model, rows, [len(t) for t in texts], subset, calibration.gamed_rows(),
                                     n_boot=config.bootstrap, seed=config.seed, n_failed=n_failed)  # fmt: skip
    return dataclasses.replace(score, flags=tuple(screen(texts, references))), note


def run_subset_fit(config: SubsetFitConfig) -> str:
    """Fit a subset from many models' annotations and write it; returns a one-line summary.

    Args:
        config: the annotation files, the size, the seed, the name and the output path.
    """
    rows = load_judged(list(config.annotations))
    matrix = judgment_matrix(rows)
    judges = {str(j) for j in rows.annotator.tolist() if j}
    name = config.name or config.output.stem
    subset = fit_subset(matrix, config.size, seed=config.seed, name=name,
                        judge=judges.pop() if len(judges) == 1 else None)  # fmt: skip
    sources = ", ".join(p.name for p in config.annotations)
    provenance = f"alpaca-lc subset fit --size {config.size} --seed {config.seed} over {len(matrix.models)} models: "
    write_subset(config.output, _with_provenance(subset, provenance + sources))
    return (f"wrote {config.output}: {config.size} of {len(matrix.keys)} instructions to judge, item model over "
            f"{len(matrix.models)} models ({int(matrix.typical.sum())} in the prior)")  # fmt: skip


def _with_provenance(subset: Subset, provenance: str) -> Subset:
    return dataclasses.replace(subset, provenance=provenance)
