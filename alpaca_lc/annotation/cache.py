"""A persistent SQLite cache of judgments, shared safely by several processes.

Every judgment is committed the moment it arrives (WAL journal), so a crash loses nothing and a re-run asks only
for what is missing. Judgments are stored under their keys (`keys`: the endpoint, the judge and the request);
judgments made before endpoints were recorded stay where they are and are still served, said once per run
(`--strict-endpoint` refuses them). The schema is `schema`'s migrations. Failures are logged with their cause
and never returned as results.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from alpaca_lc.annotation.schema import MIGRATIONS
from alpaca_lc.errors import InputError

ENV_CACHE = "ALPACA_LC_CACHE"
_OPEN_TIMEOUT = 60.0


def default_cache_path() -> Path:
    """`$ALPACA_LC_CACHE`, else `judgments.sqlite` in the user's cache directory."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path(user_cache_dir("alpaca-lc")) / "judgments.sqlite"


@dataclass(frozen=True)
class Judgment:
    """One cached judgment."""

    key: str
    judge: str
    preference: float
    raw_completion: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float
    latency: float | None
    source: str
    endpoint: str | None = None  # `calls.endpoint_identity` of the service that made it (None: unrecorded)
    created: float | None = None  # when it was stored (seconds since the epoch)
    reasoning_tokens: int | None = None  # of `completion_tokens`, a reasoning model's hidden reasoning


_JUDGMENT_COLUMNS = ("key, judge, preference, raw_completion, prompt_tokens, completion_tokens, cost, latency, source, "
                     "endpoint, created, reasoning_tokens")  # fmt: skip
_ALL_COLUMNS = ("key, judge, source, p_first, preference, model_first, raw_completion, prompt_tokens, "
                "completion_tokens, cost, latency, created, endpoint, reasoning_tokens")  # fmt: skip


@dataclass(frozen=True)
class JudgeStats:
    """What the cache holds for one judge: judgments and spend, live and batch."""

    judge: str
    judgments: int
    imported: int
    failures: int
    cost: float  # what its judgments cost, and the failed requests that were billed all the same
    batch: int = 0
    batch_cost: float = 0.0
    reasoning_tokens: int = 0  # hidden reasoning, billed within the completion tokens


@dataclass(frozen=True)
class BatchRecord:
    """A batch the cache knows of: its endpoint ('' for one recorded before endpoints were), its input file, its id
    once created, and its judge."""

    endpoint: str
    input_file_id: str
    id: str | None
    judge: str
    base_url: str | None
    status: str

    @property
    def lease(self) -> str:
        """The lease key of collecting it (one process collects a batch)."""
        return f"batch:{self.endpoint}:{self.input_file_id}"


@dataclass(frozen=True)
class Owner:
    """A process that pays for judgments: its lease holder name, host and pid."""

    name: str
    host: str
    pid: int

    @staticmethod
    def this_process() -> Owner:
        host = socket.gethostname()
        return Owner(f"{host}:{os.getpid()}:{os.urandom(4).hex()}", host, os.getpid())

    def alive(self) -> bool:
        """Whether this owner's process still runs (on this host; another host's is judged by its heartbeat)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class JudgmentCache:
    """The SQLite judgment cache. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        deadline = time.monotonic() + _OPEN_TIMEOUT
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA busy_timeout = 60000")
                # Switching a new file to WAL needs it to itself, and SQLite does not wait for that (busy_timeout
                # does not apply): two runs creating one cache at once retry here.
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._migrate()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise InputError(f"cannot open the judgment cache: {exc}", path=path) from None
                self._db.close()
                time.sleep(random.uniform(0.02, 0.1))
            except sqlite3.DatabaseError as exc:
                raise InputError(f"cannot open the judgment cache: {exc}", path=path) from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, taken at once (IMMEDIATE): committed whole, or rolled back whole."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _migrate(self) -> None:
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for i, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {i}")

    def __enter__(self) -> JudgmentCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def get_many(self, keys: list[str]) -> dict[str, Judgment]:
        """The cached judgments among `keys`."""
        found: dict[str, Judgment] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT {_JUDGMENT_COLUMNS} FROM judgments WHERE key IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            found.update({row[0]: Judgment(*row) for row in rows})
        return found

    def put(self, judgment: Judgment, *, p_first: float | None = None, model_first: bool | None = None) -> Judgment:
        """Store a judgment (committed at once) and return the stored one: the first writer's, if two raced."""
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO judgments (key, judge, source, p_first, preference, model_first, raw_completion, "
            "prompt_tokens, completion_tokens, cost, latency, created, endpoint, reasoning_tokens) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                judgment.key, judgment.judge, judgment.source, p_first, judgment.preference, model_first,
                judgment.raw_completion, judgment.prompt_tokens, judgment.completion_tokens, judgment.cost,
                judgment.latency, time.time(), judgment.endpoint, judgment.reasoning_tokens,
            ),
        )  # fmt: skip
        if inserted.rowcount == 1:  # ours is the stored one; else another process stored it first
            return judgment
        return self.get_many([judgment.key])[judgment.key]

    def put_imports(self, judgments: list[Judgment]) -> int:
        """Store imported judgments in one transaction; returns how many were new."""
        before = self._db.total_changes
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO judgments (key, judge, source, preference, raw_completion, cost, created) "
                "VALUES (?,?,?,?,?,?,?)",
                [(j.key, j.judge, "import", j.preference, j.raw_completion, j.cost, time.time()) for j in judgments],
            )
        return self._db.total_changes - before

    def record_failure(self, key: str, judge: str, cause: str, message: str, cost: float = 0.0) -> None:
        """Log a failed attempt (never returned as a result), with what it cost when it was billed all the same."""
        self._db.execute(
            "INSERT INTO failures (key, judge, cause, message, created, cost) VALUES (?,?,?,?,?,?)",
            (key, judge, cause, message[:500], time.time(), cost),
        )

    def supersede(self, keys: list[str], before: float) -> int:
        """Stop serving the judgments of these keys made before `before` (seconds since the epoch): they move to
        the `superseded` table, kept for the record. How many moved."""
        moved = 0
        with self._transaction():
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                where = f"key IN ({marks}) AND created < ?"
                self._db.execute(f"INSERT INTO superseded ({_ALL_COLUMNS}, superseded) SELECT {_ALL_COLUMNS}, ? FROM "
                                 f"judgments WHERE {where}", [time.time(), *chunk, before])  # fmt: skip
                moved += self._db.execute(f"DELETE FROM judgments WHERE {where}", [*chunk, before]).rowcount
        return moved

    def has_judge(self, judge: str) -> bool:
        """Whether any judgment of `judge` is cached."""
        return self._db.execute("SELECT 1 FROM judgments WHERE judge = ? LIMIT 1", (judge,)).fetchone() is not None

    def stats(self) -> list[JudgeStats]:
        """Counts and spend per judge."""
        rows = self._db.execute(
            "SELECT judge, COUNT(*), SUM(source = 'import'), SUM(cost), SUM(source = 'batch'), "
            "SUM(CASE WHEN source = 'batch' THEN cost ELSE 0 END), SUM(reasoning_tokens) FROM judgments "
            "GROUP BY judge ORDER BY judge"
        ).fetchall()
        failures = {j: (n, c) for j, n, c in self._db.execute(
            "SELECT judge, COUNT(*), SUM(cost) FROM failures GROUP BY judge").fetchall()}  # fmt: skip
        return [JudgeStats(j, n, int(imp or 0), failures.get(j, (0, 0))[0],
                           float(cost or 0) + float(failures.get(j, (0, 0))[1] or 0), int(nb or 0), float(cb or 0),
                           int(reasoning or 0)) for j, n, imp, cost, nb, cb, reasoning in rows]  # fmt: skip

    def mean_reasoning_tokens(self, judge: str) -> tuple[float, int] | None:
        """The mean hidden reasoning tokens of a judge's cached judgments, and how many had any (None: none)."""
        mean, n = self._db.execute("SELECT AVG(reasoning_tokens), COUNT(*) FROM judgments WHERE judge = ? AND "
                                   "reasoning_tokens > 0", (judge,)).fetchone()  # fmt: skip
        return None if not n else (float(mean), int(n))

    def mean_completion_tokens(self, judge: str) -> tuple[float, int] | None:
        """The mean completion tokens of a judge's cached judgments, and how many (None: none)."""
        mean, n = self._db.execute("SELECT AVG(completion_tokens), COUNT(*) FROM judgments WHERE judge = ? AND "
                                   "completion_tokens > 0", (judge,)).fetchone()  # fmt: skip
        return None if not n else (float(mean), int(n))

    def endpoints(self) -> list[tuple[str, str, int]]:
        """(judge, endpoint, judgments) for every endpoint a judge's judgments came from: the endpoint's identity,
        "imported", or "unrecorded" (made before endpoints were recorded)."""
        return [(str(j), str(e), int(n)) for j, e, n in self._db.execute(
            "SELECT judge, COALESCE(endpoint, CASE WHEN source = 'import' THEN 'imported' ELSE 'unrecorded' END) AS e, "
            "COUNT(*) FROM judgments GROUP BY judge, e ORDER BY judge, e")]  # fmt: skip

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check."""
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def claim(self, keys: list[str], owner: Owner, timeout: float) -> list[str]:
        """Lease the keys that nobody else may be paying for: not judged, in no open batch, and without a live
        lease of another process (a lease whose process is gone, or silent for `timeout` seconds, is taken over)."""
        now = time.time()
        with self._transaction():
            taken = self._free(keys, owner, now, timeout)
            self._db.executemany("INSERT OR REPLACE INTO leases (key, owner, host, pid, heartbeat) VALUES (?,?,?,?,?)",
                                 [(k, owner.name, owner.host, owner.pid, now) for k in taken])  # fmt: skip
        return taken

    def _free(self, keys: list[str], owner: Owner, now: float, timeout: float) -> list[str]:
        held: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            held.update(k for (k,) in self._db.execute(f"SELECT key FROM judgments WHERE key IN ({marks})", chunk))
            held.update(k for (k,) in self._db.execute(
                "SELECT k.key FROM batch_keys k JOIN batches b ON b.endpoint = k.endpoint AND "
                f"b.input_file_id = k.input_file_id WHERE b.collected = 0 AND k.key IN ({marks})", chunk))  # fmt: skip
            for key, name, host, pid, beat in self._db.execute(
                f"SELECT key, owner, host, pid, heartbeat FROM leases WHERE key IN ({marks})", chunk
            ):
                if name != owner.name and now - beat < timeout and Owner(name, host, pid).alive():
                    held.add(key)
        return [k for k in keys if k not in held]

    def claimable(self, keys: list[str], owner: Owner, timeout: float) -> list[str]:
        """The keys `claim` would lease now (nothing is written)."""
        return self._free(keys, owner, time.time(), timeout)

    def heartbeat(self, owner: Owner) -> None:
        """Keep the owner's leases alive."""
        self._db.execute("UPDATE leases SET heartbeat = ? WHERE owner = ?", (time.time(), owner.name))

    def release(self, owner: Owner, keys: list[str] | None = None) -> None:
        """Give up the owner's leases (on these keys, or all)."""
        if keys is None:
            self._db.execute("DELETE FROM leases WHERE owner = ?", (owner.name,))
        else:
            self._db.executemany("DELETE FROM leases WHERE owner = ? AND key = ?", [(owner.name, k) for k in keys])

    def record_upload(self, record: BatchRecord, keys: list[tuple[str, bool]], owner: Owner) -> None:
        """A batch input file is uploaded: the keys it covers belong to it from now on (the owner's leases on
        them end in the same transaction), before anything waits on it."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO batches (endpoint, input_file_id, id, judge, base_url, status, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (record.endpoint, record.input_file_id, None, record.judge, record.base_url, "uploaded", time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO batch_keys (endpoint, input_file_id, key, model_first) VALUES (?,?,?,?)",
                [(record.endpoint, record.input_file_id, k, int(first)) for k, first in keys],
            )
            self._db.executemany("DELETE FROM leases WHERE owner = ? AND key = ?", [(owner.name, k) for k, _ in keys])

    def record_batch(self, record: BatchRecord, batch_id: str | None, status: str, collected: bool = False) -> None:
        """The batch created over a file (or its new status; collected: its answers are in the cache)."""
        self._db.execute("UPDATE batches SET id = COALESCE(?, id), status = ?, collected = ? WHERE endpoint = ? AND "
                         "input_file_id = ?", (batch_id, status, int(collected), record.endpoint,
                                               record.input_file_id))  # fmt: skip

    def open_batches(self, keys: list[str]) -> list[BatchRecord]:
        """The batches not yet collected that hold any of these keys."""
        found: dict[tuple[str, str], BatchRecord] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT DISTINCT b.endpoint, b.input_file_id, b.id, b.judge, b.base_url, b.status FROM batches b "
                "JOIN batch_keys k ON b.endpoint = k.endpoint AND b.input_file_id = k.input_file_id "
                f"WHERE b.collected = 0 AND k.key IN ({marks})",
                chunk,
            )
            found.update({(row[0], row[1]): BatchRecord(*row) for row in rows})
        return list(found.values())

    def keys_of(self, record: BatchRecord) -> dict[str, bool]:
        """The keys a batch covers, with whether the model's output was shown first."""
        rows = self._db.execute("SELECT key, model_first FROM batch_keys WHERE endpoint = ? AND input_file_id = ?",
                                (record.endpoint, record.input_file_id))  # fmt: skip
        return {key: bool(first) for key, first in rows}
