"""`alpaca-lc subset`: subsets of the eval set that estimate the full set's win rates from fewer judgments."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def subset() -> None:
    """Subsets: judge ~100 instructions, estimate the full eval set's raw and LC win rates."""


@subset.command("fit")
@click.argument("annotations", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--size", required=True, type=click.IntRange(min=1), help="Instructions to judge.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the choice and of the fit.")
@click.option("--name", default=None, help="The subset's name (default: the output file's stem).")
def fit(annotations: tuple[Path, ...], size: int, output: Path, seed: int, name: str | None) -> None:
    """Choose SIZE instructions and fit the estimator on ANNOTATIONS of many models; write a subset file."""
    from alpaca_lc.config import SubsetFitConfig
    from alpaca_lc.scoring.subset import run_subset_fit

    summary = run_subset_fit(SubsetFitConfig(annotations=annotations, size=size, output=output, seed=seed, name=name))
    click.echo(summary, err=True)
