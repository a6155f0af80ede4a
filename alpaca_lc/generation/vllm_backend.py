"""vLLM (`vllm.LLM`): the only module that imports vllm.

Prompts are rendered with the model's own chat template by `LLM.chat` (or the config's template) and
submitted together in large chunks, so vLLM batches them; each finished chunk is handed back at once so
a crash loses at most one chunk. One engine runs in this process; several replicas (data parallelism),
sweeps of models and engines bigger than a node run on Ray (`ray_backend.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_lc.endpoint.calls import ClientSettings
from alpaca_lc.errors import IncompleteError, UsageError
from alpaca_lc.generation.base import Generation, GenerationRequest, OnResult
from alpaca_lc.generation.models import ModelConfig
from alpaca_lc.records.thinking import Split, split_thought

CHUNK = 512  # prompts per LLM.chat call: enough to keep the GPU batch full


class VLLMBackend:
    """`vllm.LLM` in this process."""

    def __init__(self, config: ModelConfig, client: ClientSettings) -> None:
        self.config = config

    def generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None:
        """Generate everything; finished chunks are handed to `on_result` as they complete."""
        for generation in run_vllm(self.config, requests):
            on_result(generation)


def _import_vllm() -> Any:
    try:
        import vllm  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise UsageError("the vllm backend needs vLLM on a GPU machine: pip install 'alpaca-lc[vllm]'") from None
    return vllm


def engine_arguments(config: ModelConfig) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM`."""
    e = config.engine
    args: dict[str, Any] = {
        "model": config.model,
        "tensor_parallel_size": e.tensor_parallel_size,
        "dtype": e.dtype,
        "gpu_memory_utilization": e.gpu_memory_utilization,
        "trust_remote_code": e.trust_remote_code,
    }
    if e.pipeline_parallel_size > 1:
        args["pipeline_parallel_size"] = e.pipeline_parallel_size
    if e.max_model_len is not None:
        args["max_model_len"] = e.max_model_len
    if config.sampling.seed is not None:
        args["seed"] = config.sampling.seed
    return args


def sampling_arguments(config: ModelConfig) -> dict[str, Any]:
    """Keyword arguments for `vllm.SamplingParams`."""
    s = config.sampling
    args: dict[str, Any] = {"n": 1, "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_new_tokens}
    if s.seed is not None:
        args["seed"] = s.seed
    return args


@dataclass(frozen=True)
class Thoughts:
    """How a thinking model's thought is split off its answer: vLLM's own reasoning parser by name (the one
    `vllm serve --reasoning-parser` uses: `<think>` models, gpt-oss's channels, Kimi's, Granite's...), else the think
    tags (`records.thinking`). `sampling`: what the parser needs of the decoding (special tokens kept, for one)."""

    parser: Any
    request: Any
    tags: tuple[str, str]
    sampling: dict[str, Any]

    @staticmethod
    def of(config: ModelConfig, llm: Any) -> Thoughts:
        """For a model config and its engine (whose tokenizer the parser reads)."""
        if config.reasoning_parser is None:
            return Thoughts(None, None, config.think_tags, {})
        from vllm.entrypoints.openai.chat_completion.protocol import (  # type: ignore[import-not-found, unused-ignore]
            ChatCompletionRequest,
        )
        from vllm.reasoning import ReasoningParserManager  # type: ignore[import-not-found, unused-ignore]

        try:
            parser_class = ReasoningParserManager.get_reasoning_parser(config.reasoning_parser)
        except KeyError:
            known = ", ".join(ReasoningParserManager.list_registered())
            raise UsageError(f"vLLM has no reasoning parser {config.reasoning_parser!r} (it has: {known})") from None
        parser = parser_class(llm.get_tokenizer())
        # A parser may ask the decoding to keep the special tokens its markers are (the server does the same).
        empty = [{"role": "user", "content": ""}]
        request = parser.adjust_request(ChatCompletionRequest(model=config.model, messages=empty))
        sampling = {"skip_special_tokens": request.skip_special_tokens,
                    "spaces_between_special_tokens": request.spaces_between_special_tokens}  # fmt: skip
        return Thoughts(parser, request, config.think_tags, sampling)

    def split(self, text: str) -> Split:
        """The answer and the thought of one output."""
        if self.parser is None:
            return split_thought(text.strip(), self.tags)
        reasoning, content = self.parser.extract_reasoning(text, self.request)
        closing = getattr(self.parser, "end_token", None)
        unclosed = content is None and reasoning is not None and (closing is None or closing not in text)
        return Split((content or "").strip(), reasoning, unclosed)


class VLLMEngine:
    """One `vllm.LLM` for a model config, answering chunks of requests (in this process or a Ray actor)."""

    def __init__(self, config: ModelConfig, extra_engine_arguments: dict[str, Any] | None = None) -> None:
        vllm = _import_vllm()
        self.llm = vllm.LLM(**engine_arguments(config), **(extra_engine_arguments or {}))
        self.thoughts = Thoughts.of(config, self.llm)
        self.params = vllm.SamplingParams(**sampling_arguments(config), **self.thoughts.sampling)
        self.template = Path(config.chat_template).read_text(encoding="utf-8") if config.chat_template else None

    def generate(self, chunk: list[GenerationRequest]) -> list[Generation]:
        """Answers to one chunk, submitted together so vLLM batches them, mapped back by position."""
        # Progress is ours (a bar on a terminal, a few lines in a log), counted as chunks finish.
        outputs = self.llm.chat([r.messages for r in chunk], self.params, use_tqdm=False, chat_template=self.template)
        if len(outputs) != len(chunk):
            raise IncompleteError(f"vLLM returned {len(outputs)} outputs for {len(chunk)} prompts")
        answers = []
        for req, out in zip(chunk, outputs, strict=True):
            best = out.outputs[0]
            split = self.thoughts.split(best.text)
            answers.append(Generation(req.index, split.answer, best.finish_reason or "stop",
                                      len(out.prompt_token_ids or ()), len(best.token_ids or ()), split.thought,
                                      split.unclosed))  # fmt: skip
        return answers


def run_vllm(config: ModelConfig, requests: list[GenerationRequest]) -> Iterator[Generation]:
    """Generate with one in-process engine, chunk by chunk."""
    engine = VLLMEngine(config)
    for start in range(0, len(requests), CHUNK):
        yield from engine.generate(requests[start : start + CHUNK])
