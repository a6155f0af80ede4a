"""The stand-in of `vllm.reasoning`: `ReasoningParserManager` and a parser with the contract of vLLM's
`BaseThinkingReasoningParser` (`vllm/reasoning/basic_parsers.py`): `extract_reasoning(model_output, request)` returns
(reasoning, content); the thought ends at the first end token, and without one the whole output is reasoning."""

from __future__ import annotations

from typing import Any, ClassVar


class ReasoningParser:
    def __init__(self, tokenizer: Any, *args: Any, **kwargs: Any) -> None:
        self.model_tokenizer = tokenizer

    def adjust_request(self, request: Any) -> Any:
        return request


class DeepSeekR1ReasoningParser(ReasoningParser):
    start_token, end_token = "<think>", "</think>"

    def extract_reasoning(self, model_output: str, request: Any) -> tuple[str | None, str | None]:
        parts = model_output.partition(self.start_token)
        model_output = parts[2] if parts[1] else parts[0]
        if self.end_token not in model_output:
            return model_output, None
        reasoning, _, content = model_output.partition(self.end_token)
        return reasoning, content or None


class ReasoningParserManager:
    reasoning_parsers: ClassVar[dict[str, type[ReasoningParser]]] = {"deepseek_r1": DeepSeekR1ReasoningParser}

    @classmethod
    def get_reasoning_parser(cls, name: str) -> type[ReasoningParser]:
        if name not in cls.reasoning_parsers:
            raise KeyError(f"reasoning parser {name!r} not found")
        return cls.reasoning_parsers[name]

    @classmethod
    def list_registered(cls) -> list[str]:
        return sorted(cls.reasoning_parsers)
