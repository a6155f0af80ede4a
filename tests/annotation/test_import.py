"""`cache import` of AlpacaEval annotations, and evaluating with an imported judge (acceptance 2)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from click.testing import Result

from alpaca_lc.records.evalset import shuffled_head
from alpaca_lc.testing.openai_server import LocalServer

from .conftest import API_KEY, Workspace, write_workspace

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


def _alpaca_eval_files(shared: Path, model: str, root: Path) -> tuple[Path, Path]:
    rows = pd.read_parquet(shared / "annotations.parquet").query("model == @model").sort_values("index")
    annotations = root / "annotations.json"
    annotations.write_text(rows.drop(columns=["index", "model"]).to_json(orient="records"))
    outputs = root / "model_outputs.json"
    outputs.write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": model,
                                    "dataset": r.dataset} for r in rows.itertuples()]))  # fmt: skip
    return annotations, outputs


def test_imported_official_judgments_are_the_default_judge(shared: Path, tmp_path: Path) -> None:
    """AlpacaEval's own annotations and live judgments of the default judge are one judge: imported pairs cost
    nothing, the missing ones are asked with the same protocol."""
    annotations, outputs = _alpaca_eval_files(shared, "claude-2", tmp_path)
    records = json.loads(annotations.read_text())
    without_10 = tmp_path / "without_10.json"
    without_10.write_text(json.dumps(records[:100] + records[110:]))
    board = subprocess.run([sys.executable, "-m", "alpaca_lc", "leaderboard", str(shared / "annotations.parquet"),
                            "--format", "csv"], capture_output=True, text=True, check=True)  # fmt: skip
    expected = pd.read_csv(io.StringIO(board.stdout)).set_index("model").loc[["claude-2"]].reset_index()
    with LocalServer() as server:
        env = {**os.environ, "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
               "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": API_KEY}  # fmt: skip

        def cli(cache: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
            cmd = [sys.executable, "-m", "alpaca_lc", *map(str, args)]
            return subprocess.run(cmd, env={**env, "ALPACA_LC_CACHE": str(tmp_path / cache)}, capture_output=True,
                                  text=True, cwd=tmp_path, check=False)  # fmt: skip

        imported = cli("all.sqlite", "cache", "import", annotations)
        assert imported.returncode == 0 and "imported 805 new judgments" in imported.stdout
        start = time.perf_counter()
        evaluated = cli("all.sqlite", "evaluate", outputs, "--output-dir", "res", "--no-progress")
        seconds = time.perf_counter() - start
        assert evaluated.returncode == 0, evaluated.stderr
        assert server.stats().get("requests", 0) == 0
        row = pd.read_csv(tmp_path / "res" / "claude-2" / "weighted_alpaca_eval_gpt4_turbo" / "leaderboard.csv")
        pd.testing.assert_frame_equal(row, expected, check_dtype=False)
        assert "judge: weighted_alpaca_eval_gpt4_turbo (protocol ec705185d7eb)" in evaluated.stderr

        assert cli("part.sqlite", "cache", "import", without_10).returncode == 0
        partly = cli("part.sqlite", "evaluate", outputs, "--output-dir", "res2", "--no-progress", "--bootstrap", "0")
        assert partly.returncode == 0, partly.stderr
        assert server.stats()["requests"] == server.stats()["successes"] == 10
    # Fully cached, the official judge needs no AlpacaEval files; anything missing would need them (exit 2).
    empty = tmp_path / "empty"
    empty.mkdir()
    cached = cli("all.sqlite", "evaluate", outputs, "--output-dir", "res3", "--no-progress", "--bootstrap", "0")
    env["ALPACA_LC_ALPACA_EVAL_DIR"] = str(empty)
    offline = cli("all.sqlite", "evaluate", outputs, "--output-dir", "res3", "--no-progress", "--bootstrap", "0")
    assert cached.returncode == offline.returncode == 0, offline.stderr
    print(f"\nfully cached evaluate of claude-2: {seconds:.2f} s wall time; 10 removed: 10 requests")


def test_imported_judge_reports_missing_instead_of_asking(cli: Cli, tmp_path: Path) -> None:
    ws: Workspace = write_workspace(tmp_path, n=20)
    base = json.loads(ws.eval_set.read_text())
    outputs = json.loads(ws.outputs.read_text())
    chosen = shuffled_head(20, 15)  # the 15 that --max-instances 15 judges, as AlpacaEval picks them
    records = [
        {"instruction": base[i]["instruction"], "output_1": base[i]["output"], "output_2": outputs[i]["output"],
         "generator_2": "test-model", "annotator": "old_judge", "preference": 1.25}
        for i in chosen
    ]  # fmt: skip
    path = tmp_path / "old.json"
    path.write_text(json.dumps(records))
    assert cli("cache", "import", path, env=ws.env(None)).exit_code == 0
    stats = cli("cache", "stats", env=ws.env(None))
    assert "old_judge" in stats.stdout and "15" in stats.stdout
    out = tmp_path / "a.json"
    result = cli("annotate", ws.outputs, "--judge", "old_judge", "-o", out, "--no-progress", env=ws.env(None))
    assert result.exit_code == 3 and "5 of 20 judgments missing" in result.stderr and not out.exists()
    partial = cli("annotate", ws.outputs, "--judge", "old_judge", "--max-instances", "15", "-o", out,
                  "--no-progress", env=ws.env(None))  # fmt: skip
    assert partial.exit_code == 0 and {r["preference"] for r in json.loads(out.read_text())} == {1.25}


def test_debug_logs_never_show_the_key(workspace: Workspace) -> None:
    env = {**os.environ, **workspace.env(None)}
    cmd = [sys.executable, "-m", "alpaca_lc", "-vv", "annotate", str(workspace.outputs), "--max-instances", "3",
           "--max-attempts", "2", "--timeout", "1", "--no-progress", "-o", str(workspace.root / "a.json")]  # fmt: skip
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 3
    assert "DEBUG" in result.stderr or "INFO" in result.stderr  # the logs really were on
    assert API_KEY not in result.stderr + result.stdout
    assert API_KEY.encode() not in workspace.cache.read_bytes()
