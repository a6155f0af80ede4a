"""`alpaca-lc cache`: import existing judgments, and show what the cache holds."""

from __future__ import annotations

from pathlib import Path

import click

_CACHE_OPTION = click.option(
    "--cache",
    "cache_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The judgment cache (default: $ALPACA_LC_CACHE, else the user cache folder's).",
)


@click.group()
def cache() -> None:
    """The persistent judgment cache ($ALPACA_LC_CACHE, default: the user cache dir)."""


@cache.command("import")
@click.argument("annotations", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--judge", default=None, help="Judge name to file them under (default: each record's annotator).")
@_CACHE_OPTION
def import_(annotations: tuple[Path, ...], judge: str | None, cache_path: Path | None) -> None:
    """Load AlpacaEval annotations so that judging the same outputs again costs nothing."""
    from alpaca_lc.annotation.run import run_cache_import
    from alpaca_lc.config import CacheImportConfig

    click.echo(run_cache_import(CacheImportConfig(annotations=annotations, judge=judge, cache=cache_path)))


@cache.command()
@_CACHE_OPTION
def stats(cache_path: Path | None) -> None:
    """Counts, spend and size per judge."""
    from alpaca_lc.annotation.run import run_cache_stats

    click.echo(run_cache_stats(cache_path))
