"""Work on two cores: the later items (files to read, models to fit) in a forked child, the earlier ones here.

Reading and screening annotation files is Python work that holds the GIL (JSON decoding, hashing each
output), and so are a leaderboard's many small GLM fits, so threads do not add a core; a forked child does,
and costs a few milliseconds, not the fresh interpreter a spawned worker needs. The child returns its results
pickled through a pipe. Whatever goes wrong in the child (a bad file, a crash, a kill) costs only time: this
process then does the child's share itself, which raises the error one process would have, at the same item.

A fork is used only where it is safe and pays: Linux, at least two usable cores, a single Python thread, no
pyarrow loaded yet if the child may use it (its thread pool is not copied), and enough work.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import pickle
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
MIN_COST = 16e6  # below about this many bytes to read, a fork saves less than it costs


def fork_allowed(*, child_uses_pyarrow: bool = True) -> bool:
    """Whether this process may fork a worker (see the module's docstring). pyarrow's threads only matter to a
    child that calls pyarrow: a fork copies the calling thread alone, and arrow's pool would be missing its."""
    return (
        sys.platform.startswith("linux")
        and len(os.sched_getaffinity(0)) >= 2
        and threading.active_count() == 1
        and not (child_uses_pyarrow and "pyarrow" in sys.modules)
    )


def split_point(costs: Sequence[float]) -> int:
    """Where to cut the items so that the two contiguous parts cost about the same (1 to len-1)."""
    total, running = sum(costs), 0.0
    best, best_cut = total, 1
    for cut in range(1, len(costs)):
        running += costs[cut - 1]
        worst = max(running, total - running)
        if worst < best:
            best, best_cut = worst, cut
    return best_cut


def map_in_two(
    items: Sequence[T],
    costs: Sequence[float],
    work: Callable[[Sequence[T]], list[R]],
    *,
    min_cost: float | None = None,
    child_uses_pyarrow: bool = True,
) -> list[R]:
    """`work(items)`, run as `work(head) + work(tail)` with the tail in a forked child where that pays.

    Args:
        items: what to work on, in order.
        costs: an estimate of each item's work (by default in bytes to read).
        work: a function of a run of items; what it returns must pickle. It may raise for a bad item: the
            error reaches the caller as if `work(items)` had run here.
        min_cost: the total cost below which a fork saves less than it costs (default `MIN_COST`).
        child_uses_pyarrow: whether `work` may call pyarrow (see `fork_allowed`).
    """
    least = MIN_COST if min_cost is None else min_cost
    if len(items) < 2 or sum(costs) < least or not fork_allowed(child_uses_pyarrow=child_uses_pyarrow):
        return work(items)
    cut = split_point(costs)
    head, tail = items[:cut], items[cut:]
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns of any fork beside native threads; see fork_allowed
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(lambda: work(tail), write_end)
    os.close(write_end)
    try:
        done = work(head)
    except BaseException:
        _stop(pid, read_end)
        raise
    with os.fdopen(read_end, "rb") as pipe:
        payload = pipe.read()
    theirs = _unpickled(payload)
    if theirs is _FAILED:
        _, status = os.waitpid(pid, 0)
        logger.debug("forked worker exited with status %s: doing its share here", status)
        return done + work(tail)
    _reap_later(pid)  # its result is whole: no need to wait while the kernel frees its memory
    return done + cast(list[R], theirs)


_FAILED = object()
_unreaped: list[int] = []


def _unpickled(payload: bytes) -> object:
    """The child's result, or _FAILED: nothing written (an error, a crash) or cut short (a kill mid-write)."""
    try:
        return pickle.loads(payload) if payload else _FAILED  # our own child's output
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError):
        return _FAILED


def _reap_later(pid: int) -> None:
    """Reap children whose results are in: those that have exited now, the rest at exit (a finished child is
    only a process-table entry until then)."""
    _unreaped.append(pid)
    _reap(block=False)


@atexit.register
def _reap(block: bool = True) -> None:
    for pid in list(_unreaped):
        try:
            exited, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (someone's os.wait())
            exited = pid
        if exited:
            _unreaped.remove(pid)


def _child(run: Callable[[], object], write_end: int) -> None:
    code = 1
    try:
        payload = pickle.dumps(run(), protocol=pickle.HIGHEST_PROTOCOL)
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        code = 0
    except BaseException:  # the parent redoes this share and reports any error itself
        pass
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's buffered output


def _stop(pid: int, read_end: int) -> None:
    os.close(read_end)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
