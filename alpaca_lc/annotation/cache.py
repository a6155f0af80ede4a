"""A persistent SQLite cache of judgments, shared safely by several processes.

Every judgment is committed the moment it arrives (WAL journal), so a crash loses nothing and a re-run
asks only for what is missing. Keys are versioned hashes of the canonical JSON of everything that
determines the answer: judge model, rendered messages, decoding parameters. AlpacaEval's evaluators, and
judgments imported from AlpacaEval annotations, are keyed as AlpacaEval keys them: judge name, instruction
and the two outputs (the name fixes the protocol; see `judge.py`), so imported and live judgments of one
evaluator are one judge. Failures are logged with their cause and never returned as results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from alpaca_lc.errors import InputError

ENV_CACHE = "ALPACA_LC_CACHE"
_OPEN_TIMEOUT = 60.0
KEY_VERSION = "v1"
IMPORT_KEY_VERSION = "import-v1"

_MIGRATIONS = [
    """
    CREATE TABLE judgments (
        key TEXT PRIMARY KEY,
        judge TEXT NOT NULL,
        source TEXT NOT NULL,            -- 'api' or 'import'
        p_first REAL,                    -- P(first shown is better), NULL for imports
        preference REAL NOT NULL,        -- AlpacaEval encoding, 2 = model (output_2) better
        model_first INTEGER,
        raw_completion TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost REAL NOT NULL DEFAULT 0,
        latency REAL,
        created REAL NOT NULL
    );
    CREATE INDEX judgments_judge ON judgments(judge);
    CREATE TABLE failures (
        key TEXT NOT NULL,
        judge TEXT NOT NULL,
        cause TEXT NOT NULL,
        message TEXT NOT NULL,
        created REAL NOT NULL
    );
    """,
    # Batches (one per uploaded input file; `id` is NULL until the batch is created) and the keys each covers,
    # and leases: the one process paying for a key, with its heartbeat.
    """
    CREATE TABLE batches (
        input_file_id TEXT PRIMARY KEY,
        id TEXT,
        judge TEXT NOT NULL,
        base_url TEXT,
        status TEXT NOT NULL,            -- 'uploaded', then the API's status
        collected INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL
    );
    CREATE TABLE batch_keys (
        input_file_id TEXT NOT NULL,
        key TEXT NOT NULL,
        model_first INTEGER NOT NULL,
        PRIMARY KEY (input_file_id, key)
    );
    CREATE INDEX batch_keys_key ON batch_keys(key);
    CREATE TABLE leases (
        key TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        heartbeat REAL NOT NULL
    );
    CREATE INDEX leases_owner ON leases(owner);
    """,
]


def default_cache_path() -> Path:
    """`$ALPACA_LC_CACHE`, else `judgments.sqlite` in the user's cache directory."""
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path(user_cache_dir("alpaca-lc")) / "judgments.sqlite"


def request_key(model: str, messages: list[dict[str, str]], decoding: dict[str, Any]) -> str:
    """Cache key of a judge request: a versioned hash of its canonical JSON."""
    payload = {"model": model, "messages": messages, "decoding": decoding}
    return f"{KEY_VERSION}:{_digest(payload)}"


def pair_key(judge: str, instruction: str, output_1: str, output_2: str, *, reversed_order: bool = False) -> str:
    """Cache key of a judgment by judge name, instruction and the two outputs (baseline first).

    Args:
        judge: the judge's name.
        instruction: the instruction.
        output_1: the baseline's output.
        output_2: the model's output.
        reversed_order: the pair shown in the order opposite to the judge's own rule (`--both-orders`).
    """
    fields = [judge, instruction, output_1, output_2, *(["reversed"] if reversed_order else [])]
    return f"{IMPORT_KEY_VERSION}:{_digest(fields)}"


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class JudgeStats:
    """What the cache holds for one judge: judgments and spend, live and batch."""

    judge: str
    judgments: int
    imported: int
    failures: int
    cost: float
    batch: int = 0
    batch_cost: float = 0.0


@dataclass(frozen=True)
class BatchRecord:
    """A batch the cache knows of: its input file, its id once created, and its judge and endpoint."""

    input_file_id: str
    id: str | None
    judge: str
    base_url: str | None
    status: str


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
            for i, script in enumerate(_MIGRATIONS[version:], start=version + 1):
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
                "SELECT key, judge, preference, raw_completion, prompt_tokens, completion_tokens, cost, latency, "
                f"source FROM judgments WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update({row[0]: Judgment(*row) for row in rows})
        return found

    def put(self, judgment: Judgment, *, p_first: float | None = None, model_first: bool | None = None) -> Judgment:
        """Store a judgment (committed at once) and return the stored one: the first writer's, if two raced."""
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO judgments (key, judge, source, p_first, preference, model_first, raw_completion, "
            "prompt_tokens, completion_tokens, cost, latency, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                judgment.key, judgment.judge, judgment.source, p_first, judgment.preference, model_first,
                judgment.raw_completion, judgment.prompt_tokens, judgment.completion_tokens, judgment.cost,
                judgment.latency, time.time(),
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

    def record_failure(self, key: str, judge: str, cause: str, message: str) -> None:
        """Log a failed attempt (never returned as a result)."""
        self._db.execute(
            "INSERT INTO failures (key, judge, cause, message, created) VALUES (?,?,?,?,?)",
            (key, judge, cause, message[:500], time.time()),
        )

    def has_judge(self, judge: str) -> bool:
        """Whether any judgment of `judge` is cached."""
        return self._db.execute("SELECT 1 FROM judgments WHERE judge = ? LIMIT 1", (judge,)).fetchone() is not None

    def stats(self) -> list[JudgeStats]:
        """Counts and spend per judge."""
        rows = self._db.execute(
            "SELECT judge, COUNT(*), SUM(source = 'import'), SUM(cost), SUM(source = 'batch'), "
            "SUM(CASE WHEN source = 'batch' THEN cost ELSE 0 END) FROM judgments GROUP BY judge ORDER BY judge"
        ).fetchall()
        failures = dict(self._db.execute("SELECT judge, COUNT(*) FROM failures GROUP BY judge").fetchall())
        return [JudgeStats(j, n, int(imp or 0), failures.get(j, 0), float(cost or 0), int(nb or 0), float(cb or 0))
                for j, n, imp, cost, nb, cb in rows]  # fmt: skip

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
                f"SELECT k.key FROM batch_keys k JOIN batches b ON b.input_file_id = k.input_file_id "
                f"WHERE b.collected = 0 AND k.key IN ({marks})", chunk))  # fmt: skip
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

    def record_upload(self, input_file_id: str, judge: str, base_url: str | None, keys: list[tuple[str, bool]],
                      owner: Owner) -> None:  # fmt: skip
        """A batch input file is uploaded: the keys it covers belong to it from now on (the owner's leases on
        them end in the same transaction), before anything waits on it."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO batches (input_file_id, id, judge, base_url, status, created) VALUES (?,?,?,?,?,?)",
                (input_file_id, None, judge, base_url, "uploaded", time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO batch_keys (input_file_id, key, model_first) VALUES (?,?,?)",
                [(input_file_id, k, int(first)) for k, first in keys],
            )
            self._db.executemany("DELETE FROM leases WHERE owner = ? AND key = ?", [(owner.name, k) for k, _ in keys])

    def record_batch(self, input_file_id: str, batch_id: str | None, status: str, collected: bool = False) -> None:
        """The batch created over a file (or its new status; collected: its answers are in the cache)."""
        self._db.execute("UPDATE batches SET id = COALESCE(?, id), status = ?, collected = ? WHERE input_file_id = ?",
                         (batch_id, status, int(collected), input_file_id))  # fmt: skip

    def open_batches(self, keys: list[str]) -> list[BatchRecord]:
        """The batches not yet collected that hold any of these keys."""
        found: dict[str, BatchRecord] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT DISTINCT b.input_file_id, b.id, b.judge, b.base_url, b.status FROM batches b JOIN batch_keys k "
                f"ON b.input_file_id = k.input_file_id WHERE b.collected = 0 AND k.key IN ({marks})",
                chunk,
            )
            found.update({row[0]: BatchRecord(*row) for row in rows})
        return list(found.values())

    def keys_of(self, input_file_id: str) -> dict[str, bool]:
        """The keys a batch covers, with whether the model's output was shown first."""
        rows = self._db.execute("SELECT key, model_first FROM batch_keys WHERE input_file_id = ?", (input_file_id,))
        return {key: bool(first) for key, first in rows}
