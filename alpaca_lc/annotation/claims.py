"""One payer per judgment: who judges what the cache lacks, across the processes that share it.

Before a process pays for a judgment (live or in a batch) it takes a lease on its key in the cache; a key under
another process's live lease, or in a batch not yet collected, is waited for instead of paid again. A lease is
kept alive by a heartbeat; one whose process is gone (on this host), or silent for the lease timeout, is taken
over. A batch is collected by whichever process needs its keys first and takes its lease. This holds wherever
the processes share one SQLite file, i.e. on one machine (SQLite's locks are not to be trusted on network file
systems); docs/judging.md says what a team sharing judgments across machines would need.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from alpaca_lc.annotation.batched import Batches
from alpaca_lc.annotation.cache import Judgment, JudgmentCache, Owner
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.live import judge_live
from alpaca_lc.errors import BatchSubmitted, InputError

if TYPE_CHECKING:
    from alpaca_lc.annotation.plan import AnnotateOptions, Planned, Tally

logger = logging.getLogger(__name__)

ENV_LEASE_TIMEOUT = "ALPACA_LC_LEASE_TIMEOUT"
LEASE_TIMEOUT = 120.0  # seconds without a heartbeat after which a lease of another host's process is taken over
WAIT_POLL = 0.5


def lease_timeout() -> float:
    return float(os.environ.get(ENV_LEASE_TIMEOUT) or LEASE_TIMEOUT)


def judge_missing(
    todo: list[Planned], judge: Judge, cache: JudgmentCache, options: AnnotateOptions, tally: Tally
) -> dict[str, Judgment]:
    """Have every request judged once: by this process (leased), by the batch that holds it, or by the process
    that leased it (waited for); requests that fail here stay missing.

    Args:
        todo: the requests the cache lacks.
        judge: the judge.
        cache: the judgment cache.
        options: live or batch, waiting or not, client settings.
        tally: what the run did.
    """
    owner, timeout = Owner.this_process(), lease_timeout()
    by_key = {r.key: r for r in todo}
    results: dict[str, Judgment] = {}
    settled: set[str] = set()  # judged, failed here, or in a batch left running (--no-wait)
    running: list[str] = []
    waiting = False  # said once that this run waits for another's judgments
    batches = Batches(judge, cache, options, tally, owner)
    with _Heartbeat(cache.path, owner, timeout / 4):
        try:
            while missing := [k for k in by_key if k not in results and k not in settled]:
                collected, still = _collect_open(missing, batches, cache, owner, timeout)
                results.update(collected)
                if still:
                    running += still
                    settled.update(k for b in cache.open_batches(missing) if b.id in still
                                   for k in cache.keys_of(b))  # fmt: skip
                if collected or still:
                    continue
                mine = cache.claim(missing, owner, timeout)
                if mine:
                    reqs = [by_key[k] for k in mine]
                    if options.batch:
                        got, left_running = batches.judge_requests(reqs, timeout)
                        running += left_running
                    else:
                        got = asyncio.run(judge_live(reqs, judge, cache, options, tally))
                    results.update(got)
                    settled.update(mine)
                    cache.release(owner, mine)
                    continue
                if not waiting:
                    logger.warning("waiting for %d judgments that another process is paying for", len(missing))
                    waiting = True
                from_others = _wait_for_others(missing, cache, owner, timeout)
                tally.by_others += len(from_others)
                results.update(from_others)
        finally:
            cache.release(owner)
            batches.close()
    if running:
        raise BatchSubmitted(_submitted_message(running, len(by_key) - len(results)), running)
    return results


def collect_older_batches(todo: list[Planned], judge: Judge, cache: JudgmentCache, options: AnnotateOptions,
                          tally: Tally) -> bool:  # fmt: skip
    """Collect the open batches that hold these requests under an older key (submitted before endpoints were
    recorded): their answers are paid for, and are served like the other judgments of that time. Whether any was
    found."""
    older = [k for p in todo for k in p.older()]
    if not older or not cache.open_batches(older):
        return False
    owner, timeout = Owner.this_process(), lease_timeout()
    batches = Batches(judge, cache, options, tally, owner)
    try:
        _collect_open(older, batches, cache, owner, timeout)
    finally:
        cache.release(owner)
        batches.close()
    return True


def _collect_open(
    missing: list[str], batches: Batches, cache: JudgmentCache, owner: Owner, timeout: float
) -> tuple[dict[str, Judgment], list[str]]:
    """Collect the open batches that hold missing keys and that no other process is collecting: the judgments,
    and (when not waiting) the ids of those still running."""
    records = [b for b in cache.open_batches(missing) if cache.claim([b.lease], owner, timeout)]
    if not records:
        return {}, []
    try:
        found, _, still = batches.collect(records, wait=batches.options.wait)
    finally:
        cache.release(owner, [b.lease for b in records])
    return found, still


def _wait_for_others(missing: list[str], cache: JudgmentCache, owner: Owner, timeout: float) -> dict[str, Judgment]:
    """Wait while other processes pay for these keys: until some are judged, or some are free to take (their
    payer gave them up or died), or an open batch holding them is free to collect."""
    while True:
        time.sleep(WAIT_POLL)
        found = cache.get_many(missing)
        if found:
            return found
        if cache.claimable(missing, owner, timeout):
            return {}
        batches = [b.lease for b in cache.open_batches(missing)]
        if batches and cache.claimable(batches, owner, timeout):
            return {}


def _submitted_message(batch_ids: list[str], missing: int) -> str:
    return (f"{missing} judgments are in batches still running ({', '.join(sorted(set(batch_ids)))}); run the same "
            "command again to collect them (nothing is submitted twice)")  # fmt: skip


class _Heartbeat:
    """Keeps the owner's leases alive from a thread with its own connection, every `every` seconds."""

    def __init__(self, path: Path, owner: Owner, every: float) -> None:
        self._path, self._owner, self._every = path, owner, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alpaca-lc-lease-heartbeat", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            with JudgmentCache(self._path) as cache:  # a connection of its own: SQLite's are not for two threads
                while not self._stop.wait(self._every):
                    cache.heartbeat(self._owner)
        except (sqlite3.Error, InputError) as exc:  # the run goes on; its leases may be taken over after the timeout
            logger.warning("lease heartbeat stopped: %s", exc)
