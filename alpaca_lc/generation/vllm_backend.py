"""In-process vLLM (`vllm.LLM`): the only module that imports vllm.

Prompts are rendered with the model's own chat template by `LLM.chat` (or the config's template) and
submitted together in large chunks, so vLLM batches them; each finished chunk is handed back at once so
a crash loses at most one chunk. With `data_parallel_size` > 1, one worker process per group of
`tensor_parallel_size` GPUs takes an interleaved share of the prompts.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alpaca_lc.calls import ClientSettings
from alpaca_lc.errors import IncompleteError, UsageError
from alpaca_lc.generation.base import Generation, GenerationRequest, OnResult
from alpaca_lc.generation.models import ModelConfig

CHUNK = 512  # prompts per LLM.chat call: enough to keep the GPU batch full


class VLLMBackend:
    """`vllm.LLM` in this process, or data-parallel worker processes."""

    def __init__(self, config: ModelConfig, client: ClientSettings) -> None:
        self.config = config

    def generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None:
        """Generate everything; finished chunks are handed to `on_result` as they complete."""
        dp = self.config.engine.data_parallel_size
        if dp == 1:
            for generation in run_vllm(self.config, requests):
                on_result(generation)
        else:
            _data_parallel(self.config, requests, on_result, dp)


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


def run_vllm(config: ModelConfig, requests: list[GenerationRequest]) -> Iterator[Generation]:
    """Generate with `vllm.LLM.chat`, chunk by chunk, mapping outputs back to their requests by position."""
    vllm = _import_vllm()
    llm = vllm.LLM(**engine_arguments(config))
    params = vllm.SamplingParams(**sampling_arguments(config))
    template = Path(config.chat_template).read_text(encoding="utf-8") if config.chat_template else None
    for start in range(0, len(requests), CHUNK):
        chunk = requests[start : start + CHUNK]
        # Progress is ours (a bar on a terminal, a few lines in a log), counted as chunks finish.
        outputs = llm.chat([r.messages for r in chunk], params, use_tqdm=False, chat_template=template)
        if len(outputs) != len(chunk):
            raise IncompleteError(f"vLLM returned {len(outputs)} outputs for {len(chunk)} prompts")
        for req, out in zip(chunk, outputs, strict=True):
            best = out.outputs[0]
            yield Generation(
                req.index,
                best.text.strip(),
                best.finish_reason or "stop",
                len(out.prompt_token_ids or ()),
                len(best.token_ids or ()),
            )


def gpu_groups(data_parallel_size: int, tensor_parallel_size: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each data-parallel worker, e.g. ["0,1", "2,3"] for dp=2, tp=2."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(i) for i in range(data_parallel_size * tensor_parallel_size)]
    need = data_parallel_size * tensor_parallel_size
    if len(devices) < need:
        raise UsageError(f"data_parallel_size x tensor_parallel_size = {need} GPUs, but {len(devices)} are visible")
    return [
        ",".join(devices[i * tensor_parallel_size : (i + 1) * tensor_parallel_size]) for i in range(data_parallel_size)
    ]


def _worker(config_json: str, requests: list[GenerationRequest], devices: str, out: Any) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = devices  # before vllm (and torch) are imported in this process
    config = ModelConfig.model_validate_json(config_json)
    for generation in run_vllm(config, requests):
        out.put(asdict(generation))
    out.put(None)


def _data_parallel(config: ModelConfig, requests: list[GenerationRequest], on_result: OnResult, dp: int) -> None:
    groups = gpu_groups(dp, config.engine.tensor_parallel_size)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(config.model_dump_json(), requests[i::dp], groups[i], results))
        for i in range(dp)
    ]
    for w in workers:
        w.start()
    try:
        finished = 0
        while finished < dp:
            try:
                item = results.get(timeout=5)
            except queue_module.Empty:
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise IncompleteError("a vLLM data-parallel worker died; finished generations are saved") from None
                continue
            if item is None:
                finished += 1
            else:
                on_result(Generation(**item))
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
            w.join()
