"""Arena-Hard-Auto v2.0's options and its `annotate` path (`annotate --benchmark arena-hard-v2.0`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alpaca_lc.cli.options import BENCHMARKS, batch_settings, reasoning_settings

if TYPE_CHECKING:
    from alpaca_lc.annotation.arena_run import ArenaAnnotateConfig, ArenaAnnotateRun
    from alpaca_lc.config import JudgeRunConfig
    from alpaca_lc.pipeline.arena_evaluate import ArenaEvaluateConfig

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


def tiktoken_option(func: F) -> F:
    """`--tiktoken-file`: tiktoken's o200k_base file, for style metadata offline."""
    return click.option("--tiktoken-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="Arena-Hard-Auto: tiktoken's o200k_base file, to compute answers' style metadata "
                        "offline (docs/arena-hard.md).")(func)  # fmt: skip


def _refuse_alpaca_options(opts: dict[str, Any]) -> None:
    given = [f"--{o.replace('_', '-')}" for o in _NOT_FOR_ARENA if opts.get(o) not in (None, False, (), "")
             and not (o == "judge" and opts[o] == "weighted_alpaca_eval_gpt4_turbo")]  # fmt: skip
    if given:
        raise click.UsageError(f"{', '.join(given)}: not for Arena-Hard-Auto (its judge is --judge-model, its order "
                               "two games a prompt)")  # fmt: skip


def _config(answers: Path, output: Path, opts: dict[str, Any], run: JudgeRunConfig,
            think_tags: tuple[str, str]) -> ArenaAnnotateConfig:  # fmt: skip
    from alpaca_lc.annotation.arena_run import ArenaAnnotateConfig

    _refuse_alpaca_options(opts)
    return ArenaAnnotateConfig(
        answers=answers, output=output, run=run, eval_set=opts["eval_set"],
        references=(opts["reference"],) if opts["reference"] else (), category=opts["category"],
        arena_dir=opts["arena_hard_dir"], dry_run=opts["dry_run"], allow_partial=opts["allow_partial"],
        think_tags=None if opts["keep_thinking"] else think_tags,
    )  # fmt: skip


def annotate_arena(answers: Path, output: Path, opts: dict[str, Any], run: JudgeRunConfig,
                   think_tags: tuple[str, str]) -> None:  # fmt: skip
    """Judge Arena-Hard-Auto answers and write the judgment file (or, with --dry-run, print the estimate)."""
    from alpaca_lc.annotation.arena_run import run_arena_annotate, write_judgments
    from alpaca_lc.records.destinations import check_destinations

    config = _config(answers, output, opts, run, think_tags)
    if not config.dry_run:
        check_destinations([output], [answers, *config.references, config.eval_set])
    result = run_arena_annotate(config)
    _say(result)
    if config.dry_run:
        return
    result.check_complete()
    write_judgments(result, output)
    click.echo(f"wrote {output} ({sum(len(c.pairs) for c in result.categories)} prompts, two games each)", err=True)


def _say(result: ArenaAnnotateRun) -> None:
    for note in result.notes:
        click.echo(note, err=True)
    for category in result.categories:
        if category.estimate is not None:
            click.echo(f"{category.category}: {category.estimate.estimate_line()}")
        elif category.result is not None:
            click.echo(f"{category.category}: {category.result.tally.summary()}", err=True)


def evaluate_arena(answers: Path | None, models: tuple[str, ...], opts: dict[str, Any], run: JudgeRunConfig,
                   think_tags: tuple[str, str]) -> None:  # fmt: skip
    """Generate (with --model; several: one after another), judge and score on Arena-Hard-Auto; print a row per
    model and category, plain and style-controlled, and write each model's results folder."""
    import pandas as pd

    from alpaca_lc.pipeline.arena_evaluate import run_arena_evaluate
    from alpaca_lc.report.tables import render

    tables = []
    for model in models or (None,):
        result = run_arena_evaluate(_evaluate_config(answers, model, opts, run, think_tags))
        if result.generated is not None:
            click.echo(result.generated.summary(), err=True)
        _say(result.annotated)
        for note in result.notes:
            click.echo(note, err=True)
        if result.table is not None:
            tables.append(result.table)
            click.echo(f"wrote {result.folder}", err=True)
    if tables:
        click.echo(render(pd.concat(tables, ignore_index=True), "csv"), nl=False)


def _evaluate_config(answers: Path | None, model: str | None, opts: dict[str, Any], run: JudgeRunConfig,
                     think_tags: tuple[str, str]) -> ArenaEvaluateConfig:  # fmt: skip
    from alpaca_lc.cli.generate import generate_config
    from alpaca_lc.pipeline.arena_evaluate import ArenaEvaluateConfig

    generating = None
    if model is not None:
        folder = opts["output_dir"] / "answers"
        generating = generate_config(model, folder / f"{Path(model).name}.jsonl", opts.get("generation_seed"),
                                     opts | {"answer_format": "arena_hard"})  # fmt: skip
        generating = generating.model_copy(update={"progress": not opts["no_progress"]})
    return ArenaEvaluateConfig(
        annotate=_config(answers or Path("answers.jsonl"), Path("judgments.jsonl"), opts, run, think_tags),
        generate=generating, output_dir=opts["output_dir"], seed=opts["seed"],
        rounds=100 if opts["bootstrap"] in (None, 1000) else opts["bootstrap"], tiktoken_file=opts["tiktoken_file"],
    )  # fmt: skip


def gate_arena(candidate: tuple[Path, ...], opts: dict[str, Any]) -> int:
    """The release gate on Arena-Hard-Auto: the candidate's answer files (several: sampled answer sets, pooled by
    prompt) against the previous release's; its exit code."""
    from alpaca_lc.config import JudgeRunConfig
    from alpaca_lc.records.destinations import check_destinations
    from alpaca_lc.records.jsonio import append_text, write_text
    from alpaca_lc.records.thinking import parse_tags
    from alpaca_lc.release.arena_gate import ArenaGateConfig, run_arena_gate

    if not opts["previous"]:
        raise click.UsageError("Arena-Hard-Auto's gate compares with --previous (its answer files)")
    if opts["min_lc"] is not None or opts["dry_run"]:
        raise click.UsageError("--min-lc and --dry-run are not for Arena-Hard-Auto's gate")
    run_keys = ("judge_model", "cache", "concurrency", "timeout", "max_attempts", "tpm", "rpm", "stall_timeout",
                "same_endpoints", "strict_endpoint", "context_tokens")  # fmt: skip

    run = JudgeRunConfig(progress=not opts["no_progress"], **{k: opts[k] for k in run_keys}, **batch_settings(opts),
                         **reasoning_settings(opts))  # fmt: skip
    opts = opts | {"both_orders": False, "bridge": None, "subset": None, "max_instances": None}
    annotate = _config(candidate[0], Path("unused.jsonl"), opts, run, parse_tags(opts["think_tags"]))
    config = ArenaGateConfig(candidate, tuple(opts["previous"]), annotate, max_drop=opts["max_drop"],
                             confidence=opts["confidence"], on_inconclusive=opts["on_inconclusive"],
                             rounds=opts["bootstrap"])  # fmt: skip
    check_destinations([opts["summary_md"], opts["json_path"]], [*candidate, *opts["previous"]])
    result = run_arena_gate(config)
    markdown = result.markdown()
    if opts["summary_md"] is not None:
        append_text(opts["summary_md"], markdown)
    if opts["json_path"] is not None:
        write_text(opts["json_path"], result.to_json())
    click.echo(markdown, nl=False)
    return result.exit_code
