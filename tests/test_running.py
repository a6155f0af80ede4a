"""Ctrl-C while requests wait for their turn: those refused for the drain end cancelled, and the run still stops
with KeyboardInterrupt (exit 130), never with their CancelledError (exit 1 and a traceback)."""

from __future__ import annotations

import asyncio
import os
import signal
from types import SimpleNamespace
from typing import Any

import pytest

from alpaca_lc.endpoint.running import gather_or_cancel


async def _waiting_for_a_turn(client: Any, started: asyncio.Event) -> None:
    """A request queued behind the concurrency limit: when its turn comes during the drain, it is not sent."""
    started.set()
    while not client.draining:
        await asyncio.sleep(0)  # a yield to the loop, not a wait
    raise asyncio.CancelledError


async def _interrupt_once_waiting(started: asyncio.Event) -> None:
    await started.wait()  # the requests are queued: Ctrl-C now
    os.kill(os.getpid(), signal.SIGINT)


def test_requests_refused_for_the_drain_do_not_turn_ctrl_c_into_a_crash() -> None:
    client = SimpleNamespace(draining=False, sent=0, settings=SimpleNamespace(timeout=5.0))

    async def run() -> None:
        started = asyncio.Event()
        interrupter = asyncio.ensure_future(_interrupt_once_waiting(started))
        requests = [_waiting_for_a_turn(client, started) for _ in range(8)]
        await gather_or_cancel(requests, client)  # type: ignore[arg-type]
        await interrupter

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(run())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert client.draining
