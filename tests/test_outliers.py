"""One outlier output: refused before it is paid for when it exceeds the judge's context, and flagged where it switches
length control off (the LC method stays AlpacaEval's, so its numbers stay on AlpacaEval's scale)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

RunCli = Callable[..., Result]
HUGE = "All work and no play makes Jack a dull boy. " * 116_280  # ~5 MB


@pytest.fixture(scope="module")
def claude2(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """claude-2's official annotations, and the same with one losing output replaced by 5 MB of text."""
    root = tmp_path_factory.mktemp("outlier")
    table = pd.read_parquet(shared / "annotations.parquet").query("model == 'claude-2'").reset_index(drop=True)
    clean, swollen = root / "clean.json", root / "swollen.json"
    table.drop(columns=["index"]).to_json(clean, orient="records")
    row = int(table.index[table.preference < 1.1][0])
    table.loc[row, "output_2"] = HUGE
    table.drop(columns=["index"]).to_json(swollen, orient="records")
    return clean, swollen, row + 1


def _lc(result: Result) -> tuple[float, str]:
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    return float(row["length_controlled_winrate"]), row["flags"]


def test_an_output_that_dominates_the_length_term_is_flagged(run_cli: RunCli, claude2: tuple[Path, Path, int]
                                                             ) -> None:  # fmt: skip
    clean, swollen, _ = claude2
    lc_clean, flags_clean = _lc(run_cli("leaderboard", clean, "--bootstrap", "0"))
    lc_swollen, flags = _lc(run_cli("leaderboard", swollen, "--bootstrap", "0"))
    assert round(lc_clean, 1) == 31.6 and not flags_clean
    assert round(lc_swollen, 1) == 17.3  # AlpacaEval's method does the same: kept, and flagged
    assert flags.startswith("length_outlier: 1 output(s) over 20x the median length") and "5,116,320" in flags
    assert "switch length control off" in flags


def test_an_output_beyond_the_judges_context_is_refused_before_paying(run_cli: RunCli, shared: Path,
                                                                       claude2: tuple[Path, Path, int],
                                                                       tmp_path: Path) -> None:  # fmt: skip
    _, swollen, record = claude2
    outputs = [{"instruction": r["instruction"], "output": r["output_2"], "generator": "claude-2"}
               for r in json.loads(swollen.read_text())]  # fmt: skip
    path = tmp_path / "model_outputs.json"
    path.write_text(json.dumps(outputs))
    base = ("annotate", path, "--eval-set", shared / "eval_set.jsonl", "--cache", tmp_path / "c.sqlite", "--dry-run",
            "--allow-partial")  # fmt: skip
    for judge, window in ((("--judge-model", "gpt-4.1-2025-04-14"), "1,047,576"), ((), "128,000")):
        result = run_cli(*base, *judge)
        assert result.exit_code == 2, result.output
        (line,) = result.stderr.strip().splitlines()
        assert f"model_outputs.json: record {record}: this output (5,116,320 characters)" in line
        assert f"context window of {window}" in line
    unknown = run_cli(*base, "--judge-model", "my-local-judge", "--judge-context-tokens", "32768")
    assert unknown.exit_code == 2 and "my-local-judge's context window of 32,768" in unknown.stderr
