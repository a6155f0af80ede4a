"""Model configs: closed YAML files naming a model, its chat template, sampling defaults and engine options."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alpaca_lc import package_file
from alpaca_lc.config import Endpoint, ReasoningEffort, load_yaml_config
from alpaca_lc.endpoint.models import is_reasoning, reasoning_parameters

BackendName = Literal["vllm", "vllm-server", "openai"]
# A reasoning model's default limit, its hidden reasoning and its answer together: OpenAI's guide to reasoning models
# says to reserve at least 25,000 tokens for both when starting out. Only the tokens generated are billed.
REASONING_COMPLETION_TOKENS = 25_000


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Sampling(_Closed):
    """Sampling defaults; command-line options override them."""

    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=2048, ge=1)
    seed: int | None = None
    # A reasoning model's (`generation.openai_backend`): its effort, and its limit with the hidden reasoning included
    reasoning_effort: ReasoningEffort | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1)


class Engine(_Closed):
    """vLLM engine options (ignored by the `openai` backend)."""

    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    dtype: str = "auto"
    max_model_len: int | None = Field(default=None, ge=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)
    trust_remote_code: bool = False
    server_start_timeout: float = Field(default=1800.0, gt=0)


class ModelConfig(_Closed):
    """A chat model to generate with."""

    name: str
    model: str
    backend: BackendName = "vllm"
    chat_template: str | None = None  # None: the tokenizer's own template; else a Jinja template file
    system_prompt: str | None = None
    reasoning_parser: str | None = None  # vLLM's parser of the model's thought (`vllm serve --reasoning-parser`)
    think_tags: tuple[str, str] = ("<think>", "</think>")  # else the thought is split off by these tags
    sampling: Sampling = Sampling()
    engine: Engine = Engine()
    endpoint: Endpoint = Endpoint()


def reasons(model: ModelConfig) -> bool:
    """Whether the model is asked as a reasoning model through the `openai` backend: documented as one
    (`endpoint.models`), or given a reasoning effort or a completion limit."""
    s = model.sampling
    given = s.reasoning_effort is not None or s.max_completion_tokens is not None
    return model.backend == "openai" and (given or is_reasoning(model.model))


def api_decoding(model: ModelConfig) -> dict[str, Any]:
    """The request parameters of the sampling settings, for the Chat Completions API. A reasoning model takes no
    `temperature`, `top_p` or `max_tokens` (the provider refuses them): it gets `max_completion_tokens`, which
    bounds its hidden reasoning and its answer together, and `reasoning_effort` when one is given."""
    s = model.sampling
    params: dict[str, Any] = {"temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_new_tokens}
    if s.seed is not None:
        params["seed"] = s.seed
    if reasons(model):
        return reasoning_parameters(params, s.max_completion_tokens or REASONING_COMPLETION_TOKENS, s.reasoning_effort)
    return params


def reasoning_note(model: ModelConfig) -> str | None:
    """One line saying how a reasoning model is asked (None for another model)."""
    if not reasons(model):
        return None
    limit = model.sampling.max_completion_tokens or REASONING_COMPLETION_TOKENS
    effort = model.sampling.reasoning_effort or "the provider's default"
    return (
        f"{model.model} is asked as a reasoning model: max_completion_tokens {limit:,} (hidden reasoning and "
        f"answer; --max-completion-tokens), reasoning effort {effort}, no temperature, top_p or max_tokens "
        "(such models refuse them)"
    )


def model_configs_dir() -> Path:
    """The bundled model configs."""
    return package_file("generation", "models")


def load_model_config(name_or_path: str) -> ModelConfig:
    """A bundled config by name, a YAML file, or a bare model name/path (served as is, default settings).

    Args:
        name_or_path: e.g. "llama-3-8b-instruct", "configs/my_model.yaml", or "/ckpt/my-sft-model".
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        bundled = model_configs_dir() / f"{name_or_path}.yaml"
        if not bundled.is_file():
            return ModelConfig(name=path.name or name_or_path, model=name_or_path)
        path = bundled
    config = load_yaml_config(path, ModelConfig, "model config")
    if config.chat_template is not None and not Path(config.chat_template).is_absolute():
        config = config.model_copy(update={"chat_template": str(path.parent / config.chat_template)})
    return config
