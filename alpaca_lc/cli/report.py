"""`alpaca-lc report`: a static HTML leaderboard with plots."""

from __future__ import annotations

from pathlib import Path

import click

from alpaca_lc.cli.options import benchmark_options, calibration_option, judge_filter_option, mix_judges_option


@click.command()
@click.argument("source", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write index.html, leaderboard.csv and the plots into.")  # fmt: skip
@calibration_option
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0))
@click.option("--title", default="alpaca-lc leaderboard", show_default=True)
@mix_judges_option
@judge_filter_option
@benchmark_options
def report(
    source: tuple[Path, ...], output_dir: Path, calibration: str, bootstrap: int, title: str, mix_judges: bool,
    judge: str | None, benchmark: str, category: str | None, control: str | None, answers: tuple[Path, ...],
    tiktoken_file: Path | None,
) -> None:  # fmt: skip
    """Write an HTML leaderboard and plots from SOURCE: a leaderboard CSV, or annotations / results folders
    (Arena-Hard-Auto: its judgment files, with --answers and --control for the style-controlled column)."""
    from alpaca_lc.config import ReportConfig
    from alpaca_lc.report.run import run_report

    if benchmark == "arena-hard-v2.0":
        from alpaca_lc.report.arena import run_arena_report
        from alpaca_lc.scoring.arena_board import ArenaBoardConfig

        board = ArenaBoardConfig(judgments=source, answers=answers, category=category or "hard_prompt",
                                 control=control, seed=0, tiktoken_file=tiktoken_file)  # fmt: skip
        for path in run_arena_report(board, output_dir, title):
            click.echo(str(path))
        return
    if category or control or answers or tiktoken_file:
        raise click.UsageError("--category, --control, --answers and --tiktoken-file are Arena-Hard-Auto's: add "
                               "--benchmark arena-hard-v2.0")  # fmt: skip

    config = ReportConfig(
        source=source,
        output_dir=output_dir,
        calibration=calibration,
        bootstrap=bootstrap,
        title=title,
        mix_judges=mix_judges,
        judge=judge,
    )
    for path in run_report(config):
        click.echo(str(path))
