"""The backend interface and the lazy name -> "module:Class" registry (heavy imports stay in backends)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from alpaca_lc.endpoint.calls import ClientSettings
from alpaca_lc.generation.models import ModelConfig

BACKENDS = {
    "openai": "alpaca_lc.generation.openai_backend:OpenAIBackend",
    "vllm": "alpaca_lc.generation.vllm_backend:VLLMBackend",
    "vllm-server": "alpaca_lc.generation.vllm_server:VLLMServerBackend",
}


@dataclass(frozen=True)
class GenerationRequest:
    """One instruction to answer, as chat messages."""

    index: int
    instruction: str
    messages: list[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    """One answer: stripped text, why it stopped ("length" = cut at the token limit), token counts."""

    index: int
    output: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reasoning: str | None = None  # the model's thought, apart from its answer (`output`)
    unclosed: bool = False  # the thought never closed: no answer came


@dataclass(frozen=True)
class Failure:
    """One instruction that could not be generated, and why."""

    index: int
    cause: str
    message: str


OnResult = Callable[[Generation | Failure], None]


class Backend(Protocol):
    """Generates answers; calls `on_result` as each one finishes (so finished work is saved at once)."""

    def __init__(self, config: ModelConfig, client: ClientSettings) -> None: ...

    def generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None: ...


def load_backend(name: str) -> type[Backend]:
    """The backend class registered under `name`, imported only now."""
    module_name, _, class_name = BACKENDS[name].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return cls
