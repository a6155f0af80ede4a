"""`alpaca-lc leaderboard`: one row per model with raw and length-controlled win rates."""

from __future__ import annotations

from pathlib import Path

import click

from alpaca_lc.cli.options import (
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
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0), help="0: no interval.")
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
def leaderboard(
    annotations: tuple[Path, ...],
    output: Path | None,
    calibration: str,
    eval_set: Path | None,
    bootstrap: int,
    seed: int,
    fmt: str | None,
    mix_judges: bool,
    subset: str | None,
    outputs: tuple[Path, ...],
    bridge: Path | None,
    judge: str | None,
    extrapolate: bool,
) -> None:
    """Score ANNOTATIONS (annotations.json files, folders of them, parquet/JSONL tables).

    With --subset, the annotations cover that subset and --outputs give every model's outputs: the full set's
    raw and LC win rates are estimated.
    """
    from alpaca_lc.report.tables import render, write_table
    from alpaca_lc.scoring.leaderboard import LeaderboardConfig, run_leaderboard

    if (subset is None) != (not outputs):
        raise click.UsageError("--subset and --outputs go together")
    config = LeaderboardConfig(
        annotations=annotations,
        calibration=calibration,
        eval_set=eval_set,
        bootstrap=bootstrap,
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
    for note in run.notes:
        click.echo(note, err=True)
    if output is None:
        click.echo(render(run.table, fmt or "csv"), nl=False)
    else:
        write_table(output, run.table, fmt or {".md": "md", ".json": "json"}.get(output.suffix, "csv"))
