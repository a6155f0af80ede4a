"""Entry points of the annotation stage: `annotate`, `evaluate`, `cache import`, `cache stats`."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.annotator import Annotated, AnnotateOptions, Pair, Tally, annotate, estimate
from alpaca_lc.annotation.cache import Judgment, JudgmentCache, default_cache_path, pair_key
from alpaca_lc.annotation.judge import Judge, load_judge
from alpaca_lc.annotation.official import MissingOfficialFiles
from alpaca_lc.config import AnnotateConfig, CacheImportConfig, EvaluateConfig, JudgeRunConfig
from alpaca_lc.endpoint.calls import ClientSettings
from alpaca_lc.errors import IncompleteError, InputError, UsageError
from alpaca_lc.records.annotations import Annotations, read_pair_judgments
from alpaca_lc.records.bridge import check_successor, read_bridge
from alpaca_lc.records.calibration import Calibration, check_coverage, resolve_calibration
from alpaca_lc.records.evalset import load_eval_set, shuffled_head
from alpaca_lc.records.instrument import Instrument, check_one_instrument, known_protocols
from alpaca_lc.records.jsonio import write_json
from alpaca_lc.records.outputs import read_model_outputs
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.report.tables import board_instruments, read_leaderboard, write_table
from alpaca_lc.scoring.bridge import bridge_table
from alpaca_lc.scoring.leaderboard import ModelScore, calibration_notes, leaderboard_table, score_annotations
from alpaca_lc.scoring.screening import Flag, screen
from alpaca_lc.stats.lc import ModelRows

if TYPE_CHECKING:
    import pandas as pd

    from alpaca_lc.records.subset import Subset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedJudge:
    """The judge to ask (None: only its cached judgments can be used), its name and protocol hash, and, for a
    judge that could be asked if AlpacaEval's files were installed, the error to raise if anything is missing."""

    judge: Judge | None
    name: str
    protocol: str | None
    unavailable: UsageError | None = None


def resolve_judge(
    name: str, cache: JudgmentCache, alpaca_eval_dir: Path | None = None, model: str | None = None
) -> ResolvedJudge:  # fmt: skip
    """A judge by name or path; an AlpacaEval evaluator whose files are missing, or a judge known only from
    imported judgments, is cache-only.

    Args:
        name: the judge's name or YAML path.
        cache: the judgment cache (to recognise imported judges).
        alpaca_eval_dir: where AlpacaEval's evaluator files are, if not installed.
        model: another model in place of the judge's own (`--judge-model`).
    """
    if model is not None:  # another instrument: it needs the judge's files, never the cache of the original
        judge = load_judge(name, alpaca_eval_dir, model)
        return ResolvedJudge(judge, judge.name, judge.protocol)
    try:
        judge = load_judge(name, alpaca_eval_dir)
    except MissingOfficialFiles as exc:
        return ResolvedJudge(None, name, known_protocols().get(name), exc)
    except InputError:
        if cache.has_judge(name):
            return ResolvedJudge(None, name, None)
        raise
    return ResolvedJudge(judge, judge.name, judge.protocol)


@dataclass(frozen=True)
class AnnotateRun:
    """The pairs, their judgments, and the judge's name and protocol; `records` only when every pair is judged."""

    name: str
    judge_name: str
    pairs: list[Pair]
    result: Annotated | None
    estimate: Tally | None = None
    judge_protocol: str | None = None

    @property
    def missing(self) -> int:
        return 0 if self.result is None else sum(p is None for p in self.result.preferences)

    def check_complete(self) -> None:
        """Raise IncompleteError (exit 3) naming how many judgments are missing and why."""
        if self.result is None or not self.missing:
            return
        tally = self.result.tally
        why = dict(tally.failures)
        if tally.skipped_for_cost:
            why["max_cost"] = tally.skipped_for_cost
        if not why:
            why["not in the cache of this imported judge"] = self.missing
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(why.items()))
        raise IncompleteError(
            f"{self.missing} of {len(self.pairs)} judgments missing ({reasons}); finished ones are cached, "
            "re-run to retry the rest"
        )

    def records(self) -> list[dict[str, Any]]:
        """AlpacaEval-compatible annotations (current schema, `preference_`-prefixed metadata)."""
        assert self.result is not None and not self.missing
        out = []
        for pair, pref, judgments in zip(self.pairs, self.result.preferences, self.result.judgments, strict=True):
            raw = judgments[0].raw_completion if judgments else None
            out.append(
                {
                    "instruction": pair.instruction, "output_1": pair.output_1, "generator_1": pair.generator_1,
                    "output_2": pair.output_2, "generator_2": pair.generator_2, "dataset": pair.dataset,
                    "annotator": self.judge_name, "annotator_protocol": self.judge_protocol, "preference": pref,
                    "preference_price_per_example": sum(j.cost for j in judgments),
                    "preference_time_per_example": sum(j.latency or 0.0 for j in judgments),
                    "preference_raw_completion": _maybe_json(raw),
                }
            )  # fmt: skip
        return out


def _maybe_json(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw


def build_pairs(config: AnnotateConfig) -> tuple[str, list[Pair]]:
    """The model's name and its pairs with the reference outputs, joined by instruction, in reference order; with
    `max_instances` N, the N that AlpacaEval judges, in its order (`evalset.shuffled_head` when both sides have
    the same length, else the first N)."""
    outputs = read_model_outputs(config.model_outputs, name=config.name)
    name = outputs[0].generator
    if config.reference is not None:
        refs = [(o.instruction, o.output, o.generator, o.dataset or "") for o in read_model_outputs(config.reference)]
    else:
        refs = [(e.instruction, e.output, e.generator, e.dataset) for e in load_eval_set(config.eval_set).items]
    ref_index = {r[0]: r for r in refs}
    for i, out in enumerate(outputs, start=1):
        if out.instruction not in ref_index:
            raise InputError("instruction not in the reference outputs / eval set", path=config.model_outputs, record=i)
    n = config.max_instances
    if n is not None and len(refs) == len(outputs):  # AlpacaEval shuffles both sides alike, joins on instruction
        chosen = shuffled_head(len(refs), n)
        refs, outputs, n = [refs[i] for i in chosen], [outputs[i] for i in chosen], None
    by_instruction = {o.instruction: o for o in outputs}
    pairs = [
        Pair(
            instruction=instr,
            output_1=ref_out,
            output_2=by_instruction[instr].output,
            generator_1=ref_gen,
            generator_2=name,
            dataset=by_instruction[instr].dataset or dataset,
        )
        for instr, ref_out, ref_gen, dataset in refs
        if instr in by_instruction
    ]
    return name, pairs[:n]


def _options(run: JudgeRunConfig) -> AnnotateOptions:
    client = ClientSettings(concurrency=run.concurrency, timeout=run.timeout, max_attempts=run.max_attempts,
                            tpm=run.tpm, rpm=run.rpm, stall_timeout=run.stall_timeout)  # fmt: skip
    return AnnotateOptions(client, run.max_cost, run.both_orders, progress=run.progress)


def run_annotate(config: AnnotateConfig, pairs: tuple[str, list[Pair]] | None = None) -> AnnotateRun:
    """Judge (or, with dry_run, only estimate) every pair; nothing is written here.

    Args:
        config: the annotate configuration.
        pairs: already built (name, pairs), or None to build them from the config.
    """
    name, todo = pairs or build_pairs(config)
    if pairs is None and config.subset is not None:
        todo = subset_pairs(todo, _resolve_subset(config.subset))
    with JudgmentCache(config.run.cache or default_cache_path()) as cache:
        found = resolve_judge(config.run.judge, cache, config.run.alpaca_eval_dir, config.run.judge_model)
        if config.bridge is not None:  # before anything is paid for: the bridge must read this judge
            judge = Instrument(found.name, found.protocol)
            check_successor([(f"judge {found.name}", judge)], read_bridge(config.bridge))
        options = _options(config.run)
        if config.dry_run:
            if found.unavailable is not None:
                raise found.unavailable
            if found.judge is None:
                raise InputError("--dry-run needs a judge config, not an imported judge", path=config.run.judge)
            tally = estimate(todo, found.judge, cache, options)
            return AnnotateRun(name, found.name, todo, None, tally, found.protocol)
        result = annotate(todo, found.judge, found.name, cache, options, found.unavailable)
        return AnnotateRun(name, found.name, todo, result, None, found.protocol)


def subset_pairs(pairs: list[Pair], subset: Subset) -> list[Pair]:
    """The pairs whose instructions are in the subset (what gets judged)."""
    member = subset.members(instruction_keys(p.instruction for p in pairs))
    return [p for p, m in zip(pairs, member.tolist(), strict=True) if m]


def judge_instrument(run: JudgeRunConfig) -> Instrument:
    """The instrument a run's judge is (name and protocol hash), known before anything is judged."""
    with JudgmentCache(run.cache or default_cache_path()) as cache:
        found = resolve_judge(run.judge, cache, run.alpaca_eval_dir, run.judge_model)
    return Instrument(found.name, found.protocol)


def write_annotations(run: AnnotateRun, path: Path) -> None:
    """Write the annotations file atomically (only ever complete)."""
    write_json(path, run.records())


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


def run_evaluate(config: EvaluateConfig) -> EvaluateRun:
    """Annotate, check completeness, then score the model and write its results folder.

    Args:
        config: the evaluate configuration.
    """
    name, pairs = build_pairs(config.annotate)
    calibration = resolve_calibration(config.calibration, config.annotate.eval_set)
    # Before anything is paid for: every instruction must have a difficulty in the calibration.
    keys = instruction_keys(p.instruction for p in pairs)
    check_coverage(calibration, keys, [str(config.annotate.model_outputs)] * len(pairs), np.arange(1, len(pairs) + 1))
    flags = screen([p.output_2 for p in pairs], [p.output_1 for p in pairs])  # before anything is paid for
    instrument = judge_instrument(config.annotate.run)
    bridge = None if config.annotate.bridge is None else read_bridge(config.annotate.bridge)
    if bridge is not None:
        check_successor([(name, instrument)], bridge)
    # Checked before anything is paid for: a leaderboard to rank on must be of the same instrument (a bridged row
    # is on the official scale: it ranks against official rows, marked as bridged).
    board = None if config.leaderboard is None else read_leaderboard(config.leaderboard, ("length_controlled_winrate",))
    others = board_instruments(board) if board is not None else []
    ranked = instrument if bridge is None else bridge.reference
    notes = check_one_instrument([(name, ranked), *others], config.mix_judges, "rank on one leaderboard")
    notes += calibration_notes(calibration, [instrument])
    subset = None if config.annotate.subset is None else _resolve_subset(config.annotate.subset)
    if subset is not None:  # before anything is paid for: the subset must know every instruction
        subset.check_covers(keys, str(config.annotate.model_outputs))
    annotated = run_annotate(config.annotate, (name, pairs if subset is None else subset_pairs(pairs, subset)))
    folder = config.output_dir / name / annotated.judge_name
    if annotated.estimate is not None:  # --dry-run: the estimate, nothing scored or written
        return EvaluateRun(annotated, [], folder, None, flags, notes)
    annotated.check_complete()
    assert annotated.result is not None
    estimated = ""
    if subset is None:
        judged = _annotations(name, pairs, annotated.result.preferences, str(folder / "annotations.json"), instrument)
        table = leaderboard_table(score_annotations(judged, calibration, n_boot=config.bootstrap, seed=config.seed))
    else:
        score, subset_notes = _subset_score(name, pairs, annotated, subset, calibration, config)
        table = leaderboard_table([dataclasses.replace(score, instrument=instrument, flags=tuple(flags))])
        notes, estimated = notes + subset_notes[:-1], subset_notes[-1]
    if bridge is not None:
        table, bridge_notes = bridge_table(table, bridge)
        notes += bridge_notes
    rank = _rank(table, board) if board is not None else None
    write_annotations(annotated, folder / "annotations.json")
    write_table(folder / "leaderboard.csv", table, "csv")
    return EvaluateRun(annotated, table, folder, rank, flags, notes, estimated)


def _resolve_subset(choice: str) -> Subset:
    from alpaca_lc.records.subset import resolve_subset

    return resolve_subset(choice)


def _subset_score(
    name: str, pairs: list[Pair], annotated: AnnotateRun, subset: Subset, calibration: Calibration,
    config: EvaluateConfig,
) -> tuple[ModelScore, list[str]]:  # fmt: skip
    """The model's row estimated from the subset's judgments and every pair's lengths, and the notes."""
    from alpaca_lc.scoring.subset_scoring import score_subset_model, subset_judge_note

    assert annotated.result is not None
    keys = instruction_keys(p.instruction for p in pairs)
    judged = {p.instruction: pref for p, pref in zip(annotated.pairs, annotated.result.preferences, strict=True)}
    preference = np.array([math.nan if judged.get(p.instruction) is None else judged[p.instruction] for p in pairs])
    delta = np.array([len(p.output_1) - len(p.output_2) for p in pairs], dtype=float)
    rows = ModelRows(keys, delta, preference, calibration.difficulty_of(keys))
    score, note = score_subset_model(name, rows, [len(p.output_2) for p in pairs], subset, calibration.gamed_rows(),
                                     n_boot=config.bootstrap, seed=config.seed)  # fmt: skip
    return score, [*subset_judge_note(subset, [annotated.judge_name]), note]


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


def run_cache_import(config: CacheImportConfig) -> str:
    """Load AlpacaEval annotations (or AlpacaEval's own annotation cache) into the cache under their judge's
    name; returns a summary line."""
    table = read_pair_judgments(list(config.annotations))
    judges = table.annotator.tolist() if config.judge is None else [config.judge] * len(table)
    if None in judges:
        source, record = table.where(judges.index(None))
        raise InputError("no 'annotator' field: name the judge with --judge NAME", path=source, record=record)
    rows = zip(judges, table.instruction.tolist(), table.output_1.tolist(), table.output_2.tolist(),
               table.preference.tolist(), table.raw_completion.tolist(), strict=True)  # fmt: skip
    judgments = [Judgment(pair_key(j, instruction, out1, out2), j, pref, raw, None, None, 0.0, None, "import")
                 for j, instruction, out1, out2, pref, raw in rows]  # fmt: skip
    path = config.cache or default_cache_path()
    with JudgmentCache(path) as cache:
        new = cache.put_imports(judgments)
    counts = Counter(judges)
    names = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))
    return f"imported {new} new judgments ({len(judgments) - new} already cached) into {path}: {names}"


def run_cache_stats(path: Path | None) -> str:
    """Counts, spend and size per judge, as text."""
    path = path or default_cache_path()
    if not path.exists():
        return f"{path}: no cache yet"
    with JudgmentCache(path) as cache:
        stats = cache.stats()
    size = path.stat().st_size / 1e6
    lines = [
        f"{path} ({size:.1f} MB)",
        f"{'judge':<36}{'judgments':>10}{'imported':>10}{'failures':>10}{'spend $':>10}",
    ]
    lines += [f"{s.judge:<36}{s.judgments:>10}{s.imported:>10}{s.failures:>10}{s.cost:>10.2f}" for s in stats]
    return "\n".join(lines)
