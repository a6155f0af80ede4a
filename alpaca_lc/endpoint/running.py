"""Running a run's requests together: all at once, all stopped by a fatal error, and drained on Ctrl-C.

A request already sent is paid for whether or not its answer is read. So the first Ctrl-C (SIGINT) does not
cancel the run: nothing more is sent, the requests in flight are waited for (up to `DRAIN_SECONDS`) and their
answers kept by the callers (the judgment cache, the partial outputs file) as usual, then the run stops with
KeyboardInterrupt. A second Ctrl-C stops at once. Outside the main thread (a sweep judges in a worker thread)
a signal cannot be caught here, and Ctrl-C cancels as it always did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alpaca_lc.endpoint.client import ChatClient

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0


async def gather_or_cancel(coroutines: Iterable[Awaitable[Any]], client: ChatClient | None = None) -> None:
    """Run all; when one raises (a fatal error: bad key, no quota, a stalled run), cancel the rest at once rather
    than let them keep asking, then raise it. With `client`, Ctrl-C drains (see the module's docstring).

    Args:
        coroutines: one per request.
        client: the client they send through (its requests in flight are what Ctrl-C waits for).
    """
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    interrupted = asyncio.Event()
    try:
        with _on_interrupt(lambda: _interrupt(interrupted, tasks, client)) as catching:
            if not (catching and client is not None):
                await asyncio.gather(*tasks)
                return
            await _until_done_or_interrupted(tasks, interrupted)
            if interrupted.is_set():
                await asyncio.wait(tasks, timeout=min(DRAIN_SECONDS, client.settings.timeout))
                raise KeyboardInterrupt
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _until_done_or_interrupted(tasks: Sequence[asyncio.Future[Any]], interrupted: asyncio.Event) -> None:
    """Wait for every task, or for the first Ctrl-C; a task's failure is raised."""
    gathered: asyncio.Future[Any] = asyncio.gather(*tasks)
    waiter: asyncio.Future[Any] = asyncio.ensure_future(interrupted.wait())
    await asyncio.wait({gathered, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if gathered.done() and not interrupted.is_set():
        gathered.result()
    else:  # interrupted: the tasks go on draining (those refused for the drain end cancelled, maybe already)
        gathered.add_done_callback(lambda done: done.cancelled() or done.exception())


def _interrupt(interrupted: asyncio.Event, tasks: Sequence[asyncio.Future[Any]], client: ChatClient | None) -> None:
    if interrupted.is_set() or client is None:  # the second Ctrl-C: stop now
        for task in tasks:
            task.cancel()
        return
    interrupted.set()
    client.draining = True
    print(
        f"interrupted: waiting up to {DRAIN_SECONDS:.0f} s for the {client.sent} requests already sent (they "
        "are paid for) and keeping their answers; Ctrl-C again to stop now",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def _on_interrupt(callback: Any) -> Any:
    """SIGINT calls `callback` in the running loop while the block runs; yields whether it could be caught."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, callback)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no signals here
        yield False
        return
    try:
        yield True
    finally:
        loop.remove_signal_handler(signal.SIGINT)
