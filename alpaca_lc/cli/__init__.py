"""The `alpaca-lc` command: the root group only registers commands and maps errors to exit codes."""

from __future__ import annotations

import logging
from typing import Any

import click

from alpaca_lc import __version__
from alpaca_lc.cli.annotate import annotate, evaluate
from alpaca_lc.cli.cache import cache
from alpaca_lc.cli.calibrate import calibrate
from alpaca_lc.cli.correlate import correlate
from alpaca_lc.cli.gate import gate
from alpaca_lc.cli.generate import generate
from alpaca_lc.cli.leaderboard import leaderboard
from alpaca_lc.cli.report import report
from alpaca_lc.cli.subset import subset
from alpaca_lc.errors import AlpacaLCError


class _Group(click.Group):
    """Prints our errors as one line (no traceback) and exits with their code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AlpacaLCError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # finished work is already on disk (cache, partial files): say so, exit 130
            click.echo("interrupted: finished work is kept; re-run to continue", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="alpaca-lc")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Auto-annotated and length-controlled win rates for chat LLMs (AlpacaEval 2.0 compatible)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


main.add_command(generate)
main.add_command(annotate)
main.add_command(evaluate)
main.add_command(cache)
main.add_command(gate)
main.add_command(leaderboard)
main.add_command(calibrate)
main.add_command(correlate)
main.add_command(report)
main.add_command(subset)
