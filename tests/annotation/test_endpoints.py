"""The endpoint is part of a judgment's identity: one service's judgments are never served for another's, unless the
user says they are one service; caches made before endpoints were recorded keep serving what they hold, said once."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from alpaca_lc.annotation.cache import JudgmentCache
from alpaca_lc.testing.openai_server import LocalServer

from .conftest import Workspace

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]
LAST_RELEASE = "d49516a"  # the last commit before endpoints were recorded (cache schema 2)


def _as_localhost(server: LocalServer) -> str:
    """The same server under another host name: another endpoint, as a provider's would be."""
    return server.base_url.replace("127.0.0.1", "localhost")


def test_judgments_are_not_served_across_endpoints(cli: Cli, workspace: Workspace) -> None:
    args = ("annotate", workspace.outputs, "--max-instances", "40", "--no-progress")
    with LocalServer() as fake, LocalServer() as provider:
        first = cli(*args, "-o", workspace.root / "a.json", env=workspace.env(fake))
        assert first.exit_code == 0 and fake.stats()["successes"] == 40
        other = {**workspace.env(provider), "OPENAI_BASE_URL": _as_localhost(provider)}
        second = cli(*args, "-o", workspace.root / "b.json", env=other)
        assert second.exit_code == 0, second.output
        assert provider.stats()["successes"] == 40  # judged anew: the first server's judgments are not this one's
        assert "40 needed, 0 cached" in second.stderr
        # Said to be one service, the first endpoint's judgments are served for the other.
        third = cli(*args, "-o", workspace.root / "c.json", "--same-endpoint", fake.base_url,
                    env={**workspace.env(provider), "OPENAI_BASE_URL": _as_localhost(fake)})  # fmt: skip
        assert third.exit_code == 0 and "40 needed, 40 cached" in third.stderr
    with JudgmentCache(workspace.cache) as cache:
        endpoints = {e for _, e, _ in cache.endpoints()}
    assert endpoints == {"http://127.0.0.1/v1", "http://localhost/v1"}


def test_batches_on_two_endpoints_share_one_cache(cli: Cli, workspace: Workspace) -> None:
    args = ("annotate", workspace.outputs, "--max-instances", "30", "--no-progress", "--batch")
    with LocalServer(batch_delay_s=0.2) as a, LocalServer(batch_delay_s=0.2) as b:
        first = cli(*args, "-o", workspace.root / "a.json", env=workspace.env(a))
        second = cli(*args, "-o", workspace.root / "b.json",
                     env={**workspace.env(b), "OPENAI_BASE_URL": _as_localhost(b)})  # fmt: skip
        assert first.exit_code == 0 and second.exit_code == 0, second.output
        # Both servers number their first file "file-1": the batches are told apart by endpoint.
        assert a.stats()["batch_answered"] == 30 and b.stats()["batch_answered"] == 30


def _last_release(tmp_path: Path) -> Path:
    """The package as it was before endpoints were recorded, from the repository's history."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of the repository")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", LAST_RELEASE, "alpaca_lc"], capture_output=True,
                             check=False)  # fmt: skip
    if archive.returncode != 0:
        pytest.skip(f"commit {LAST_RELEASE} is not in this clone's history")
    folder = tmp_path / "last_release"
    folder.mkdir()
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def test_a_cache_of_the_last_release_migrates_and_keeps_serving(cli: Cli, workspace: Workspace,
                                                                tmp_path: Path) -> None:  # fmt: skip
    old = _last_release(tmp_path)
    args = ["annotate", str(workspace.outputs), "--max-instances", "50", "--no-progress"]
    with LocalServer() as server:
        env = {**os.environ, **workspace.env(server), "PYTHONPATH": str(old)}
        made = subprocess.run([sys.executable, "-m", "alpaca_lc", *args, "-o", str(tmp_path / "old.json")], env=env,
                              cwd=old, capture_output=True, text=True, check=False)  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert server.stats()["successes"] == 50
        with contextlib.closing(sqlite3.connect(workspace.cache)) as db:  # made by the last release's code
            assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        # The new release opens it, migrates it, and serves every old judgment with one note.
        again = cli(*args, "-o", tmp_path / "new.json", env=workspace.env(server))
        assert again.exit_code == 0 and server.stats()["successes"] == 50, again.output
        assert "50 needed, 50 cached" in again.stderr
        notes = [line for line in again.stderr.splitlines() if "before this cache recorded endpoints" in line]
        assert len(notes) == 1 and notes[0].startswith("50 cached judgments were made before")
        assert (tmp_path / "new.json").read_text() == (tmp_path / "old.json").read_text()
        # --strict-endpoint refuses them: they are judged again, now with their endpoint.
        strict = cli(*args, "-o", tmp_path / "strict.json", "--strict-endpoint", env=workspace.env(server))
        assert strict.exit_code == 0 and server.stats()["successes"] == 100
        # What was judged after the migration is not served at another endpoint; the old ones still are.
        with LocalServer() as elsewhere:
            moved = {**workspace.env(elsewhere), "OPENAI_BASE_URL": _as_localhost(elsewhere)}
            other = cli(*args, "-o", tmp_path / "other.json", env=moved)
            assert other.exit_code == 0 and elsewhere.stats().get("successes", 0) == 0
            assert re.search(r"50 needed, 50 cached", other.stderr)  # the unrecorded ones, served as before
            strict_elsewhere = cli(*args, "-o", tmp_path / "o2.json", "--strict-endpoint", env=moved)
            assert strict_elsewhere.exit_code == 0 and elsewhere.stats()["successes"] == 50
    with JudgmentCache(workspace.cache) as cache:
        assert cache.integrity_ok()
        counts = {e: n for _, e, n in cache.endpoints()}
    assert counts == {"unrecorded": 50, "http://127.0.0.1/v1": 50, "http://localhost/v1": 50}
