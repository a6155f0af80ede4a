"""`--subset`: judge only a subset's pairs against a real local judge, estimate the full set, and say so."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import zero_calibration
from .conftest import API_KEY, write_workspace

Cli = Callable[..., Result]


def _outputs(shared: Path, folder: Path, model: str, name: str) -> Path:
    """A shared model's 805 real outputs as a model_outputs.json under another name."""
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "instruction", "output_2"])
    rows = table[table.model == model]
    path = folder / f"{name}.json"
    path.write_text(json.dumps([{"instruction": i, "output": o, "generator": name}
                                for i, o in zip(rows.instruction, rows.output_2, strict=True)]))  # fmt: skip
    return path


def _env(shared: Path, folder: Path, server: LocalServer) -> dict[str, str]:
    return {"ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"), "ALPACA_LC_CACHE": str(folder / "cache.sqlite"),
            "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": server.base_url}  # fmt: skip


def test_evaluate_subset_tiny_judges_100_pairs_once_and_leaderboard_agrees(
    cli: Cli, shared: Path, tmp_path: Path, server: LocalServer
) -> None:
    outputs, env = _outputs(shared, tmp_path, "claude-2", "my-model"), _env(shared, tmp_path, server)
    args = ("evaluate", outputs, "--subset", "tiny", "--output-dir", tmp_path / "res", "--bootstrap", "100",
            "--no-progress")  # fmt: skip
    cold = cli(*args, env=env)
    assert cold.exit_code == 0, cold.output
    assert server.stats()["successes"] == 100
    assert "my-model: estimated from 100 of 805 instructions (subset tiny)" in cold.stdout
    folder = tmp_path / "res" / "my-model" / "weighted_alpaca_eval_gpt4_turbo"
    assert len(json.loads((folder / "annotations.json").read_text())) == 100
    row = pd.read_csv(folder / "leaderboard.csv").iloc[0]
    assert row["subset"] == "tiny" and row["n_total"] == 100 and row["avg_length"] > 0
    assert row["lc_ci_low"] < row["length_controlled_winrate"] < row["lc_ci_high"]
    warm = cli(*args, env=env)
    assert warm.exit_code == 0 and server.stats()["successes"] == 100  # nothing paid twice
    # The same judgments through `annotate --subset` then `leaderboard --subset --outputs`: the same row.
    annotated = tmp_path / "a.json"
    assert cli("annotate", outputs, "--subset", "tiny", "-o", annotated, "--no-progress", env=env).exit_code == 0
    assert server.stats()["successes"] == 100 and len(json.loads(annotated.read_text())) == 100
    board = cli("leaderboard", annotated, "--subset", "tiny", "--outputs", outputs, "--bootstrap", "100", env=env)
    assert board.exit_code == 0, board.output
    again = pd.read_csv(io.StringIO(board.stdout)).iloc[0]
    for column in ("length_controlled_winrate", "lc_ci_low", "lc_ci_high", "win_rate", "standard_error"):
        assert again[column] == pytest.approx(row[column], abs=1e-6)
    assert "estimated from 100 of 805" in board.stderr


def test_gate_compares_two_releases_on_the_same_subset(
    cli: Cli, shared: Path, tmp_path: Path, server: LocalServer
) -> None:
    env = _env(shared, tmp_path, server)
    (tmp_path / "before").mkdir()
    candidate = _outputs(shared, tmp_path, "claude-2", "release")
    previous = _outputs(shared, tmp_path / "before", "claude-2", "release")  # the same outputs: no change
    result = cli("gate", candidate, "--previous", previous, "--subset", "tiny", "--max-drop", "20", "--no-progress",
                 env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout and "estimated from 100 of 805" in result.stdout
    assert "LC change (paired, 100 shared instructions): +0.00" in result.stdout
    assert server.stats()["successes"] == 100  # same pairs: judged once


def test_subset_refusals_are_one_line_and_cost_nothing(
    cli: Cli, shared: Path, tmp_path: Path, server: LocalServer
) -> None:
    ws = write_workspace(tmp_path, n=30)  # instructions that are not AlpacaEval's
    env = ws.env(server)
    calibration = zero_calibration(ws.eval_set, tmp_path / "cal.json")  # so that only the subset is wrong
    other = cli("evaluate", ws.outputs, "--subset", "tiny", "--calibration", calibration, "--output-dir",
                tmp_path / "res", "--no-progress", env=env)  # fmt: skip
    assert other.exit_code == 2 and other.stderr.count("\n") == 1
    assert f"{ws.outputs}: record 1: instruction not in subset tiny's eval set" in other.stderr
    assert server.stats().get("requests", 0) == 0 and not (tmp_path / "res").exists()
    unknown = cli("annotate", ws.outputs, "--subset", "nosuch", env=env)
    assert unknown.exit_code == 2 and "no such subset file (bundled ones: tiny, small)" in unknown.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "alpaca-lc/subset-v1", "subset": []}')
    bad = cli("annotate", ws.outputs, "--subset", broken, env=env)
    assert bad.exit_code == 2 and f"{broken}: malformed subset file" in bad.stderr
    lonely = cli("leaderboard", ws.outputs, "--subset", "tiny", env=env)
    assert lonely.exit_code == 2 and "--subset and --outputs go together" in lonely.output
    annotations = tmp_path / "ann.json"
    annotations.write_text(json.dumps([{"instruction": "q", "output_1": "a", "output_2": "b", "generator_2": "m",
                                        "preference": 1.5}]))  # fmt: skip
    gate = cli("gate", annotations, "--subset", "tiny", env=env)
    assert gate.exit_code == 2 and "with --subset a release is its model outputs" in gate.stderr
    nothing = cli("leaderboard", annotations, "--subset", "tiny", "--outputs", ws.outputs, "--eval-set", ws.eval_set,
                  env=env)  # fmt: skip
    assert nothing.exit_code == 2 and "no --outputs file holds model 'm'" in nothing.stderr
