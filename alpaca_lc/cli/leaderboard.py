"""`alpaca-lc leaderboard`: one row per model with raw and length-controlled win rates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import pandas as pd

from alpaca_lc.cli.options import (
    benchmark_options,
    calibration_option,
    eval_set_option,
    extrapolate_option,
    judge_filter_option,
    mix_judges_option,
    output_option,
)


@click.command()
@click.argument("annotations", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option
@calibration_option
@eval_set_option
@click.option(
    "--bootstrap",
    default=None,
    type=click.IntRange(min=0),
    help="Resamples for the intervals (0: none). Default: 1000; Arena-Hard-Auto: 100, as its scorer.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@click.option("--format", "fmt", type=click.Choice(["csv", "md", "json"]), default=None, help="Default: csv.")
@mix_judges_option
@judge_filter_option
@click.option("--subset", default=None,
              help="The annotations judge only this subset ('tiny', 'small' or a file from `subset fit`): estimate "
              "the full set's raw and LC win rates from them (needs --outputs).")  # fmt: skip
@click.option("--outputs", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="With --subset: each model's model_outputs.json (every instruction); repeat it.")  # fmt: skip
@click.option(
    "--bridge",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A bridge file (`bridge fit`): a successor judge's rows on AlpacaEval 2.0's official scale.",
)
@extrapolate_option
@benchmark_options
def leaderboard(
    annotations: tuple[Path, ...],
    output: Path | None,
    calibration: str,
    eval_set: Path | None,
    bootstrap: int | None,
    seed: int,
    fmt: str | None,
    mix_judges: bool,
    subset: str | None,
    outputs: tuple[Path, ...],
    bridge: Path | None,
    judge: str | None,
    extrapolate: bool,
    benchmark: str,
    category: str | None,
    control: str | None,
    answers: tuple[Path, ...],
    tiktoken_file: Path | None,
) -> None:
    """Score ANNOTATIONS (annotations.json files, folders of them, parquet/JSONL tables).

    With --subset, the annotations cover that subset and --outputs give every model's outputs: the full set's
    raw and LC win rates are estimated.
    """
    from alpaca_lc.scoring.leaderboard import LeaderboardConfig, run_leaderboard

    if benchmark == "arena-hard-v2.0":
        _arena_board(annotations, answers, category, control, bootstrap, seed, output, fmt, tiktoken_file)
        return
    if category or control or answers or tiktoken_file:
        raise click.UsageError("--category, --control and --answers are Arena-Hard-Auto's: add --benchmark "
                               "arena-hard-v2.0")  # fmt: skip
    if (subset is None) != (not outputs):
        raise click.UsageError("--subset and --outputs go together")
    config = LeaderboardConfig(
        annotations=annotations,
        calibration=calibration,
        eval_set=eval_set,
        bootstrap=1000 if bootstrap is None else bootstrap,
        seed=seed,
        mix_judges=mix_judges,
        subset=subset,
        outputs=outputs,
        bridge=bridge,
        output=output,
        judge=judge,
        extrapolate=extrapolate,
    )
    run = run_leaderboard(config)
    _show(run.table, run.notes, output, fmt)


def _arena_board(judgments: tuple[Path, ...], answers: tuple[Path, ...], category: str | None, control: str | None,
                 rounds: int | None, seed: int, output: Path | None, fmt: str | None,
                 tiktoken_file: Path | None) -> None:  # fmt: skip
    """Arena-Hard-Auto's leaderboard: judgment files (as `gen_judgment.py` writes them) in, one row per model."""
    from alpaca_lc.scoring.arena_board import ArenaBoardConfig, run_arena_board

    rounds = 100 if rounds is None else rounds
    config = ArenaBoardConfig(judgments=judgments, answers=answers, category=category or "hard_prompt",
                              control=control, rounds=rounds, seed=seed, output=output,
                              tiktoken_file=tiktoken_file)  # fmt: skip
    board = run_arena_board(config)
    _show(board.table, board.notes, output, fmt)


def _show(table: pd.DataFrame, notes: list[str], output: Path | None, fmt: str | None) -> None:
    """The notes on stderr, then the table on stdout or in `output` (its format by suffix unless given)."""
    from alpaca_lc.report.tables import render, write_table

    for note in notes:
        click.echo(note, err=True)
    if output is None:
        click.echo(render(table, fmt or "csv"), nl=False)
    else:
        write_table(output, table, fmt or {".md": "md", ".json": "json"}.get(output.suffix, "csv"))
