"""Option decorators shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def eval_set_option(func: F) -> F:
    """`--eval-set PATH` (default: $ALPACA_LC_EVAL_SET, else the Hugging Face hub)."""
    return click.option(
        "--eval-set",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Local eval set (JSON/JSONL). Default: $ALPACA_LC_EVAL_SET, else tatsu-lab/alpaca_eval on the hub.",
    )(func)


def calibration_option(func: F) -> F:
    """`--calibration bundled|official|PATH`."""
    return click.option(
        "--calibration",
        default="bundled",
        show_default=True,
        help="Instruction difficulty: 'bundled', 'official' (AlpacaEval's files from the hub), or a file.",
    )(func)


def subset_option(func: F) -> F:
    """`--subset tiny|small|PATH`: judge (or score) only a subset; estimate the full eval set from it."""
    return click.option(
        "--subset",
        default=None,
        help="Judge only this subset ('tiny' = 100, 'small' = 200 instructions, or a file from `subset fit`) and "
        "estimate the full set's raw and LC win rates, with intervals that include the estimation error.",
    )(func)


def output_option(func: F) -> F:
    """`-o/--output PATH` (default: stdout)."""
    return click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="Write the table here (format by suffix: .md, .json, else CSV) instead of stdout; never "
                        "over one of the inputs.")(func)  # fmt: skip


BENCHMARKS = ("alpaca-eval-2.0", "arena-hard-v2.0")


def benchmark_options(func: F) -> F:
    """`--benchmark`, and Arena-Hard-Auto's `--category`, `--control` and `--answers`."""
    for option in reversed([
        click.option("--benchmark", type=click.Choice(BENCHMARKS), default=BENCHMARKS[0], show_default=True,
                     help="Which benchmark's files and metric: AlpacaEval 2.0's LC win rate, or Arena-Hard-Auto "
                     "v2.0's score against its baseline (docs/arena-hard.md)."),
        click.option("--category", default=None,
                     help="Arena-Hard-Auto: the category to score (hard_prompt or creative_writing; default "
                     "hard_prompt, as its scorer)."),
        click.option("--control", default=None,
                     help="Arena-Hard-Auto: style control, 'length', 'markdown' or 'length,markdown' (needs "
                     "--answers)."),
        click.option("--answers", multiple=True, type=click.Path(path_type=Path),
                     help="Arena-Hard-Auto: answer files (or their folder) of every model and the baseline, whose "
                     "style metadata --control reads; repeat it."),
        click.option("--tiktoken-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
                     help="Arena-Hard-Auto: tiktoken's o200k_base file, to compute the style metadata of answers "
                     "without it offline (docs/arena-hard.md)."),
    ]):  # fmt: skip
        func = option(func)
    return func


def extrapolate_option(func: F) -> F:
    """`--extrapolate`: bridged numbers outside the bridge's panel too."""
    return click.option("--extrapolate", is_flag=True,
                        help="With --bridge: give official-scale numbers to models outside the bridge's panel too (by "
                        "default they get none), with intervals as wide as the candidate maps' disagreement "
                        "there.")(func)  # fmt: skip


def judge_filter_option(func: F) -> F:
    """`--judge NAME`: only one judge's annotations."""
    return click.option("--judge", default=None,
                        help="Only this judge's annotations (by the annotations' `annotator`), for a folder that holds "
                        "several judges' results.")(func)  # fmt: skip


def mix_judges_option(func: F) -> F:
    """`--mix-judges`: rank or compare results of different judges anyway (marked in the output)."""
    return click.option(
        "--mix-judges",
        is_flag=True,
        help="Allow results of different judges (different scales) together; the output marks them.",
    )(func)


_PACE_OPTIONS = [
    click.option("--tpm", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Tokens per minute to stay under (default: learned from the endpoint's x-ratelimit headers)."),
    click.option("--rpm", type=click.FloatRange(min=0, min_open=True), default=None,
                 help="Requests per minute to stay under (default: learned likewise)."),
    click.option("--stall-timeout", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
                 help="Give up (exit 3, finished work kept) after this many seconds without a success while "
                 "rate limited; rate limits never use up --max-attempts."),
]  # fmt: skip


def pace_options(func: F) -> F:
    """`--tpm`, `--rpm`, `--stall-timeout`: pacing to a provider's limits, shared by every command that calls one."""
    for option in reversed(_PACE_OPTIONS):
        func = option(func)
    return func


REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")  # config.ReasoningEffort
_REASONING_OPTIONS = [
    click.option("--answer", type=click.Choice(["judge", "verdict"]), default="judge", show_default=True,
                 help="How the judge's answer is read: its own rule (AlpacaEval 2.0's reads logprobs), or `verdict`, "
                 "the last of its labels in its text, for judges that give no logprobs (another instrument, named "
                 "+verdict). A model documented as a reasoning model gets `verdict` anyway, said in one line."),
    click.option("--reasoning-effort", type=click.Choice(REASONING_EFFORTS),
                 default=None, help="A reasoning judge's reasoning_effort (default: the provider's, medium)."),
    click.option("--max-completion-tokens", type=click.IntRange(min=1), default=None,
                 help="A reasoning judge's completion limit, hidden reasoning included (default by effort: 4,096 at "
                 "low, 8,192 at medium, 16,384 at high). A judgment cut by it fails with cause `length`."),
]  # fmt: skip


def reasoning_options(func: F) -> F:
    """`--answer`, `--reasoning-effort`, `--max-completion-tokens`: judges that give no logprobs or reason."""
    for option in reversed(_REASONING_OPTIONS):
        func = option(func)
    return func


def reasoning_settings(opts: dict[str, Any]) -> dict[str, Any]:
    """The JudgeRunConfig fields of the reasoning options."""
    return {k: opts[k] for k in ("answer", "reasoning_effort", "max_completion_tokens")}


_BATCH_OPTIONS = [
    click.option("--batch", is_flag=True,
                 help="Judge through the provider's Batch API: half the price, answered within 24 h, outside the live "
                 "rate limits; the same judgments as live calls (one cache)."),
    click.option("--batch-fallback", type=click.Choice(["batch", "live"]), default="batch", show_default=True,
                 help="Lines a batch did not answer (errors, missing, expired): in a new batch, or live."),
    click.option("--no-wait", is_flag=True,
                 help="With --batch: submit, print the batch ids and exit 4; the same command again collects them."),
]  # fmt: skip


def batch_options(func: F) -> F:
    """`--batch`, `--batch-fallback`, `--no-wait`: judging through the Batch API."""
    for option in reversed(_BATCH_OPTIONS):
        func = option(func)
    return func


def batch_settings(opts: dict[str, Any]) -> dict[str, Any]:
    """The JudgeRunConfig fields of the batch options (`--no-wait` only means something with `--batch`)."""
    if opts["no_wait"] and not opts["batch"]:
        raise click.UsageError("--no-wait needs --batch (live judgments are waited for)")
    return {"batch": opts["batch"], "batch_fallback": opts["batch_fallback"], "wait": not opts["no_wait"]}
