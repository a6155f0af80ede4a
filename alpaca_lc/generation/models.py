"""Model configs: closed YAML files naming a model, its chat template, sampling defaults and engine options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alpaca_lc import package_file
from alpaca_lc.config import Endpoint, load_yaml_config

BackendName = Literal["vllm", "vllm-server", "openai"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Sampling(_Closed):
    """Sampling defaults; command-line options override them."""

    temperature: float = Field(default=0.0, ge=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    max_new_tokens: int = Field(default=2048, ge=1)
    seed: int | None = None


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
