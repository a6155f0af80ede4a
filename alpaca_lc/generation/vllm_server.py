"""`vllm serve` as a child process on a free local port, used through the openai backend, always stopped."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.calls import ClientSettings
from alpaca_lc.errors import IncompleteError, UsageError
from alpaca_lc.generation.base import GenerationRequest, OnResult
from alpaca_lc.generation.models import ModelConfig
from alpaca_lc.generation.openai_backend import OpenAIBackend

logger = logging.getLogger(__name__)


class VLLMServerBackend:
    """Starts `vllm serve`, waits for `/health`, generates through the OpenAI API, stops the server."""

    def __init__(self, config: ModelConfig, client: ClientSettings) -> None:
        self.config = config
        self.client = client

    def generate(self, requests: list[GenerationRequest], on_result: OnResult) -> None:
        """Generate everything through a private `vllm serve`; the server never outlives this call."""
        port = free_port()
        with serve(self.config, port) as base_url:
            endpoint = Endpoint(base_url=base_url, api_key_env=None)
            OpenAIBackend(self.config, self.client, endpoint).generate(requests, on_result)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_command(config: ModelConfig, port: int) -> list[str]:
    """The `vllm serve` command line for a model config."""
    e = config.engine
    cmd = ["vllm", "serve", config.model, "--host", "127.0.0.1", "--port", str(port),
           "--tensor-parallel-size", str(e.tensor_parallel_size), "--dtype", e.dtype,
           "--gpu-memory-utilization", str(e.gpu_memory_utilization)]  # fmt: skip
    if e.max_model_len is not None:
        cmd += ["--max-model-len", str(e.max_model_len)]
    if config.sampling.seed is not None:
        cmd += ["--seed", str(config.sampling.seed)]
    if config.chat_template:
        cmd += ["--chat-template", config.chat_template]
    if config.reasoning_parser:  # the thought comes apart, in the message's `reasoning` field
        cmd += ["--reasoning-parser", config.reasoning_parser]
    if e.trust_remote_code:
        cmd.append("--trust-remote-code")
    return cmd


@contextlib.contextmanager
def serve(config: ModelConfig, port: int) -> Iterator[str]:
    """Run `vllm serve` for the duration of the block; yields the base URL. Stopped on errors, Ctrl-C, SIGTERM."""
    if shutil.which("vllm") is None:
        raise UsageError("the vllm-server backend needs the `vllm` command: pip install 'alpaca-lc[vllm]'")
    log = tempfile.NamedTemporaryFile("w+", prefix="vllm-serve-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        serve_command(config, port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        _wait_healthy(process, port, config.engine.server_start_timeout, Path(log.name))
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(process)
        log.close()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # so `finally` blocks run and the server is stopped


def _wait_healthy(process: subprocess.Popen[bytes], port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise IncompleteError(f"vllm serve exited with code {process.returncode} before it was ready: {tail[0]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise IncompleteError(f"vllm serve was not ready after {timeout:.0f} s (log: {log})")


def stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """Stop the server and everything it started (its process group): SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
