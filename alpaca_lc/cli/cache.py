"""`alpaca-lc cache`: import existing judgments, and show what the cache holds."""

from __future__ import annotations

from pathlib import Path

import click

from alpaca_lc.cli.options import BENCHMARKS

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
@click.option("--benchmark", type=click.Choice(BENCHMARKS), default=BENCHMARKS[0], show_default=True,
              help="arena-hard-v2.0: judgment files of Arena-Hard-Auto's gen_judgment.py.")  # fmt: skip
@click.option("--arena-hard-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Arena-Hard-Auto: its checkout, whose judge configuration gives the decoding.")  # fmt: skip
def import_(annotations: tuple[Path, ...], judge: str | None, cache_path: Path | None, benchmark: str,
            arena_hard_dir: Path | None) -> None:  # fmt: skip
    """Load AlpacaEval annotations (or Arena-Hard-Auto judgment files) so that judging the same outputs again costs
    nothing."""
    from alpaca_lc.annotation.run import run_cache_import
    from alpaca_lc.config import CacheImportConfig

    if benchmark == "arena-hard-v2.0":
        from alpaca_lc.annotation.arena_run import import_judgments

        click.echo(import_judgments(list(annotations), arena_hard_dir, cache_path))
        return

    click.echo(run_cache_import(CacheImportConfig(annotations=annotations, judge=judge, cache=cache_path)))


@cache.command()
@_CACHE_OPTION
def stats(cache_path: Path | None) -> None:
    """Counts, spend and size per judge."""
    from alpaca_lc.annotation.run import run_cache_stats

    click.echo(run_cache_stats(cache_path))
