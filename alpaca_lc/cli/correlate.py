"""`alpaca-lc correlate`: a leaderboard's rank correlation with Chatbot Arena, and its gameability."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("leaderboard_csv", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--arena", required=True, type=click.Path(path_type=Path, dir_okay=False), help="Arena ratings CSV.")
@click.option("--arena-column", default=None, help="Ratings column (needed when the file has several).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def correlate(leaderboard_csv: Path, arena: Path, arena_column: str | None, fmt: str) -> None:
    """Spearman and Kendall of LC, raw win rate and length against Arena ratings, plus gameability."""
    from alpaca_lc.config import CorrelateConfig
    from alpaca_lc.report.correlation import correlate as run_correlate

    report = run_correlate(CorrelateConfig(leaderboard=leaderboard_csv, arena=arena, arena_column=arena_column))
    click.echo(report.to_json() if fmt == "json" else report.to_text(), nl=False)
