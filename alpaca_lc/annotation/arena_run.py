"""`annotate --benchmark arena-hard-v2.0`: judge a model's answers against each category's baseline, two games a
prompt, through the one annotator, client and cache; write the judgment file `gen_judgment.py` would write."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_lc.annotation.adapt import adapt
from alpaca_lc.annotation.annotator import Annotated, annotate, estimate
from alpaca_lc.annotation.arena import ArenaProtocol, arena_judge, read_protocol
from alpaca_lc.annotation.cache import Judgment, JudgmentCache, default_cache_path
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.keys import request_key
from alpaca_lc.annotation.parse import ARENA_P_FIRST, preference_from_p_first
from alpaca_lc.annotation.plan import Pair, Tally
from alpaca_lc.annotation.run import run_options
from alpaca_lc.config import JudgeRunConfig
from alpaca_lc.errors import IncompleteError, InputError
from alpaca_lc.records.arena_hard import Answers, Question, read_answers, read_questions
from alpaca_lc.records.jsonio import read_json_records, write_atomic
from alpaca_lc.records.thinking import DEFAULT_TAGS

BENCH = Path("data") / "arena-hard-v2.0"


@dataclass(frozen=True)
class ArenaAnnotateConfig:
    """What to judge (answers, eval set, baselines, categories), with which judge run, and where to write."""

    answers: Path
    output: Path
    run: JudgeRunConfig
    eval_set: Path | None = None  # default: the checkout's data/arena-hard-v2.0/question.jsonl
    references: tuple[Path, ...] = ()  # the baselines' answers; default: the checkout's model_answer/<baseline>.jsonl
    category: str | None = None  # only this category (default: every category the answers cover)
    arena_dir: Path | None = None  # the benchmark's checkout (`annotation.arena.locate`)
    dry_run: bool = False
    allow_partial: bool = False
    think_tags: tuple[str, str] | None = DEFAULT_TAGS  # None: answers judged whole


@dataclass(frozen=True)
class CategoryRun:
    """One category's pairs (uids beside them), its judge, and what was judged or estimated."""

    category: str
    judge: Judge
    uids: list[str]
    pairs: list[Pair]
    result: Annotated | None
    estimate: Tally | None


@dataclass(frozen=True)
class ArenaAnnotateRun:
    """The model, its categories' runs, and the protocol that reads their verdicts."""

    model: str
    protocol: ArenaProtocol
    categories: list[CategoryRun]
    notes: list[str]
    baseline_files: tuple[Path, ...] = ()  # the baselines' answer files read

    def check_complete(self) -> None:
        """Raise IncompleteError (exit 3) when a game is missing: nothing is written, finished games are cached."""
        missing = sum(2 * len(c.pairs) - sum(map(len, c.result.judgments)) for c in self.categories
                      if c.result is not None)  # fmt: skip
        if missing:
            why = "; ".join(c.result.tally.failure_line() for c in self.categories
                            if c.result is not None and c.result.tally.failures)  # fmt: skip
            raise IncompleteError(f"{missing} games missing ({why or 'not judged'}); finished ones are cached, "
                                  "re-run to judge the rest")  # fmt: skip

    def records(self) -> list[dict[str, Any]]:
        """The judgment file's lines, as `gen_judgment.py` writes them (one per prompt, two games)."""
        out = []
        for c in self.categories:
            assert c.result is not None
            for uid, pair, judgments in zip(c.uids, c.pairs, c.result.judgments, strict=True):
                shown = [(pair.output_1, pair.output_2), (pair.output_2, pair.output_1)]  # the baseline as A first
                games = [self._game(c.judge, pair.instruction, *ab, j) for ab, j in zip(shown, judgments, strict=True)]
                out.append({"uid": uid, "category": c.category, "judge": c.judge.model, "model": self.model,
                            "baseline": pair.generator_1, "games": games, "annotator": c.judge.name,
                            "annotator_protocol": c.judge.protocol})  # fmt: skip
        return out

    def _game(self, judge: Judge, question: str, a: str, b: str, judgment: Judgment) -> dict[str, Any]:
        text = _text(judgment.raw_completion)
        return {"score": self.protocol.verdict(text), "judgment": {"answer": text},
                "prompt": judge.prompt.render(question, a, b)}  # fmt: skip


def _text(raw: str | None) -> str:
    """The judgment's text from a cached raw completion (a chat choice as JSON)."""
    try:
        choice = json.loads(raw or "")
    except json.JSONDecodeError:
        return raw or ""
    return str(((choice.get("message") or {}) if isinstance(choice, dict) else {}).get("content") or "")


def _questions(config: ArenaAnnotateConfig, protocol: ArenaProtocol) -> dict[str, Question]:
    return read_questions(config.eval_set or protocol.source / BENCH / "question.jsonl")


def _baselines(config: ArenaAnnotateConfig, protocol: ArenaProtocol, needed: set[str]
               ) -> tuple[dict[str, Answers], tuple[Path, ...]]:  # fmt: skip
    folder = protocol.source / BENCH / "model_answer"  # the benchmark's layout, where its baselines' answers live
    paths = config.references or tuple(
        folder / f"{b}.jsonl" for b in sorted(needed) if (folder / f"{b}.jsonl").is_file()
    )
    found = {a.model: a for a in (read_answers(p, config.think_tags) for p in paths)}
    for name in sorted(needed - set(found)):
        raise InputError(f"no answers of {name}, a baseline of the categories to judge: pass its answer file with "
                         "--reference, or judge one category with --category")  # fmt: skip
    return found, tuple(paths)


def _pairs(answers: Answers, baseline: Answers, questions: list[Question]) -> tuple[list[str], list[Pair]]:
    pairs = []
    for q in questions:
        if q.uid not in baseline.answers:
            raise InputError(f"the baseline {baseline.model} has no answer to prompt '{q.uid}'", path=baseline.path)
        pairs.append(Pair(q.prompt, baseline.answers[q.uid], answers.answers[q.uid], baseline.model, answers.model,
                          q.category, str(answers.path), answers.records[q.uid]))  # fmt: skip
    return [q.uid for q in questions], pairs


def _chosen(config: ArenaAnnotateConfig, answers: Answers, questions: dict[str, Question]) -> dict[str, list[Question]]:
    """The answered prompts by category (the one asked for, else all), refusing answers outside the eval set and
    an eval set answered in part (unless allowed)."""
    for uid, record in answers.records.items():
        if uid not in questions:
            raise InputError(f"answers prompt '{uid}', which is not in the eval set", path=answers.path, record=record)
    wanted = [q for q in questions.values() if config.category in (None, q.category)]
    if config.category is not None and not wanted:
        raise InputError(f"the eval set has no category '{config.category}'")
    unanswered = [q.uid for q in wanted if q.uid not in answers.answers]
    if unanswered and not config.allow_partial:
        raise InputError(f"answers {len(wanted) - len(unanswered)} of the {len(wanted)} prompts to judge (first "
                         f"missing: {unanswered[0]}): answer them all, or judge them anyway with --allow-partial",
                         path=answers.path)  # fmt: skip
    by: dict[str, list[Question]] = {}
    for q in wanted:
        if q.uid in answers.answers:
            by.setdefault(q.category, []).append(q)
    return by


def run_arena_annotate(config: ArenaAnnotateConfig) -> ArenaAnnotateRun:
    """Judge (or with dry_run estimate) every game; nothing is written here."""
    protocol = read_protocol(config.arena_dir)
    answers = read_answers(config.answers, config.think_tags)
    chosen = _chosen(config, answers, _questions(config, protocol))
    needed = {protocol.categories[c].baseline for c in chosen if c in protocol.categories}
    baselines, baseline_files = _baselines(config, protocol, needed)
    options = dataclasses.replace(run_options(config.run), both_orders=True, judge_identical=True)
    runs, notes = [], []
    with JudgmentCache(config.run.cache or default_cache_path()) as cache:
        for category, questions in sorted(chosen.items()):
            judge, said = adapt(arena_judge(protocol, category, config.run.judge_model), config.run)
            notes += said
            uids, pairs = _pairs(answers, baselines[protocol.categories[category].baseline], questions)
            if config.dry_run:
                runs.append(CategoryRun(category, judge, uids, pairs, None, estimate(pairs, judge, cache, options)))
            else:
                result = annotate(pairs, judge, judge.name, cache, options)
                runs.append(CategoryRun(category, judge, uids, pairs, result, None))
    return ArenaAnnotateRun(answers.model, protocol, runs, notes, baseline_files)


def write_judgments(run: ArenaAnnotateRun, path: Path) -> None:
    """Write the judgment file atomically (only ever complete)."""
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.records())
    write_atomic(path, lambda fh: fh.write(lines))


def import_judgments(paths: list[Path], arena_dir: Path | None, cache_path: Path | None) -> str:
    """Load judgment files the benchmark's own `gen_judgment.py` wrote into the cache, keyed by the requests they
    record (each game's `prompt`), so judging the same answers here pays for nothing; a summary line.

    The files do not record the decoding: the checkout's configuration is taken as what was sent. A game whose call
    failed (null) is not imported: it will be judged.
    """
    protocol = read_protocol(arena_dir)
    decoding = {"temperature": protocol.temperature, "max_tokens": protocol.max_tokens}
    judgments, failed = [], 0
    for path in paths:
        for i, rec in enumerate(read_json_records(path), start=1):
            games, model = rec.get("games"), rec.get("judge")
            if not isinstance(games, list) or len(games) != 2 or not isinstance(model, str):
                raise InputError("expected a judgment line of gen_judgment.py ('judge', two 'games')", path=path,
                                 record=i)  # fmt: skip
            name = arena_judge(protocol, str(rec.get("category")), model).name
            for order, game in enumerate(games):
                if game is None:
                    failed += 1
                    continue
                judgments.append(_imported(game, model, name, decoding, order == 1, protocol, path, i))
    with JudgmentCache(cache_path or default_cache_path()) as cache:
        new = cache.put_imports(judgments)
    skipped = f"; {failed} failed games (null) not imported" if failed else ""
    return f"imported {new} new judgments ({len(judgments) - new} already cached){skipped}"


def _imported(game: dict[str, Any], model: str, name: str, decoding: dict[str, Any], model_first: bool,
              protocol: ArenaProtocol, path: Path, record: int) -> Judgment:  # fmt: skip
    messages, text = game.get("prompt"), (game.get("judgment") or {}).get("answer")
    if not isinstance(messages, list) or not isinstance(text, str):
        raise InputError("a game lacks its 'prompt' messages or its 'judgment' text", path=path, record=record)
    p_first = ARENA_P_FIRST.get(protocol.verdict(text) or "", 0.5)
    raw = json.dumps({"message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
    return Judgment(request_key(model, messages, decoding, None), name, preference_from_p_first(p_first, model_first),
                    raw, None, None, 0.0, None, "import")  # fmt: skip
