"""`alpaca-lc generate`: run a model over the eval set (vLLM, `vllm serve`, or an OpenAI-compatible API)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from alpaca_lc.cli.options import eval_set_option, pace_options

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
    click.option("--data-parallel-size", type=click.IntRange(min=1), default=None),
    click.option("--base-url", default=None, help="OpenAI-compatible endpoint for the openai backend."),
]  # fmt: skip


def model_options(func: F) -> F:
    """Generation options shared by `generate` and `evaluate --model`."""
    for option in reversed(_MODEL_OPTIONS):
        func = option(func)
    return func


def generate_config(model: str, output: Path, seed: int | None, opts: dict[str, Any]) -> GenerateConfig:
    """A GenerateConfig from parsed options (unknown ones are ignored: they belong to other stages)."""
    from alpaca_lc.config import GenerateConfig

    fields = set(GenerateConfig.model_fields) - {"model", "output", "seed"}
    return GenerateConfig(model=model, output=output, seed=seed, **{k: v for k, v in opts.items() if k in fields})


@click.command()
@click.option("--model", required=True, help="A bundled model config name, a YAML file, or a model name/path.")
@model_options
@click.option("--seed", type=int, default=None, help="Sampling seed.")
@eval_set_option
@click.option("--max-instances", type=click.IntRange(min=1), default=None)
@click.option("--name", default=None, help="Generator name written into the outputs.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--timeout", default=600.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--max-attempts", default=8, show_default=True, type=click.IntRange(min=1))
@pace_options
@click.option("--no-progress", is_flag=True, help="No progress bar (a log gets a few plain lines without it).")
@click.option("-o", "--output", default="model_outputs.json", type=click.Path(path_type=Path, dir_okay=False))
def generate(model: str, output: Path, seed: int | None, no_progress: bool, **opts: Any) -> None:
    """Generate answers to the eval set's instructions; resumable, finished outputs are kept as they complete."""
    from alpaca_lc.generation.run import run_generate

    config = generate_config(model, output, seed, opts).model_copy(update={"progress": not no_progress})
    click.echo(run_generate(config).summary(), err=True)
