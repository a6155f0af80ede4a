"""`alpaca-lc annotate` and `alpaca-lc evaluate`: judge a model's outputs against the baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alpaca_lc.cli.arena import annotate_arena, arena_annotate_options, evaluate_arena, tiktoken_option
from alpaca_lc.cli.generate import generate_config, model_options
from alpaca_lc.cli.options import (
    batch_options,
    batch_settings,
    calibration_option,
    eval_set_option,
    extrapolate_option,
    mix_judges_option,
    pace_options,
    reasoning_options,
    reasoning_settings,
    subset_option,
)

if TYPE_CHECKING:
    from alpaca_lc.config import AnnotateConfig, JudgeRunConfig

F = TypeVar("F", bound=Callable[..., Any])

_JUDGE_OPTIONS = [
    click.option("--reference", type=click.Path(path_type=Path, dir_okay=False), help="Default: eval-set baseline."),
    click.option(
        "--judge",
        default="weighted_alpaca_eval_gpt4_turbo",
        show_default=True,
        help="An AlpacaEval evaluator (its files), alpaca-lc's own judge, or a YAML path.",
    ),
    click.option(
        "--alpaca-eval-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="AlpacaEval's evaluators_configs (default: $ALPACA_LC_ALPACA_EVAL_DIR, else the installed alpaca-eval).",
    ),
    click.option(
        "--judge-model",
        default=None,
        help=(
            "Another model in place of the judge's own, with the judge's prompt and decoding (a successor of a "
            "retired judge: e.g. gpt-4.1-2025-04-14 for AlpacaEval 2.0's). Another instrument: --judge X "
            "--judge-model M is named X@M."
        ),
    ),
    click.option("--name", default=None, help="Model name (default: the outputs' generator)."),
    click.option("--concurrency", default=32, show_default=True, type=click.IntRange(min=1)),
    click.option("--timeout", default=60.0, show_default=True, type=click.FloatRange(min=0, min_open=True)),
    click.option("--max-attempts", default=8, show_default=True, type=click.IntRange(min=1)),
    click.option(
        "--max-instances",
        default=None,
        type=click.IntRange(min=1),
        help=(
            "Judge N pairs: the N AlpacaEval's --max_instances judges (both sides shuffled with its seed 123 when they "
            "have the same length, else the first N), so a smoke test asks what AlpacaEval asks."
        ),
    ),
    subset_option,
    click.option(
        "--allow-partial",
        is_flag=True,
        help="Judge outputs that miss instructions of the eval set (refused without it); the results are "
        "marked partial and are not comparable with full-set rows.",
    ),
    click.option(
        "--keep-thinking",
        is_flag=True,
        help="Judge outputs whole: a thought between think tags is otherwise split off, and only the answer "
        "is judged and length-controlled.",
    ),
    click.option(
        "--think-tags",
        default="<think>,</think>",
        show_default=True,
        metavar="OPEN,CLOSE",
        help="The think tags a thinking model's outputs use.",
    ),
    click.option("--max-cost", default=None, type=click.FloatRange(min=0), help="Stop before spending past USD."),
    click.option("--both-orders", is_flag=True, help="Judge each pair in both orders; report the flip rate."),
    click.option("--dry-run", is_flag=True, help="Estimate calls, tokens and cost from the cache; call nothing."),
    click.option(
        "--bridge",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help=(
            "A bridge file (`bridge fit`) for the judge: results on AlpacaEval 2.0's official scale (refused, before "
            "anything is paid for, when it was fitted for another judge)."
        ),
    ),
    click.option("--cache", type=click.Path(path_type=Path, dir_okay=False), help="Default: $ALPACA_LC_CACHE."),
    click.option(
        "--same-endpoint",
        "same_endpoints",
        multiple=True,
        metavar="URL",
        help="A base URL of the same service as the judge's: judgments cached from it are served for this "
        "one (a proxy, a renamed host); repeat it. Otherwise judgments are never served across endpoints.",
    ),
    click.option(
        "--judge-context-tokens",
        "context_tokens",
        type=click.IntRange(min=1),
        default=None,
        help="The judge model's context window in tokens, where alpaca-lc does not know it: a longer request is "
        "refused before anything is paid for.",
    ),
    click.option(
        "--strict-endpoint",
        is_flag=True,
        help="Serve no cached judgment that records no endpoint (made before the cache recorded them); "
        "they are judged again.",
    ),
    click.option("--no-progress", is_flag=True, help="No progress bar (a log gets a few plain lines without it)."),
    eval_set_option,
]


def judge_options(func: F) -> F:
    """The options `annotate`, `evaluate` and `gate` share."""
    for option in reversed(_JUDGE_OPTIONS):
        func = option(func)
    return reasoning_options(batch_options(pace_options(func)))


def tags(value: str) -> tuple[str, str]:
    """`--think-tags OPEN,CLOSE`."""
    from alpaca_lc.records.thinking import parse_tags

    try:
        return parse_tags(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--think-tags") from None


def _judge_run(opts: dict[str, Any]) -> JudgeRunConfig:
    from alpaca_lc.config import JudgeRunConfig

    return JudgeRunConfig(
        judge=opts["judge"], judge_model=opts["judge_model"], alpaca_eval_dir=opts["alpaca_eval_dir"],
        cache=opts["cache"],
        concurrency=opts["concurrency"], timeout=opts["timeout"], tpm=opts["tpm"], rpm=opts["rpm"],
        stall_timeout=opts["stall_timeout"],
        max_attempts=opts["max_attempts"], max_cost=opts["max_cost"], both_orders=opts["both_orders"],
        progress=not opts["no_progress"], same_endpoints=opts["same_endpoints"],
        strict_endpoint=opts["strict_endpoint"], context_tokens=opts["context_tokens"], **batch_settings(opts),
        **reasoning_settings(opts),
    )  # fmt: skip


def _annotate_config(model_outputs: Path, output: Path, opts: dict[str, Any]) -> AnnotateConfig:
    from alpaca_lc.config import AnnotateConfig

    run = _judge_run(opts)
    return AnnotateConfig(
        model_outputs=model_outputs, reference=opts["reference"], eval_set=opts["eval_set"], name=opts["name"],
        max_instances=opts["max_instances"], subset=opts["subset"], allow_partial=opts["allow_partial"],
        keep_thinking=opts["keep_thinking"], think_tags=tags(opts["think_tags"]),
        dry_run=opts["dry_run"], output=output, run=run, bridge=opts["bridge"],
    )  # fmt: skip


@click.command()
@click.argument("model_outputs", type=click.Path(path_type=Path, dir_okay=False))
@judge_options
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the annotations (default: annotations.json; Arena-Hard-Auto: judgments.jsonl); never over "
    "one of the inputs.",
)
@arena_annotate_options
def annotate(model_outputs: Path, output: Path | None, **opts: Any) -> None:
    """Judge MODEL_OUTPUTS against the reference; write AlpacaEval-compatible annotations.

    With --benchmark arena-hard-v2.0, MODEL_OUTPUTS are answers in Arena-Hard-Auto's format, judged in two games a
    prompt against each category's baseline, and the judgment file its gen_judgment.py would write is written.
    """
    from alpaca_lc.annotation.run import run_annotate, write_annotations
    from alpaca_lc.records.destinations import check_destinations
    from alpaca_lc.records.evalset import local_eval_set

    if opts.pop("benchmark") == "arena-hard-v2.0":
        annotate_arena(
            model_outputs, output or Path("judgments.jsonl"), opts, _judge_run(opts), tags(opts["think_tags"])
        )
        return
    if opts["category"] or opts["arena_hard_dir"]:
        raise click.UsageError("--category and --arena-hard-dir are Arena-Hard-Auto's: add --benchmark arena-hard-v2.0")
    output = output or Path("annotations.json")
    if not opts["dry_run"]:
        check_destinations([output], [model_outputs, opts["reference"], local_eval_set(opts["eval_set"])])
    run = run_annotate(_annotate_config(model_outputs, output, opts))
    for note in run.notes:
        click.echo(note, err=True)
    if run.estimate is not None:
        click.echo(run.estimate.estimate_line())
        return
    assert run.result is not None
    click.echo(run.result.tally.summary(), err=True)
    if run.coverage is not None and run.coverage.partial:
        click.echo(f"partial: {run.coverage.describe()}", err=True)
    run.check_complete()
    write_annotations(run, output)
    if run.result.flip_rate is not None:
        click.echo(f"order flip rate: {run.result.flip_rate:.3f}", err=True)
    click.echo(f"wrote {output} ({len(run.pairs)} annotations)", err=True)


@click.command()
@click.argument("model_outputs", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--model",
    "models",
    multiple=True,
    help="Generate the outputs first with this model (config name or path); repeat it for a sweep.",
)
@model_options
@click.option("--generation-seed", type=int, default=None, help="Sampling seed for --model.")
@judge_options
@calibration_option
@click.option("--leaderboard", type=click.Path(path_type=Path, dir_okay=False), help="Show where the model ranks.")
@mix_judges_option
@click.option(
    "--output-dir",
    default="results",
    show_default=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Results go to OUTPUT_DIR/<model>/<judge>/ (annotations.json, leaderboard.csv).",
)
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0))
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap seed.")
@extrapolate_option
@arena_annotate_options
@tiktoken_option
def evaluate(model_outputs: Path | None, models: tuple[str, ...], generation_seed: int | None, **opts: Any) -> None:
    """Annotate MODEL_OUTPUTS (or generate them with --model), print the leaderboard row, write the results.

    With several --model (a sweep), each model is judged as soon as its outputs are complete, and one combined
    leaderboard is written to OUTPUT_DIR/leaderboard.csv and printed.
    """
    from alpaca_lc.config import EvaluateConfig
    from alpaca_lc.pipeline.evaluate import run_evaluate
    from alpaca_lc.pipeline.sweep import run_evaluate_models

    if (model_outputs is None) == (not models):
        raise click.UsageError("give either MODEL_OUTPUTS or --model")
    if opts.pop("benchmark") == "arena-hard-v2.0":
        opts["generation_seed"] = generation_seed
        evaluate_arena(model_outputs, models, opts, _judge_run(opts), tags(opts["think_tags"]))
        return
    if opts["category"] or opts["arena_hard_dir"] or opts["tiktoken_file"]:
        raise click.UsageError("--category, --arena-hard-dir and --tiktoken-file are Arena-Hard-Auto's: add "
                               "--benchmark arena-hard-v2.0")  # fmt: skip
    config = EvaluateConfig(
        annotate=_annotate_config(model_outputs or Path("model_outputs.json"), Path("annotations.json"), opts),
        output_dir=opts["output_dir"], leaderboard=opts["leaderboard"], calibration=opts["calibration"],
        bootstrap=opts["bootstrap"], seed=opts["seed"], mix_judges=opts["mix_judges"],
        extrapolate=opts["extrapolate"],
    )  # fmt: skip
    if not models:
        _print_evaluation(run_evaluate(config), opts["leaderboard"])
        return
    progress = {"progress": not opts["no_progress"]}
    generating = [generate_config(m, Path("unused"), generation_seed, opts).model_copy(update=progress) for m in models]
    if opts["dry_run"]:
        from alpaca_lc.pipeline.sweep import estimate_models

        click.echo("\n".join(estimate_models(generating, config)))
        return
    sweep = run_evaluate_models(generating, config)
    for generated in sweep.generated:
        click.echo(generated.summary(), err=True)
    if len(sweep.evaluated) == 1:
        _print_evaluation(sweep.evaluated[0], opts["leaderboard"])
        return
    from alpaca_lc.report.tables import render

    for run in sweep.evaluated:
        assert run.annotate.result is not None
        click.echo(f"{run.annotate.name}: {run.annotate.result.tally.summary()}", err=True)
    click.echo(render(sweep.table, "md"), nl=False)
    click.echo(f"combined leaderboard in {sweep.leaderboard}", err=True)


def _print_evaluation(run: Any, leaderboard: Path | None) -> None:
    from alpaca_lc.report.tables import render

    for note in run.annotate.notes:
        click.echo(note, err=True)
    if run.annotate.estimate is not None:  # --dry-run
        click.echo(run.annotate.estimate.estimate_line())
        return
    click.echo(run.annotate.result.tally.summary(), err=True)
    for note in run.notes:
        click.echo(note, err=True)
    click.echo(render(run.table, "md"), nl=False)
    if run.estimated:
        click.echo(run.estimated)
    for flag in run.flags:
        click.echo(f"flag {flag.name}: {flag.reason}")
    if run.rank is not None:
        bridged = " (bridged to the official scale)" if "(bridged from " in str(run.table[0].get("judge")) else ""
        click.echo(f"rank by LC: {run.rank[0]} of {run.rank[1]} on {leaderboard}{bridged}")
    click.echo(f"results in {run.folder}", err=True)
