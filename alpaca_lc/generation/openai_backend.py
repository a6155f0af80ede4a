"""Generation through any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp, TGI), async and retried."""

from __future__ import annotations

import asyncio
from typing import Any

from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.calls import ChatRequest, ClientSettings
from alpaca_lc.endpoint.client import ChatClient, describe_failure
from alpaca_lc.endpoint.running import gather_or_cancel
from alpaca_lc.errors import IncompleteError
from alpaca_lc.generation.base import Failure, Generation, GenerationRequest, OnResult
from alpaca_lc.generation.models import ModelConfig, api_decoding
from alpaca_lc.records.thinking import Split, split_thought


class OpenAIBackend:
    """Sends every request through one shared client with bounded concurrency and the judge's retry policy."""

    def __init__(self, config: ModelConfig, client: ClientSettings, endpoint: Endpoint | None = None) -> None:
        self.config = config
        self.client_settings = client
        self.endpoint = endpoint or config.endpoint

    def generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None:
        """Generate all requests; each result is handed to `on_result` as it arrives."""
        asyncio.run(self._generate(requests, on_result))

    async def _generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None:
        client = ChatClient(self.endpoint, self.client_settings)
        decoding = api_decoding(self.config)
        tags = self.config.think_tags

        def read(choice: dict[str, Any]) -> tuple[Split, str]:
            return read_answer(choice, tags)

        async def one(req: GenerationRequest) -> None:
            try:
                done = await client.complete(ChatRequest(self.config.model, req.messages, decoding, read))
            except IncompleteError:
                raise
            except Exception as exc:  # failed for good: reported, and generated again by the next run
                on_result(Failure(req.index, *describe_failure(exc, client)))
                return
            split, reason = done.value
            on_result(Generation(req.index, split.answer, reason, done.prompt_tokens, done.completion_tokens,
                                 split.thought, split.unclosed))  # fmt: skip

        try:
            await gather_or_cancel((one(r) for r in requests), client)
        finally:
            await client.close()


def read_answer(choice: dict[str, Any], tags: tuple[str, str]) -> tuple[Split, str]:
    """The answer and the thought of one choice, and why it stopped: the thought from the message's own field
    where the server puts it apart (vLLM's `reasoning`, formerly `reasoning_content`), else split off the text by
    the think tags (`records.thinking`)."""
    message = choice.get("message") or {}
    text = (message.get("content") or "").strip()
    apart = message.get("reasoning") or message.get("reasoning_content")
    split = Split(text, str(apart)) if apart else split_thought(text, tags)
    return split, str(choice.get("finish_reason") or "stop")
