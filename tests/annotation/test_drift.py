"""Judge drift in the gate, against the test server: a judge switched to other verdicts is caught on a re-judged
sample of the previous release; without drift the gate passes as before."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from click.testing import Result

from alpaca_lc.stats.drift import alarm_threshold, flip_test
from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import zero_calibration
from .conftest import Workspace

Cli = Callable[..., Result]


def _gate(cli: Cli, workspace: Workspace, server: LocalServer, *extra: str | Path) -> Result:
    calibration = zero_calibration(workspace.eval_set, workspace.root / "cal.json")
    return cli("gate", workspace.outputs, "--previous", workspace.outputs, "--max-instances", "120", "--calibration",
               calibration, "--bootstrap", "200", "--no-progress", "--max-drop", "5", *extra,
               env=workspace.env(server))  # fmt: skip


def test_without_drift_the_gate_passes_as_before(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    with LocalServer() as server:
        first = _gate(cli, workspace, server)  # judged just now by a pinned model: no check is due
        assert first.exit_code == 0 and "Judge drift check" not in first.stdout, first.output
        same = _gate(cli, workspace, server, "--check-drift", "--json", tmp_path / "same.json")
        assert same.exit_code == 0, same.output
        assert "re-judged verdicts of the previous release flipped (tolerance 2%" in same.stdout
        assert "0 of " in same.stdout and ": no drift." in same.stdout
        check = json.loads((tmp_path / "same.json").read_text())["drift"]
        assert check["test"]["flips"] == 0 and check["test"]["compared"] >= 70  # near-ties are no verdict
        paid = server.stats()["successes"]
        again = _gate(cli, workspace, server, "--check-drift")  # the same day: the re-judged sample is cached
        assert again.exit_code == 0 and server.stats()["successes"] == paid


def test_a_judge_that_changed_its_verdicts_is_caught(cli: Cli, workspace: Workspace) -> None:
    with LocalServer() as server:
        assert _gate(cli, workspace, server).exit_code == 0  # the previous release judged
        server.configure(drift=0.3)  # the provider moved the model behind the name
        drifted = _gate(cli, workspace, server, "--check-drift")
        assert drifted.exit_code == 3, drifted.output
        (error,) = [line for line in drifted.stderr.splitlines() if line.startswith("error:")]
        assert error.startswith("error: judge drift: re-judged, ") and "--rejudge-on-drift" in error
        assert "## alpaca-lc release gate" not in drifted.stdout
        rejudged = _gate(cli, workspace, server, "--check-drift", "--rejudge-on-drift")
        assert rejudged.exit_code == 0, rejudged.output
        assert "the judge **drifted**" in rejudged.stdout and "earlier judgments superseded" in rejudged.stdout


def test_an_alias_is_checked_whatever_the_age(cli: Cli, workspace: Workspace) -> None:
    with LocalServer() as server:
        result = _gate(cli, workspace, server, "--judge-model", "gpt-4o")
        assert result.exit_code == 0, result.output
        assert "Judge drift check (gpt-4o is an alias its provider can move)" in result.stdout
        skipped = _gate(cli, workspace, server, "--judge-model", "gpt-4o", "--no-check-drift")
        assert "Judge drift check" not in skipped.stdout


def test_the_check_keeps_its_false_alarm_rate_and_catches_a_judge_that_flips_10_percent() -> None:
    """200 simulated runs each: an unchanged judge that disagrees with itself 2% of the time, and one that flips 10%
    of its verdicts more (`benchmarks/drift_check.py` prints the figures)."""
    rng = np.random.default_rng(0)
    old = np.where(rng.random((200, 100)) < 0.5, 1.1, 1.9)

    def alarms(flip_rate: float) -> float:
        flips = rng.random(old.shape) < flip_rate
        new = np.where(flips, 3.0 - old, old)
        return float(np.mean([flip_test(o, n, 0.02).drifted for o, n in zip(old, new, strict=True)]))

    assert alarm_threshold(100, 0.02) == 6
    assert alarms(0.02) <= 0.05
    assert alarms(0.02 + 0.10 * (1 - 2 * 0.02)) >= 0.85
