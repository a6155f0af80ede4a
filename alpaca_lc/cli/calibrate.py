"""`alpaca-lc calibrate`: instruction difficulty from a joint fit over many models."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("annotations", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--gamed",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Annotations of the baseline's own verbose/concise variants (for the LC regularisation).",
)
@click.option("--ridge", default=1.0, show_default=True, type=click.FloatRange(min=0), help="Prior on difficulty.")
def calibrate(annotations: tuple[Path, ...], output: Path, gamed: tuple[Path, ...], ridge: float) -> None:
    """Fit one difficulty per instruction from ANNOTATIONS of many models and write a calibration file."""
    from alpaca_lc.config import CalibrateConfig
    from alpaca_lc.scoring.calibrate import run_calibrate

    config = CalibrateConfig(annotations=annotations, gamed=gamed, ridge=ridge, output=output)
    summary = run_calibrate(config)
    click.echo(summary, err=True)
