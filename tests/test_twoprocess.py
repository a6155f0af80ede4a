"""Reading on two cores: the later files in a forked child, and nothing lost or reordered when it fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from alpaca_lc.scoring import twoprocess
from alpaca_lc.scoring.twoprocess import map_in_two, split_point

from .conftest import Synthetic

PARENT = os.getpid()


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork whatever the size, in this (multi-threaded, pyarrow-importing) test process too."""
    monkeypatch.setattr(twoprocess, "MIN_COST", 0)
    monkeypatch.setattr(twoprocess, "fork_allowed", lambda **_: True)


def _where(items: Sequence[str]) -> list[tuple[str, bool]]:
    """Each item and whether it was worked on in this (the test's) process; "bad" raises, "die" kills a child."""
    for item in items:
        if item == "bad":
            raise ValueError("bad item")
        if item == "die" and os.getpid() != PARENT:
            os.kill(os.getpid(), signal.SIGKILL)
    return [(item, os.getpid() == PARENT) for item in items]


def test_the_cut_balances_the_two_parts() -> None:
    assert split_point([8, 1, 1, 1, 1, 1, 1, 1]) == 1
    assert split_point([1, 1, 1, 1]) == 2
    assert split_point([1, 1, 1, 9]) == 3


@pytest.mark.usefixtures("forking")
def test_the_later_items_are_worked_on_in_a_child_and_come_back_in_order() -> None:
    done = map_in_two(list("abcdef"), [1.0] * 6, _where)
    assert done == [("a", True), ("b", True), ("c", True), ("d", False), ("e", False), ("f", False)]
    twoprocess._reap()  # what exit does: a child whose result came back is reaped then, if not already
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


@pytest.mark.usefixtures("forking")
def test_a_killed_child_costs_only_time() -> None:
    done = map_in_two(["a", "b", "c", "die"], [1.0] * 4, _where)
    assert done == [("a", True), ("b", True), ("c", True), ("die", True)]  # the child's share redone here


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize("items", [["a", "b", "c", "bad"], ["bad", "a", "b", "c"]])
def test_an_error_in_either_share_reaches_the_caller_and_no_child_is_left(items: list[str]) -> None:
    twoprocess._reap()
    with pytest.raises(ValueError, match="bad item"):
        map_in_two(items, [1.0] * 4, _where)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child of this process, running or unreaped


def test_small_or_single_inputs_are_read_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twoprocess, "fork_allowed", lambda **_: True)
    assert all(here for _, here in map_in_two(list("abcd"), [1.0] * 4, _where))  # below MIN_COST
    monkeypatch.setattr(twoprocess, "MIN_COST", 0)
    assert map_in_two(["a"], [1.0], _where) == [("a", True)]


FORKING_CLI = (
    "import os, sys; from alpaca_lc import cli; from alpaca_lc.scoring import twoprocess, score; fork = os.fork\n"
    "twoprocess.MIN_COST = score._FORK_FROM_ROWS = 0\n"
    "def counted():\n    pid = fork()\n    if pid: print('forked', file=sys.stderr)\n    return pid\n"
    "os.fork = counted; sys.argv = ['alpaca-lc', *sys.argv[1:]]; cli.main()"
)  # the command as users run it (a fresh process: one thread, no pyarrow yet), forking whatever the size


@pytest.mark.parametrize("cache", ["off", "on"])
def test_a_leaderboard_read_in_two_processes_is_the_one_read_in_one(
    synthetic: Synthetic, tmp_path: Path, cache: str
) -> None:
    """The command forks a reader, then a fitter, and writes what one process writes. With the parse cache on,
    each process keeps its own files' entries, and a second run reads them all from there."""
    for i in range(6):
        synthetic.write(f"results/m{i}/annotations.json", synthetic.annotations(f"m{i}", seed=i))
    args = ["leaderboard", str(synthetic.root / "results"), "--calibration", str(synthetic.calibration)]
    args += ["--bootstrap", "0"]
    parsed = tmp_path / "parsed"
    env = {**os.environ, "ALPACA_LC_PARSED_CACHE": "off" if cache == "off" else str(parsed)}

    def run(*how: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *how, *args], env=env, capture_output=True, text=True, check=True)

    two = run("-c", FORKING_CLI)
    assert two.stderr.count("forked") == 2 and len(two.stdout.splitlines()) == 7
    if cache == "on":
        assert len(list(parsed.glob("*.npz"))) == 6  # three files' entries written by each process
    one = run("-m", "alpaca_lc")  # one process: files too small to fork for (and, cache on, all from entries)
    assert one.stdout == two.stdout


def test_no_fork_with_pyarrow_loaded_for_a_child_that_may_call_it() -> None:
    import pyarrow  # noqa: F401  (its thread pool would not be copied into a child)

    assert not twoprocess.fork_allowed()
    assert twoprocess.fork_allowed(child_uses_pyarrow=False) == (
        sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) >= 2 and threading.active_count() == 1
    )
