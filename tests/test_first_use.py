"""What a new user meets first (issue 18, Why 4): dry runs without a key or a traceback, one Flags column, and
AlpacaEval's results layout named by its folders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main

from .conftest import Synthetic

RunCli = Callable[..., Result]
# A judge that lives at the provider (AlpacaEval 2.0's own model is retired there: a dry run of it stops, exit 2).
LIVING = ("--judge-model", "gpt-5.4-mini", "--answer", "verdict")


def _keyless(shared: Path, tmp_path: Path) -> dict[str, str | None]:
    """No key anywhere and OpenAI's own endpoint: anything that built a client would stop for the key."""
    return {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "ALPACA_LC_CACHE": str(tmp_path / "cache.sqlite"),
            "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl")}  # fmt: skip


def _invoke(env: dict[str, str | None], *args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def _outputs(shared: Path, path: Path, model: str, suffix: str) -> Path:
    records = [json.loads(line) for line in (shared / "eval_set.jsonl").read_text(encoding="utf-8").splitlines()]
    path.write_text(json.dumps([{"instruction": r["instruction"], "output": r["output"] + suffix, "generator": model}
                                for r in records]), encoding="utf-8")  # fmt: skip
    return path


@pytest.mark.parametrize("extra", [(), ("--subset", "tiny")])
def test_evaluate_dry_run_prints_an_estimate(shared: Path, tmp_path: Path, extra: tuple[str, ...]) -> None:
    outputs = _outputs(shared, tmp_path / "model_outputs.json", "mine", " (longer)")
    result = _invoke(_keyless(shared, tmp_path), "evaluate", outputs, "--dry-run", *LIVING, *extra)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.output
    calls = 100 if extra else 805
    assert f"dry run: {calls} judgments needed, 0 cached" in result.stdout
    assert not (tmp_path / "results").exists()  # nothing written


def test_gate_dry_run_needs_no_key(shared: Path, tmp_path: Path) -> None:
    new = _outputs(shared, tmp_path / "new.json", "release-2", " (new)")
    old = _outputs(shared, tmp_path / "old.json", "release-1", " (old)")
    result = _invoke(_keyless(shared, tmp_path), "gate", new, "--previous", old, "--dry-run", *LIVING)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.output
    # Both releases, 805 each, and the drift check's 100 (gpt-5.4-mini is an alias its provider can move).
    assert "dry run: 1710 judgments needed, 0 cached" in result.stdout


def test_evaluate_a_model_dry_run_needs_no_key(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _keyless(shared, tmp_path)
    monkeypatch.chdir(tmp_path)  # the results folder is relative
    result = _invoke(env, "evaluate", "--model", "gpt-4o-mini", "--dry-run", "--output-dir", tmp_path / "results",
                     *LIVING)  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 0, result.output
    assert "would generate 805 outputs with gpt-4o-mini" in result.stdout
    assert "dry run: 805 judgments needed" in result.stdout
    assert not (tmp_path / "results").exists()


def test_markdown_has_one_flags_column(run_cli: RunCli, synthetic: Synthetic) -> None:
    # The flagged model tops the board: its row is the first one.
    same = [dict(r, output_2="Same answer to everything.") for r in synthetic.annotations("parrot", 3.0)]
    path = synthetic.write("a.json", synthetic.annotations("fine", -1.0) + same)
    md = run_cli("leaderboard", path, "--calibration", synthetic.calibration, "--format", "md").stdout
    header = md.splitlines()[0]
    assert "repeated_output" in md and header.count("Flags") == 1, header
    assert all(line.count("|") == header.count("|") for line in md.splitlines() if line.startswith("|"))


def test_alpaca_eval_results_layout_is_named_by_folder(run_cli: RunCli, synthetic: Synthetic) -> None:
    """AlpacaEval writes `results/<model>/<judge>/annotations.json` and names the model by its folder: NullModel's
    annotations say `generator_2: example`."""
    for folder, quality in (("NullModel", -3.0), ("good-model", 1.0)):
        records = [dict(r, generator_2="example") for r in synthetic.annotations("x", quality)]
        synthetic.write(f"results/{folder}/test_judge/annotations.json", records)
    own = synthetic.annotations("named-in-records", 0.0)  # outside the layout: named by its records
    synthetic.write("elsewhere/annotations.json", own)
    csv = run_cli("leaderboard", synthetic.root / "results", synthetic.root / "elsewhere",
                  "--calibration", synthetic.calibration, "--bootstrap", "0").stdout  # fmt: skip
    models = set(pd.read_csv(pd.io.common.StringIO(csv)).model)
    assert models == {"NullModel", "good-model", "named-in-records"}
