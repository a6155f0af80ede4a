"""Arena-Hard-Auto v2.0's options and its `annotate` path (`annotate --benchmark arena-hard-v2.0`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alpaca_lc.cli.options import BENCHMARKS

if TYPE_CHECKING:
    from alpaca_lc.config import JudgeRunConfig

F = TypeVar("F", bound=Callable[..., Any])
# AlpacaEval's options that mean nothing for Arena-Hard-Auto's games (its order and answers are the benchmark's).
_NOT_FOR_ARENA = ("judge", "alpaca_eval_dir", "name", "max_instances", "subset", "both_orders", "bridge")


def arena_annotate_options(func: F) -> F:
    """`--benchmark`, `--category`, `--arena-hard-dir` of `annotate`."""
    for option in reversed([
        click.option("--benchmark", type=click.Choice(BENCHMARKS), default=BENCHMARKS[0], show_default=True,
                     help="arena-hard-v2.0: MODEL_OUTPUTS are Arena-Hard-Auto answers, judged by its protocol "
                     "(docs/arena-hard.md)."),
        click.option("--category", default=None,
                     help="Arena-Hard-Auto: judge only this category (hard_prompt, creative_writing)."),
        click.option("--arena-hard-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                     help="Arena-Hard-Auto: a checkout of lmarena/arena-hard-auto, whose judge files are read "
                     "(default: $ALPACA_LC_ARENA_HARD_DIR)."),
    ]):  # fmt: skip
        func = option(func)
    return func


def annotate_arena(answers: Path, output: Path, opts: dict[str, Any], run: JudgeRunConfig,
                   think_tags: tuple[str, str]) -> None:  # fmt: skip
    """Judge Arena-Hard-Auto answers and write the judgment file (or, with --dry-run, print the estimate)."""
    from alpaca_lc.annotation.arena_run import ArenaAnnotateConfig, run_arena_annotate, write_judgments
    from alpaca_lc.records.destinations import check_destinations

    given = [f"--{o.replace('_', '-')}" for o in _NOT_FOR_ARENA if opts.get(o) not in (None, False, (), "")
             and not (o == "judge" and opts[o] == "weighted_alpaca_eval_gpt4_turbo")]  # fmt: skip
    if given:
        raise click.UsageError(f"{', '.join(given)}: not for Arena-Hard-Auto (its judge is --judge-model, its order "
                               "two games a prompt)")  # fmt: skip
    config = ArenaAnnotateConfig(
        answers=answers, output=output, run=run, eval_set=opts["eval_set"],
        references=(opts["reference"],) if opts["reference"] else (), category=opts["category"],
        arena_dir=opts["arena_hard_dir"], dry_run=opts["dry_run"], allow_partial=opts["allow_partial"],
        think_tags=None if opts["keep_thinking"] else think_tags,
    )  # fmt: skip
    if not config.dry_run:
        check_destinations([output], [answers, *config.references, config.eval_set])
    result = run_arena_annotate(config)
    for note in result.notes:
        click.echo(note, err=True)
    for category in result.categories:
        if category.estimate is not None:
            click.echo(f"{category.category}: {category.estimate.estimate_line()}")
        elif category.result is not None:
            click.echo(f"{category.category}: {category.result.tally.summary()}", err=True)
    if config.dry_run:
        return
    result.check_complete()
    write_judgments(result, output)
    click.echo(f"wrote {output} ({sum(len(c.pairs) for c in result.categories)} prompts, two games each)", err=True)
