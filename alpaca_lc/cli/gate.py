"""`alpaca-lc gate`: block a release that got worse, with a decision a CI job can trust."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alpaca_lc.cli.annotate import judge_options
from alpaca_lc.cli.options import batch_settings, calibration_option, mix_judges_option

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
@click.option("--summary-md", type=_PATH, default=None, help="Appended to, e.g. $GITHUB_STEP_SUMMARY.")
@click.option("--json", "json_path", type=_PATH, default=None)
@click.option("--junit", type=_PATH, default=None)
@calibration_option
@mix_judges_option
@judge_options
@click.pass_context
def gate(ctx: click.Context, candidate: tuple[Path, ...], **opts: Any) -> None:
    """Decide whether CANDIDATE (model outputs or annotations) may ship. Exit 0 pass, 1 fail, 2 input, 3 judge.

    Several CANDIDATE files are several sampled outputs per instruction (e.g. generated with different seeds),
    all judged and pooled: that averages out judgment noise and narrows the interval.
    """
    from alpaca_lc.config import GateConfig, JudgeRunConfig
    from alpaca_lc.records.jsonio import write_text
    from alpaca_lc.release.gate import estimate_gate, run_gate
    from alpaca_lc.release.summary import to_json, to_junit, to_markdown

    run_keys = ("judge", "judge_model", "alpaca_eval_dir", "cache", "concurrency", "timeout", "max_attempts", "tpm",
                "rpm", "stall_timeout")  # fmt: skip
    run = JudgeRunConfig(progress=not opts["no_progress"], **{k: opts[k] for k in run_keys}, **batch_settings(opts))
    keys = ("previous", "min_lc", "max_drop", "confidence", "on_inconclusive", "allow_flagged", "calibration",
            "bootstrap", "reference", "eval_set", "mix_judges", "subset", "max_instances", "dry_run",
            "bridge")  # fmt: skip
    config = GateConfig(candidate=candidate, run=run, **{k: opts[k] for k in keys})
    if config.dry_run:
        click.echo(estimate_gate(config).estimate_line())
        return
    result = run_gate(config)
    markdown = to_markdown(result)
    if opts["summary_md"] is not None:  # appended: $GITHUB_STEP_SUMMARY collects several steps' summaries
        with Path(opts["summary_md"]).open("a", encoding="utf-8") as fh:
            fh.write(markdown)
    if opts["json_path"] is not None:
        write_text(opts["json_path"], to_json(result))
    if opts["junit"] is not None:
        write_text(opts["junit"], to_junit(result))
    click.echo(markdown, nl=False)
    ctx.exit(result.exit_code)
