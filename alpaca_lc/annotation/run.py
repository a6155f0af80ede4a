"""Entry points of the annotation stage: `annotate`, `cache import`, `cache stats` (`evaluate`, which also
scores, is `pipeline.evaluate`)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from alpaca_lc.annotation.adapt import adapt
from alpaca_lc.annotation.annotator import Annotated, annotate, estimate
from alpaca_lc.annotation.cache import Judgment, JudgmentCache, default_cache_path
from alpaca_lc.annotation.judge import Judge, load_judge
from alpaca_lc.annotation.keys import pair_key
from alpaca_lc.annotation.official import MissingOfficialFiles
from alpaca_lc.annotation.plan import AnnotateOptions, Pair, Tally, plan
from alpaca_lc.config import AnnotateConfig, CacheImportConfig, JudgeRunConfig
from alpaca_lc.endpoint.calls import ClientSettings
from alpaca_lc.errors import IncompleteError, InputError, UsageError
from alpaca_lc.records.annotations import read_pair_judgments
from alpaca_lc.records.bridge import Bridge, check_successor, read_bridge
from alpaca_lc.records.evalset import EvalItem, load_eval_set, shuffled_head
from alpaca_lc.records.instrument import Instrument, known_protocols
from alpaca_lc.records.jsonio import write_json
from alpaca_lc.records.outputs import Coverage, read_model_outputs, thinking_of
from alpaca_lc.records.table import instruction_keys

if TYPE_CHECKING:
    from alpaca_lc.records.subset import Subset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvedJudge:
    """The judge to ask (None: only its cached judgments can be used), its name and protocol hash, for a judge that
    could be asked if AlpacaEval's files were installed the error to raise if anything is missing, and what the user
    must be told of how it is asked (`adapt`)."""

    judge: Judge | None
    name: str
    protocol: str | None
    unavailable: UsageError | None = None
    notes: tuple[str, ...] = ()


def resolve_judge(run: JudgeRunConfig, cache: JudgmentCache) -> ResolvedJudge:
    """A run's judge, as this run asks it (`adapt`: the verdict rule, a reasoning model's parameters); an AlpacaEval
    evaluator whose files are missing, or a judge known only from imported judgments, is cache-only.

    Args:
        run: the judge, its model (`--judge-model`), answer rule and reasoning settings.
        cache: the judgment cache (to recognise imported judges).
    """
    name = run.judge
    if run.judge_model is not None:  # another instrument: it needs the judge's files, never the cache of the original
        judge, notes = adapt(load_judge(name, run.alpaca_eval_dir, run.judge_model), run)
        return ResolvedJudge(judge, judge.name, judge.protocol, notes=tuple(notes))
    try:
        judge, notes = adapt(load_judge(name, run.alpaca_eval_dir), run)
    except MissingOfficialFiles as exc:
        return ResolvedJudge(None, name, known_protocols().get(name), exc)
    except InputError:
        if cache.has_judge(name):
            return ResolvedJudge(None, name, None)
        raise
    return ResolvedJudge(judge, judge.name, judge.protocol, notes=tuple(notes))


@dataclass(frozen=True)
class AnnotateRun:
    """The pairs, their judgments, and the judge's name and protocol; `records` only when every pair is judged."""

    name: str
    judge_name: str
    pairs: list[Pair]
    result: Annotated | None
    estimate: Tally | None = None
    judge_protocol: str | None = None
    coverage: Coverage | None = None  # of the eval set, when the pairs were built from a model's outputs here
    notes: tuple[str, ...] = ()  # how the judge was asked (`adapt`), for the user

    @property
    def missing(self) -> int:
        return 0 if self.result is None else sum(p is None for p in self.result.preferences)

    def preferences_at(self, keys: npt.NDArray[np.str_]) -> npt.NDArray[np.float64]:
        """The preference for each instruction key, NaN where it was not judged (outside a subset) or failed."""
        assert self.result is not None
        judged = dict(zip(instruction_keys(p.instruction for p in self.pairs).tolist(),
                          [np.nan if v is None else v for v in self.result.preferences], strict=True))  # fmt: skip
        return np.array([judged.get(k, np.nan) for k in keys.tolist()], dtype=float)

    def check_complete(self) -> None:
        """Raise IncompleteError (exit 3) naming how many judgments are missing and why."""
        if self.result is None or not self.missing:
            return
        tally = self.result.tally
        why = [tally.failure_line()] if tally.failures else []
        if tally.skipped_for_cost:
            why.append(f"max_cost {tally.skipped_for_cost}")
        if not why:
            why.append(f"not in the cache of this imported judge {self.missing}")
        reasons = ", ".join(why)
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


class BuiltPairs(NamedTuple):
    """A model's name, its pairs with the reference outputs, how much of the eval set they cover, and what was
    said of the thoughts split off its outputs."""

    name: str
    pairs: list[Pair]
    coverage: Coverage
    notes: tuple[str, ...] = ()


def build_pairs(config: AnnotateConfig) -> BuiltPairs:
    """The model's name and its pairs with the reference outputs, joined by instruction, in reference order; with
    `max_instances` N, the N that AlpacaEval judges, in its order (`evalset.shuffled_head` when both sides have
    the same length, else the first N).

    Outputs that miss instructions of the eval set (or the reference outputs) are refused, naming how many and the
    first missing, unless the run is partial by request: `max_instances`, `subset` or `allow_partial`.
    """
    tags = None if config.keep_thinking else config.think_tags
    outputs = read_model_outputs(config.model_outputs, name=config.name, tags=tags)
    notes = tuple(thinking_of(outputs).notes(config.model_outputs))
    name = outputs[0].generator
    if config.reference is not None:
        reference = read_model_outputs(config.reference, tags=tags)
        refs = [(o.instruction, o.output, o.generator, o.dataset or "") for o in reference]
        what = f"the reference outputs {config.reference}"
    else:
        eval_set = load_eval_set(config.eval_set)
        refs = [(e.instruction, e.output, e.generator, e.dataset) for e in eval_set.items]
        what = f"the eval set {eval_set.source}"
    ref_index = {r[0]: r for r in refs}
    for i, out in enumerate(outputs, start=1):
        if out.instruction not in ref_index:
            raise InputError("instruction not in the reference outputs / eval set", path=config.model_outputs, record=i)
    allowed = partial_allowed_by(config.max_instances, config.subset, config.allow_partial)
    record = {o.instruction: i for i, o in enumerate(outputs, start=1)}
    if len(outputs) < len(refs) and not allowed:
        first = next(i for i, r in enumerate(refs, start=1) if r[0] not in record)
        raise InputError(
            f"covers {len(outputs)} of the {len(refs)} instructions of {what} (the first missing is its record "
            f"{first}, {refs[first - 1][0][:50]!r}): generate the rest, or ask for a partial run with --allow-partial "
            "(its rows are marked partial), --max-instances N or --subset", path=config.model_outputs)  # fmt: skip
    total, n = len(refs), config.max_instances
    if n is not None and len(refs) == len(outputs):  # AlpacaEval shuffles both sides alike, joins on instruction
        chosen = shuffled_head(len(refs), n)
        refs, outputs, n = [refs[i] for i in chosen], [outputs[i] for i in chosen], None
    by_instruction = {o.instruction: o for o in outputs}
    source = str(config.model_outputs)
    pairs = [
        Pair(instr, ref_out, by_instruction[instr].output, ref_gen, name, by_instruction[instr].dataset or dataset,
             source, record[instr])
        for instr, ref_out, ref_gen, dataset in refs
        if instr in by_instruction
    ][:n]  # fmt: skip
    return BuiltPairs(name, pairs, Coverage(len(pairs), total, allowed if len(pairs) < total else ""), notes)


def partial_allowed_by(max_instances: int | None, subset: str | None, allow_partial: bool) -> str:
    """The option that makes a run partial on purpose ("" for none)."""
    if max_instances is not None:
        return f"--max-instances {max_instances}"
    if subset is not None:
        return f"--subset {subset}"
    return "--allow-partial" if allow_partial else ""


def run_options(run: JudgeRunConfig) -> AnnotateOptions:
    """How a run judges: its client settings, spending cap, orders, batch and endpoint rules."""
    client = ClientSettings(concurrency=run.concurrency, timeout=run.timeout, max_attempts=run.max_attempts,
                            tpm=run.tpm, rpm=run.rpm, stall_timeout=run.stall_timeout)  # fmt: skip
    return AnnotateOptions(client, run.max_cost, run.both_orders, progress=run.progress, batch=run.batch,
                           batch_fallback=run.batch_fallback, wait=run.wait, same_endpoints=run.same_endpoints,
                           strict_endpoint=run.strict_endpoint, context_tokens=run.context_tokens,
                           fresh=run.fresh)  # fmt: skip


def run_annotate(config: AnnotateConfig, pairs: tuple[str, list[Pair]] | None = None) -> AnnotateRun:
    """`annotate`: build the pairs (only the subset's with `subset`), check the bridge, and judge (or, with
    dry_run, only estimate) every pair; nothing is written here.

    Args:
        config: the annotate configuration.
        pairs: already built (name, pairs), or None to build them from the config.
    """
    coverage, notes = None, tuple[str, ...]()
    if pairs is None:
        name, todo, coverage, notes = build_pairs(config)
        if config.subset is not None:
            todo = subset_pairs(todo, _resolve_subset(config.subset))
    else:
        name, todo = pairs
    bridge = None if config.bridge is None else read_bridge(config.bridge)
    run = judge_pairs(config, name, todo, bridge)
    return dataclasses.replace(run, coverage=coverage, notes=(*notes, *run.notes))


def judge_pairs(config: AnnotateConfig, name: str, todo: list[Pair], bridge: Bridge | None = None) -> AnnotateRun:
    """Judge (or, with dry_run, only estimate) these pairs of the model `name`.

    Args:
        config: the judge and run settings.
        name: the model's name.
        todo: the pairs to judge.
        bridge: a bridge the judge must be the successor of, checked before anything is paid for.
    """
    options = run_options(config.run)
    with JudgmentCache(config.run.cache or default_cache_path()) as cache:
        found = resolve_judge(config.run, cache)
        if bridge is not None:
            check_successor([(f"judge {found.name}", Instrument(found.name, found.protocol))], bridge)
        if config.dry_run:
            if found.unavailable is not None:
                raise found.unavailable
            if found.judge is None:
                raise InputError("--dry-run needs a judge config, not an imported judge", path=config.run.judge)
            tally = estimate(todo, found.judge, cache, options)
            return AnnotateRun(name, found.name, todo, None, tally, found.protocol, notes=found.notes)
        result = annotate(todo, found.judge, found.name, cache, options, found.unavailable)
        return AnnotateRun(name, found.name, todo, result, None, found.protocol, notes=found.notes)


def _resolve_subset(choice: str) -> Subset:
    from alpaca_lc.records.subset import resolve_subset

    return resolve_subset(choice)


def subset_pairs(pairs: list[Pair], subset: Subset) -> list[Pair]:
    """The pairs whose instructions are in the subset (what gets judged)."""
    member = subset.members(instruction_keys(p.instruction for p in pairs))
    return [p for p, m in zip(pairs, member.tolist(), strict=True) if m]


def judge_instrument(run: JudgeRunConfig) -> Instrument:
    """The instrument a run's judge is (name and protocol hash), known before anything is judged."""
    with JudgmentCache(run.cache or default_cache_path()) as cache:
        found = resolve_judge(run, cache)
    return Instrument(found.name, found.protocol)


def live_judge(run: JudgeRunConfig) -> Judge | None:
    """The judge a run would ask; None when only its cached judgments can be used (AlpacaEval's files absent, or
    a judge known only from imports)."""
    with JudgmentCache(run.cache or default_cache_path()) as cache:
        return resolve_judge(run, cache).judge


def supersede_judgments(config: AnnotateConfig, todo: list[Pair], before: float) -> int:
    """Stop serving the cached judgments of these pairs made before `before` (seconds since the epoch): the judge
    has drifted since, they no longer describe it. They are kept in the cache's `superseded` table. How many."""
    options = run_options(config.run)
    with JudgmentCache(config.run.cache or default_cache_path()) as cache:
        found = resolve_judge(config.run, cache)
        planned = [p for reqs in plan(todo, found.judge, found.name, options) for p in reqs]
        return cache.supersede([k for p in planned for k in (p.key, *p.older())], before)


def write_annotations(run: AnnotateRun, path: Path) -> None:
    """Write the annotations file atomically (only ever complete)."""
    write_json(path, run.records())


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
    """Counts, spend (live and batch) and size per judge, as text."""
    path = path or default_cache_path()
    if not path.exists():
        return f"{path}: no cache yet"
    size = path.stat().st_size / 1e6
    with JudgmentCache(path) as cache:
        stats, endpoints = cache.stats(), cache.endpoints()
    width = max([36, *(len(s.judge) + 2 for s in stats)])
    lines = [
        f"{path} ({size:.1f} MB)",
        f"{'judge':<{width}}{'judgments':>10}{'imported':>10}{'batch':>8}{'failures':>10}{'live $':>10}{'batch $':>10}"
        f"{'reasoning':>12}",
    ]
    lines += [f"{s.judge:<{width}}{s.judgments:>10}{s.imported:>10}{s.batch:>8}{s.failures:>10}"
              f"{s.cost - s.batch_cost:>10.2f}{s.batch_cost:>10.2f}{s.reasoning_tokens:>12,}"
              for s in stats]  # fmt: skip
    if endpoints:
        lines += ["", f"{'judge':<{width}}{'judgments':>10}  endpoint"]
        lines += [f"{judge:<{width}}{n:>10}  {endpoint}" for judge, endpoint, n in endpoints]
    return "\n".join(lines)


def stand_in_pairs(items: list[EvalItem], model: str, length: int | None = None) -> list[Pair]:
    """Pairs for estimating what judging outputs not yet at hand would cost (never sent): each model output is
    the baseline's text cut or repeated to `length` characters (None: as long as the baseline's), plus one space
    so that no pair counts as identical."""

    def stand_in(text: str) -> str:
        return text if length is None else ((text + " ") * (length // max(len(text), 1) + 1))[:length]

    return [Pair(it.instruction, it.output, stand_in(it.output) + " ", it.generator, model, it.dataset)
            for it in items]  # fmt: skip
