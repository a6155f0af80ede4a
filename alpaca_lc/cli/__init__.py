"""The `alpaca-lc` command: the root group only registers commands and maps errors to exit codes.

May import: every stage's entry points, `pipeline`, `config`, `errors`; heavy libraries only inside commands.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from typing import Any

import click

from alpaca_lc import __version__
from alpaca_lc.errors import AlpacaLCError, BatchSubmitted

INTERNAL_ERROR = 70  # sysexits' EX_SOFTWARE

# Each command's module, imported only when that command runs (or --help lists it): a command pays for its
# own imports, not for every other command's.
COMMANDS = {
    "generate": "alpaca_lc.cli.generate",
    "annotate": "alpaca_lc.cli.annotate",
    "evaluate": "alpaca_lc.cli.annotate",
    "cache": "alpaca_lc.cli.cache",
    "gate": "alpaca_lc.cli.gate",
    "leaderboard": "alpaca_lc.cli.leaderboard",
    "calibrate": "alpaca_lc.cli.calibrate",
    "correlate": "alpaca_lc.cli.correlate",
    "report": "alpaca_lc.cli.report",
    "subset": "alpaca_lc.cli.subset",
    "bridge": "alpaca_lc.cli.bridge",
}


class _Group(click.Group):
    """Loads commands lazily; prints our errors as one line (no traceback) and exits with their code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        command = getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name)
        assert isinstance(command, click.Command), cmd_name
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BatchSubmitted as exc:  # --no-wait: not an error; the batch ids on stdout, for scripts
            click.echo(f"submitted, not finished: {exc}", err=True)
            click.echo("\n".join(sorted(set(exc.batch_ids))))
            ctx.exit(exc.exit_code)
        except AlpacaLCError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # finished work is already on disk (cache, partial files): say so, exit 130
            click.echo("interrupted: finished work is kept; re-run to continue", err=True)
            ctx.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # a bug: its traceback, and a code no verdict uses (`gate` exits 1 only to fail)
            traceback.print_exc()
            click.echo(f"internal error ({type(exc).__name__}): a bug in alpaca-lc; please report it with the "
                       "traceback above", err=True)  # fmt: skip
            ctx.exit(INTERNAL_ERROR)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="alpaca-lc")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Auto-annotated and length-controlled win rates for chat LLMs (AlpacaEval 2.0 compatible)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
