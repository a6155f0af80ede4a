"""`alpaca-lc bridge`: put a successor judge's numbers on AlpacaEval 2.0's official scale."""

from __future__ import annotations

from pathlib import Path

import click

from alpaca_lc.cli.options import calibration_option


@click.group()
def bridge() -> None:
    """Bridges from a living judge to AlpacaEval 2.0's retired one (docs/judge-bridge.md)."""


@bridge.command("fit")
@click.argument("annotations", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--official", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The official leaderboard CSV (AlpacaEval's: length_controlled_winrate, win_rate).")  # fmt: skip
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@calibration_option
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
              help="Resamples for each panel model's standard errors.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
def fit(annotations: tuple[Path, ...], official: Path, output: Path, calibration: str, bootstrap: int,
        seed: int) -> None:  # fmt: skip
    """Fit a bridge from ANNOTATIONS (a panel of models judged by the successor) to the official figures."""
    from alpaca_lc.bridge import BridgeFitConfig, run_bridge_fit

    config = BridgeFitConfig(annotations, official, output, calibration, bootstrap, seed)
    for line in run_bridge_fit(config):
        click.echo(line, err=True)
