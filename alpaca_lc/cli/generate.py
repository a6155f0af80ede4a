"""`alpaca-lc generate`: run a model over the eval set (vLLM, `vllm serve`, or an OpenAI-compatible API)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alpaca_lc.cli.options import BENCHMARKS, REASONING_EFFORTS, eval_set_option, pace_options

if TYPE_CHECKING:
    from alpaca_lc.config import GenerateConfig

F = TypeVar("F", bound=Callable[..., Any])

_MODEL_OPTIONS = [
    click.option("--backend", type=click.Choice(["vllm", "vllm-server", "openai"]), default=None,
                 help="Default: the model config's (vllm for a bare model path)."),
    click.option("--system-prompt", default=None),
    click.option("--max-new-tokens", type=click.IntRange(min=1), default=None),
    click.option("--temperature", type=click.FloatRange(min=0), default=None),
    click.option("--top-p", type=click.FloatRange(min=0, max=1, min_open=True), default=None),
    click.option("--tensor-parallel-size", type=click.IntRange(min=1), default=None),
    click.option("--pipeline-parallel-size", type=click.IntRange(min=1), default=None,
                 help="Pipeline stages (with --ray, may span nodes)."),
    click.option("--data-parallel-size", type=click.IntRange(min=1), default=None,
                 help="Replicas of the model, placed by Ray (above 1 implies --ray local unless given)."),
    click.option("--ray", default=None, metavar="local|auto|ADDRESS",
                 help="Generate on Ray: a private local instance, the cluster of this machine, or a cluster address."),
    click.option("--base-url", default=None, help="OpenAI-compatible endpoint for the openai backend."),
    click.option("--reasoning-parser", default=None, metavar="NAME",
                 help="vLLM's reasoning parser for a thinking model (deepseek_r1, qwen3, openai_gptoss, granite...): "
                 "the thought is kept apart in `reasoning`, the answer is `output` (vllm, vllm-server)."),
]  # fmt: skip


def model_options(func: F) -> F:
    """Generation options shared by `generate` and `evaluate --model`."""
    for option in reversed(_MODEL_OPTIONS):
        func = option(func)
    return func


# Options `generate` has for the model and other commands have for their judge: only `generate`'s are the model's.
_JUDGES_TOO = {"reasoning_effort", "max_completion_tokens"}


def generate_config(
    model: str, output: Path, seed: int | None, opts: dict[str, Any], *, own: bool = False
) -> GenerateConfig:
    """A GenerateConfig from parsed options (unknown ones are ignored: they belong to other stages). `own`: the
    options are `generate`'s, so those named like a judge's (`--reasoning-effort`) are the model's."""
    from alpaca_lc.config import GenerateConfig

    fields = (
        set(GenerateConfig.model_fields) - {"model", "output", "seed", "think_tags"} - (set() if own else _JUDGES_TOO)
    )
    given = opts.get("think_tags")
    think_tags = None if given is None else _tags(given)
    return GenerateConfig(model=model, output=output, seed=seed, think_tags=think_tags,
                          **{k: v for k, v in opts.items() if k in fields})  # fmt: skip


def _tags(value: str) -> tuple[str, str]:
    from alpaca_lc.records.thinking import parse_tags

    try:
        return parse_tags(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--think-tags") from None


@click.command()
@click.option(
    "--model",
    "models",
    required=True,
    multiple=True,
    help="A bundled model config name, a YAML file, or a model name/path; repeat it for a sweep.",
)
@model_options
@click.option("--seed", type=int, default=None, help="Sampling seed.")
@eval_set_option
@click.option("--max-instances", type=click.IntRange(min=1), default=None,
              help="Generate for N instructions: those `annotate --max-instances N` judges (AlpacaEval's N: the eval "
                   "set shuffled with its seed 123, the first N).")  # fmt: skip
@click.option("--name", default=None, help="Generator name written into the outputs.")
@click.option("--think-tags", default=None, metavar="OPEN,CLOSE",
              help="The tags a thinking model's thought is between, when no parser or field separates it (default "
              "<think>,</think>).")  # fmt: skip
@click.option("--reasoning-effort", type=click.Choice(REASONING_EFFORTS),
              default=None, help="A provider's reasoning model's reasoning_effort (openai backend; default: the "
              "provider's). A model documented as a reasoning model is asked as one without it.")  # fmt: skip
@click.option("--max-completion-tokens", type=click.IntRange(min=1), default=None,
              help="A reasoning model's limit on its hidden reasoning and its answer together (openai backend; "
              "default 25,000, OpenAI's advice; only what is generated is billed).")  # fmt: skip
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--max-attempts", default=8, show_default=True, type=click.IntRange(min=1))
@pace_options
@click.option("--no-progress", is_flag=True, help="No progress bar (a log gets a few plain lines without it).")
@click.option("--benchmark", type=click.Choice(BENCHMARKS), default=BENCHMARKS[0], show_default=True,
              help="arena-hard-v2.0: the eval set is Arena-Hard-Auto's question.jsonl (--eval-set), and the answers "
              "are written in its answer format with their style metadata (docs/arena-hard.md).")  # fmt: skip
@click.option("--category", default=None, help="Only the eval set's prompts of this category (Arena-Hard-Auto's).")
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="One model's outputs (default model_outputs.json; Arena-Hard-Auto: answers.jsonl).",
)
@click.option(
    "--output-dir",
    default=None,
    type=click.Path(path_type=Path, file_okay=False),
    help="Several models' outputs, each at DIR/<name>/model_outputs.json (Arena-Hard-Auto: answers.jsonl; default "
    "results).",
)
def generate(
    models: tuple[str, ...],
    output: Path | None,
    output_dir: Path | None,
    seed: int | None,
    no_progress: bool,
    **opts: Any,
) -> None:
    """Generate answers to the eval set's instructions; resumable, finished outputs are kept as they complete."""
    from alpaca_lc.generation.run import run_generate_many
    from alpaca_lc.pipeline.sweep import output_paths

    if len(models) > 1 and output is not None:
        raise click.UsageError("-o names one model's outputs: with several --model, use --output-dir")
    arena = opts.pop("benchmark") == "arena-hard-v2.0"
    opts["answer_format"] = "arena_hard" if arena else "alpaca_eval"
    default = Path("answers.jsonl" if arena else "model_outputs.json")
    configs = [generate_config(m, output or default, seed, opts, own=True).model_copy(
        update={"progress": not no_progress}) for m in models]  # fmt: skip
    if len(models) > 1 or output_dir is not None:
        configs = output_paths(configs, output_dir or Path("results"))
    for run in run_generate_many(configs):
        click.echo(run.summary(), err=True)
