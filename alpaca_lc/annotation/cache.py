"""A persistent SQLite cache of judgments, shared safely by several processes.

Every judgment is committed the moment it arrives (WAL journal), so a crash loses nothing and a re-run
asks only for what is missing. Keys are versioned hashes of the canonical JSON of everything that
determines the answer: judge model, rendered messages, decoding parameters. AlpacaEval's evaluators, and
judgments imported from AlpacaEval annotations, are keyed as AlpacaEval keys them: judge name, instruction
and the two outputs (the name fixes the protocol; see `judge.py`), so imported and live judgments of one
evaluator are one judge. Failures are logged with their cause and never returned as results.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import time
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
    """What the cache holds for one judge."""

    judge: str
    judgments: int
    imported: int
    failures: int
    cost: float


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

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for i, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {i}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

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
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO judgments (key, judge, source, preference, raw_completion, cost, created) "
                "VALUES (?,?,?,?,?,?,?)",
                [(j.key, j.judge, "import", j.preference, j.raw_completion, j.cost, time.time()) for j in judgments],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
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
            "SELECT judge, COUNT(*), SUM(source = 'import'), SUM(cost) FROM judgments GROUP BY judge ORDER BY judge"
        ).fetchall()
        failures = dict(self._db.execute("SELECT judge, COUNT(*) FROM failures GROUP BY judge").fetchall())
        return [JudgeStats(j, n, int(imp or 0), failures.get(j, 0), float(cost or 0)) for j, n, imp, cost in rows]

    def integrity_ok(self) -> bool:
        """SQLite's own integrity check."""
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
