"""`evaluate --benchmark arena-hard-v2.0`: generate a model's answers (or take them), judge them in two games a
prompt, score each category with and without style control, and write the results folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alpaca_lc.annotation.arena_run import ArenaAnnotateConfig, ArenaAnnotateRun, run_arena_annotate, write_judgments
from alpaca_lc.config import GenerateConfig
from alpaca_lc.errors import InputError
from alpaca_lc.generation.run import GenerateRun, run_generate
from alpaca_lc.report.tables import write_table
from alpaca_lc.scoring.arena_board import ArenaBoardConfig, run_arena_board

STYLE = "length,markdown"


@dataclass(frozen=True)
class ArenaEvaluateConfig:
    """The judging run, the generation before it (None: the answers are given), and where results go."""

    annotate: ArenaAnnotateConfig
    generate: GenerateConfig | None = None
    output_dir: Path = Path("results")
    rounds: int = 100
    seed: int = 0
    tiktoken_file: Path | None = None


@dataclass
class ArenaEvaluateRun:
    """What was generated and judged, the rows (one per category and control), and what to tell the user."""

    generated: GenerateRun | None
    annotated: ArenaAnnotateRun
    folder: Path | None = None
    table: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def run_arena_evaluate(config: ArenaEvaluateConfig) -> ArenaEvaluateRun:
    """Generate (if asked), judge, score and write `judgments.jsonl` and `leaderboard.csv` under
    OUTPUT_DIR/<model>/arena-hard-v2.0@<judge model>/."""
    annotate = config.annotate
    generated = None
    if config.generate is not None:
        generated = run_generate(config.generate)
        annotate = dataclasses.replace(annotate, answers=config.generate.output)
    annotated = run_arena_annotate(annotate)
    run = ArenaEvaluateRun(generated, annotated, notes=list(annotated.notes))
    if annotate.dry_run:
        return run
    annotated.check_complete()
    judge = annotated.categories[0].judge.model if annotated.categories else "judge"
    run.folder = config.output_dir / annotated.model / f"arena-hard-v2.0@{judge}"
    write_judgments(annotated, run.folder / "judgments.jsonl")
    rows = [_rows(run, c.category, control, config, annotate.answers) for c in annotated.categories
            for control in (None, STYLE)]  # fmt: skip
    run.table = pd.concat([r for r in rows if r is not None], ignore_index=True)
    write_table(run.folder / "leaderboard.csv", run.table, "csv")
    return run


def _rows(run: ArenaEvaluateRun, category: str, control: str | None, config: ArenaEvaluateConfig,
          answers: Path) -> pd.DataFrame | None:  # fmt: skip
    """One category's row, plain or style-controlled; a style control the metadata cannot give is said, not faked."""
    assert run.folder is not None
    styles = (answers, *run.annotated.baseline_files) if control else ()
    board_config = ArenaBoardConfig(judgments=(run.folder / "judgments.jsonl",), answers=styles, category=category,
                                    control=control, rounds=config.rounds, seed=config.seed,
                                    tiktoken_file=config.tiktoken_file)  # fmt: skip
    try:
        board = run_arena_board(board_config)
    except InputError as exc:
        if control is None:
            raise
        run.notes.append(f"{category}: no style-controlled score ({exc})")
        return None
    run.notes += [f"{category}: {note}" for note in board.notes if "failed game" in note or "coefficients" in note]
    return board.table
