"""`alpaca-lc gate`: block a release that got worse, with a decision a CI job can trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import click

from alpaca_lc.cli.annotate import judge_options, tags
from alpaca_lc.cli.arena import arena_annotate_options, gate_arena
from alpaca_lc.cli.options import (
    batch_settings,
    calibration_option,
    extrapolate_option,
    mix_judges_option,
    reasoning_settings,
)

_PATH = click.Path(path_type=Path, dir_okay=False)
_CONFIDENCE = click.FloatRange(0.5, 1, min_open=True, max_open=True)


@click.command()
@click.argument("candidate", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--previous", type=click.Path(path_type=Path), multiple=True,
              help="The previous release; repeat it for each of its sample files.")  # fmt: skip
@click.option("--min-lc", type=float, default=None, help="Fail when LC is significantly below this.")
@click.option("--max-drop", type=float, default=0.0, show_default=True, help="Fail if LC drops significantly more.")
@click.option("--confidence", type=_CONFIDENCE, default=0.95, show_default=True)
@click.option("--on-inconclusive", type=click.Choice(["pass", "fail"]), default="fail", show_default=True)
@click.option("--allow-flagged", is_flag=True, help="Do not fail on screening flags (still reported).")
@click.option("--bootstrap", type=click.IntRange(min=100), default=1000, show_default=True)
@click.option(
    "--summary-md", type=_PATH, default=None, help="Append the Markdown summary here, e.g. $GITHUB_STEP_SUMMARY."
)
@click.option("--json", "json_path", type=_PATH, default=None, help="Write the decision and its figures as JSON here.")
@click.option("--junit", type=_PATH, default=None, help="Write a JUnit XML report here (one test case per check).")
@click.option(
    "--check-drift/--no-check-drift",
    default=None,
    help="Re-judge a sample of the previous release's judgments and stop if the judge no longer agrees with "
    "itself. Default: when they are over 30 days old, of unknown age, or made under a movable alias.",
)
@click.option(
    "--rejudge-on-drift",
    is_flag=True,
    help="On judge drift, judge both releases again with today's judge instead of stopping (exit 3).",
)
@click.option(
    "--drift-tolerance",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="The flip rate of an unchanged judge. Default: 0.02 for a temperature-0 logprob judge, else 0.10.",
)
@click.option(
    "--drift-sample",
    type=click.IntRange(min=10),
    default=100,
    show_default=True,
    help="Judgments of the previous release re-judged by the drift check.",
)
@calibration_option
@mix_judges_option
@extrapolate_option
@judge_options
@arena_annotate_options
@click.pass_context
def gate(ctx: click.Context, candidate: tuple[Path, ...], **opts: Any) -> None:
    """Decide whether CANDIDATE (model outputs or annotations) may ship.

    Exit 0 pass, 1 fail (only ever a failed release), 2 bad input or usage, 3 judging incomplete (or judge drift),
    4 batches submitted and not finished (--batch --no-wait: run the same command again to collect them).

    Several CANDIDATE files are several sampled outputs per instruction (e.g. generated with different seeds),
    all judged and pooled: that averages out judgment noise and narrows the interval.
    """
    from alpaca_lc.config import GateConfig, JudgeRunConfig
    from alpaca_lc.records.destinations import check_destinations

    if opts.pop("benchmark") == "arena-hard-v2.0":
        ctx.exit(gate_arena(candidate, opts))
    if opts["category"] or opts["arena_hard_dir"]:
        raise click.UsageError("--category and --arena-hard-dir are Arena-Hard-Auto's: add --benchmark arena-hard-v2.0")
    from alpaca_lc.records.evalset import local_eval_set
    from alpaca_lc.records.jsonio import append_text, write_text
    from alpaca_lc.release.gate import estimate_gate, run_gate
    from alpaca_lc.release.summary import to_json, to_junit, to_markdown

    run_keys = ("judge", "judge_model", "alpaca_eval_dir", "cache", "concurrency", "timeout", "max_attempts", "tpm",
                "rpm", "stall_timeout", "same_endpoints", "strict_endpoint", "context_tokens")  # fmt: skip
    run = JudgeRunConfig(progress=not opts["no_progress"], **{k: opts[k] for k in run_keys}, **batch_settings(opts),
                         **reasoning_settings(opts))  # fmt: skip
    keys = ("previous", "min_lc", "max_drop", "confidence", "on_inconclusive", "allow_flagged", "calibration",
            "bootstrap", "reference", "eval_set", "mix_judges", "subset", "max_instances", "allow_partial",
            "dry_run", "bridge", "extrapolate", "rejudge_on_drift", "drift_tolerance", "drift_sample",
            "keep_thinking")  # fmt: skip
    drift: Literal["auto", "always", "never"] = (
        "auto" if opts["check_drift"] is None else "always" if opts["check_drift"] else "never")  # fmt: skip
    config = GateConfig(candidate=candidate, run=run, check_drift=drift, think_tags=tags(opts["think_tags"]),
                        **{k: opts[k] for k in keys})  # fmt: skip
    if config.dry_run:
        click.echo(estimate_gate(config).estimate_line())
        return
    inputs = [*config.candidate, *config.previous, config.reference, local_eval_set(config.eval_set), config.bridge]
    check_destinations([opts["summary_md"], opts["json_path"], opts["junit"]], inputs)
    result = run_gate(config)
    markdown = to_markdown(result)
    if opts["summary_md"] is not None:  # appended: $GITHUB_STEP_SUMMARY collects several steps' summaries
        append_text(opts["summary_md"], markdown)
    if opts["json_path"] is not None:
        write_text(opts["json_path"], to_json(result))
    if opts["junit"] is not None:
        write_text(opts["junit"], to_junit(result))
    click.echo(markdown, nl=False)
    ctx.exit(result.exit_code)
