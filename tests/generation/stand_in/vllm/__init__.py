"""A stand-in for the `vllm` module with vLLM's API contract (`LLM`, `LLM.chat`, `SamplingParams`, outputs).

It records what it was given (in `CALLS`, and, when `STAND_IN_VLLM_LOG` names a file, as JSON lines with the
process id and the CUDA_VISIBLE_DEVICES it ran with: Ray's workers are other processes) and answers
deterministically; `STAND_IN_VLLM_DELAY` seconds of "GPU time" per chat call let a test kill a worker mid-run.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

CALLS: dict[str, list[Any]] = {"llm": [], "chat": []}


class SamplingParams:
    """Records its keyword arguments, like vLLM's (n, temperature, top_p, max_tokens, seed, ...)."""

    def __init__(self, **kwargs: Any) -> None:
        allowed = {"n", "temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "skip_special_tokens",
                   "spaces_between_special_tokens"}  # fmt: skip
        unknown = set(kwargs) - allowed
        if unknown:
            raise TypeError(f"unexpected SamplingParams arguments {unknown}")
        self.kwargs = kwargs


@dataclass
class CompletionOutput:
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput] = field(default_factory=list)


class LLM:
    """Records engine arguments; `chat` answers each conversation in order."""

    def __init__(self, model: str, **kwargs: Any) -> None:
        CALLS["llm"].append({"model": model, **kwargs})
        _log("engine", model=model, arguments=kwargs)
        self.model = model
        self.max_tokens = 0

    def get_tokenizer(self) -> dict[str, int]:
        """vLLM's `LLM.get_tokenizer`: here a vocabulary is enough for the stand-in's reasoning parser."""
        return {"<think>": 1, "</think>": 2}

    def chat(
        self,
        messages: list[list[dict[str, str]]],
        sampling_params: SamplingParams | None = None,
        use_tqdm: bool = True,
        chat_template: str | None = None,
    ) -> list[RequestOutput]:
        assert isinstance(messages, list) and all(isinstance(m, list) for m in messages)
        assert sampling_params is not None
        CALLS["chat"].append({"messages": messages, "params": sampling_params.kwargs, "template": chat_template})
        time.sleep(float(os.environ.get("STAND_IN_VLLM_DELAY", "0")))
        _log("chat", prompts=[m[-1]["content"] for m in messages])
        limit = sampling_params.kwargs["max_tokens"]
        outputs = []
        for conversation in messages:
            words = f"  reply to {conversation[-1]['content']} with several words from {self.model}  ".split(" ")
            cut = len([w for w in words if w]) > limit
            text = " ".join(words[: limit + 2]) if cut else " ".join(words)
            if os.environ.get("STAND_IN_VLLM_THINK"):  # a thinking model: its thought first, as R1 writes it
                text = f"<think>\nfirst I consider {conversation[-1]['content'][:20]}\n</think>\n\n{text.strip()}"
            outputs.append(
                RequestOutput(
                    [1, 2, 3], [CompletionOutput(text, list(range(min(limit, 9))), "length" if cut else "stop")]
                )
            )
        return outputs


def _log(event: str, **fields: Any) -> None:
    path = os.environ.get("STAND_IN_VLLM_LOG")
    if path:
        record = {"event": event, "time": time.time(), "pid": os.getpid(),
                  "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), **fields}  # fmt: skip
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
