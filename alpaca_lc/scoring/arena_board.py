"""`leaderboard --benchmark arena-hard-v2.0`: judgment files (and, for style control, answer files) in, one row
per model out: the score against the category's baseline with its bootstrap interval, in percent."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.arena_hard import AnswerStyle, ArenaJudgment, read_answer_style, read_judgments
from alpaca_lc.records.arena_style import gpt4o_tokens
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.scoring.arena import CategoryBattles, category_battles, score_category
from alpaca_lc.stats.arena import LEVEL, ROUNDS, Score, StyleControlled


@dataclass(frozen=True)
class ArenaBoardConfig:
    """Score Arena-Hard-Auto judgments of one category, plainly or with style control."""

    judgments: tuple[Path, ...]
    answers: tuple[Path, ...] = ()  # every model's and the baseline's answer files, for style control
    category: str = "hard_prompt"  # the reference scores hard_prompt by default
    control: str | None = None  # "length", "markdown" or "length,markdown"
    rounds: int = ROUNDS
    seed: int = 0
    level: float = LEVEL
    output: Path | None = None
    tiktoken_file: Path | None = None  # for answers without style metadata, computed as the benchmark does

    def __post_init__(self) -> None:
        if self.control and not self.answers:
            raise UsageError("style control reads the answers' style metadata: pass every model's and the "
                             "baseline's answer files with --answers")  # fmt: skip
        if self.rounds < 1:
            raise UsageError(f"bootstrap rounds must be >= 1 for an interval, got {self.rounds}")


@dataclass(frozen=True)
class ArenaBoard:
    """The table and what the user should be told (failed games, coverage, style coefficients)."""

    table: pd.DataFrame
    notes: list[str]


def _files(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a folder stands for the *.jsonl files directly in it (the benchmark's layout)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.jsonl"))
            if not inside:
                raise InputError("no *.jsonl files in this folder", path=path)
            found += inside
        else:
            found.append(path)
    return found


def _read_judgments(paths: list[Path]) -> list[ArenaJudgment]:
    judgments: list[ArenaJudgment] = []
    seen: dict[tuple[str, str, str], Path] = {}
    for path in paths:
        for i, j in enumerate(read_judgments(path), start=1):
            key = (j.model, j.category, j.uid)
            if key in seen:
                raise InputError(f"'{j.model}' is judged twice on prompt '{j.uid}' (also in {seen[key]})",
                                 path=path, record=i)  # fmt: skip
            seen[key] = path
            judgments.append(j)
    judges = sorted({j.judge for j in judgments})
    if len(judges) > 1:
        raise InputError(f"judgments of several judges ({', '.join(judges)}): score one judge's at a time")
    return judgments


def _notes(battles: CategoryBattles, category: str) -> list[str]:
    notes = []
    failed = {m: n for m, n in battles.failed.items() if n}
    if failed:
        listed = ", ".join(f"{m} {n} of {battles.prompts[m]}" for m, n in sorted(failed.items()))
        notes.append(f"prompts with a failed game (no verdict, or a failed call), both games dropped: {listed}")
    unscored = sorted(set(battles.prompts) - set(battles.battles.models))
    if unscored:
        notes.append(f"no score for {', '.join(unscored)}: every prompt has a failed game")
    most = max(battles.prompts.values())
    short = {m: n for m, n in battles.prompts.items() if n < most}
    if short:
        listed = ", ".join(f"{m} {n}" for m, n in sorted(short.items()))
        notes.append(f"not every model was judged on all {most} {category} prompts: {listed}")
    return notes


def _rows(scores: list[Score], battles: CategoryBattles, category: str, control: str | None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": s.model,
                "score": 100 * s.score,
                "score_ci_low": 100 * s.low,
                "score_ci_high": 100 * s.high,
                "category": category,
                "baseline": battles.baseline,
                "control": control or "none",
                "prompts": battles.prompts[s.model],
                "failed_prompts": battles.failed[s.model],
                "flags": _flags(battles, s.model),
            }
            for s in sorted(scores, key=lambda s: -s.score)
        ]
    )


FAILED_SHARE = 0.10  # a row whose prompts lost more games than this to failures is flagged


def _flags(battles: CategoryBattles, model: str) -> str:
    """Screening: a row judged on fewer prompts than the others (not comparable), or one that lost many prompts to
    failed games (its score rests on the rest), as `name: reason` joined by "; " (empty: none)."""
    flags = []
    most, prompts, failed = max(battles.prompts.values()), battles.prompts[model], battles.failed[model]
    if prompts < most:
        flags.append(f"partial: judged on {prompts} of the {most} prompts the other rows were")
    if failed > FAILED_SHARE * prompts:
        flags.append(f"failed_games: {failed} of {prompts} prompts have a failed game (no verdict or a failed call)")
    return "; ".join(flags)


def run_arena_board(config: ArenaBoardConfig) -> ArenaBoard:
    """Read the judgments (and answers), score the category, and say what was dropped."""
    judgment_files, answer_files = _files(config.judgments), _files(config.answers)
    check_destinations([config.output], [*judgment_files, *answer_files, config.tiktoken_file])
    battles = category_battles(_read_judgments(judgment_files), config.category)
    tokens = functools.partial(gpt4o_tokens, config.tiktoken_file)
    styles: dict[str, AnswerStyle] = {a.model: a for a in (read_answer_style(p, tokens) for p in answer_files)}
    result = score_category(battles, styles, config.control, rounds=config.rounds, seed=config.seed,
                            level=config.level)  # fmt: skip
    notes = _notes(battles, config.category)
    interval = f"{round(100 * config.level)}% bootstrap interval, {config.rounds} rounds"
    if isinstance(result, StyleControlled):
        coefs = ", ".join(f"{n} {c[0]:+.3f} ({c[1]:+.3f} to {c[2]:+.3f})" for n, c in result.coefficients.items())
        notes.append(f"style coefficients (standardised features; {interval}): {coefs}")
        scores = result.scores
    else:
        scores = result
    notes.append(f"scores against {battles.baseline} in percent; intervals: {interval}")
    return ArenaBoard(_rows(scores, battles, config.category, config.control), notes)
