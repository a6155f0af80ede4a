"""Coverage is part of every result: outputs that miss instructions are refused unless a partial run is asked for,
and a partial row says so; the gate never passes a release that does not cover what it is compared on."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import zero_calibration
from .conftest import Workspace

Cli = Callable[..., Result]


def _first(workspace: Workspace, n: int) -> Path:
    records = json.loads(workspace.outputs.read_text())[:n]
    path = workspace.root / f"first{n}.json"
    path.write_text(json.dumps(records))
    return path


def test_the_gate_refuses_a_release_that_covers_100_of_805(cli: Cli, workspace: Workspace, server: LocalServer
                                                             ) -> None:  # fmt: skip
    calibration = zero_calibration(workspace.eval_set, workspace.root / "cal.json")
    first100 = _first(workspace, 100)
    args = ("--calibration", calibration, "--no-progress", "--bootstrap", "100")
    result = cli("gate", first100, "--previous", workspace.outputs, *args, env=workspace.env(server))
    assert result.exit_code == 2, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "first100.json: covers 100 of the 805 instructions of the eval set" in error
    assert "the first missing is its record 101" in error
    assert server.stats().get("requests", 0) == 0  # refused before anything was paid for
    # Asked for explicitly, a partial release is judged, but still never compared on fewer than the previous covers.
    partial = cli("gate", first100, "--previous", workspace.outputs, "--allow-partial", *args,
                  env=workspace.env(server))  # fmt: skip
    assert partial.exit_code == 2 and "covers 100 of the 805 instructions the previous release" in partial.stderr
    assert server.stats().get("requests", 0) == 0
    # On its own (no previous release), a partial candidate says so in its summary.
    alone = cli("gate", first100, "--allow-partial", "--max-drop", "1", *args, env=workspace.env(server))
    assert "**Partial**: judged on 100 of 805 instructions of the eval set (--allow-partial)" in alone.stdout


def test_evaluate_of_three_records_is_refused_unless_partial(cli: Cli, workspace: Workspace, server: LocalServer,
                                                            tmp_path: Path) -> None:  # fmt: skip
    calibration = zero_calibration(workspace.eval_set, tmp_path / "cal.json")
    three = _first(workspace, 3)
    args = ("--calibration", calibration, "--output-dir", tmp_path / "res", "--no-progress", "--bootstrap", "100")
    refused = cli("evaluate", three, *args, env=workspace.env(server))
    assert refused.exit_code == 2 and "covers 3 of the 805 instructions" in refused.stderr
    assert not (tmp_path / "res").exists() and server.stats().get("requests", 0) == 0
    partial = cli("evaluate", three, "--allow-partial", *args, env=workspace.env(server))
    assert partial.exit_code == 0, partial.output
    assert "flag partial: judged on 3 of 805 instructions of the eval set (--allow-partial)" in partial.stdout
    (row,) = csv.DictReader((tmp_path / "res" / "test-model" / "weighted_alpaca_eval_gpt4_turbo" /
                             "leaderboard.csv").open())  # fmt: skip
    assert row["flags"].startswith("partial: judged on 3 of 805")
    # Scored again from the annotations it wrote, the row is still marked.
    board = cli("leaderboard", tmp_path / "res", "--calibration", calibration, "--bootstrap", "0", env={})
    assert board.exit_code == 0 and "partial: judged on 3 of 805" in board.stdout
    assert "1 model(s) judged on fewer than the eval set's 805 instructions: test-model 3" in board.stderr
