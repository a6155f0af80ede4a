"""`alpaca-lc gate` on real annotations: decisions, intervals, screening, and its three output formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main

from .conftest import Synthetic

RunCli = Callable[..., Result]
MODELS = ["claude-2", "claude", "vicuna-7b-v1.5", "vicuna-7b-v1.3", "gpt-3.5-turbo-1106", "gpt35_turbo_instruct",
          "NullModel"]  # fmt: skip


@pytest.fixture(scope="module")
def releases(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("releases")
    table = pd.read_parquet(shared / "annotations.parquet").query("model in @MODELS")
    paths = {}
    for model, group in table.groupby("model"):
        paths[str(model)] = root / f"{model}.json"
        group.drop(columns=["index", "model"]).to_json(paths[str(model)], orient="records")
    return paths


def test_a_release_against_itself_passes(run_cli: RunCli, releases: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "gate.json"
    result = run_cli("gate", releases["claude-2"], "--previous", releases["claude-2"], "--json", out, "--min-lc", "20")
    assert result.exit_code == 0, result.output
    decision = json.loads(out.read_text())
    assert decision["outcome"] == "pass" and decision["paired"]["lc_difference"] == 0
    assert result.stdout.startswith("## alpaca-lc release gate: ✅ PASS")


@pytest.mark.parametrize(
    ("candidate", "previous"),
    [("claude-2", "claude"), ("vicuna-7b-v1.5", "vicuna-7b-v1.3"), ("gpt-3.5-turbo-1106", "gpt35_turbo_instruct")],
)
def test_decisions_with_intervals(run_cli: RunCli, releases: dict[str, Path], tmp_path: Path, candidate: str,
                                  previous: str) -> None:  # fmt: skip
    out, junit, md = tmp_path / "g.json", tmp_path / "g.xml", tmp_path / "summary.md"
    result = run_cli("gate", releases[candidate], "--previous", releases[previous], "--json", out, "--junit", junit,
                     "--summary-md", md, "--on-inconclusive", "pass")  # fmt: skip
    decision = json.loads(out.read_text())
    low, high = decision["paired"]["lc_difference_interval"]
    assert low <= decision["paired"]["lc_difference"] <= high and high - low < 10
    assert decision["outcome"] in ("pass", "fail", "inconclusive") and result.exit_code == decision["exit_code"]
    paired = decision["paired"]
    assert paired["detectable_drop_80"] == pytest.approx(2.4865 * paired["lc_difference_se"], rel=1e-3)
    print(f"\n{candidate} vs {previous}: {decision['outcome']}, LC change {paired['lc_difference']:+.2f} "
          f"[{low:+.2f}, {high:+.2f}], SE {paired['lc_difference_se']:.2f}, "
          f"80%-power drop {paired['detectable_drop_80']:.1f}")  # fmt: skip
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite" and {c.get("name") for c in suite} == {"screening", "max_drop"}
    assert md.read_text().startswith("## alpaca-lc release gate:")
    if decision["outcome"] == "inconclusive":
        assert "more instructions would settle it" in result.stdout
        strict = run_cli("gate", releases[candidate], "--previous", releases[previous], "--on-inconclusive", "fail")
        assert strict.exit_code == 1


def test_null_model_is_flagged_and_fails(run_cli: RunCli, releases: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    result = run_cli("gate", releases["NullModel"], "--json", out)
    assert result.exit_code == 1
    decision = json.loads(out.read_text())
    assert {f["name"] for f in decision["candidate"]["flags"]} == {"repeated_output", "template_imitation"}
    allowed = run_cli("gate", releases["NullModel"], "--allow-flagged")
    assert allowed.exit_code == 0 and "template_imitation" in allowed.stdout


def test_bad_input(run_cli: RunCli, releases: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("gate", tmp_path / "missing.json")
    assert result.exit_code == 2 and "missing.json" in result.stderr


def test_uncovered_instructions_fail_before_any_judgment(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    outputs = synthetic.write("outputs.json", [{"instruction": s, "output": "x"} for s in synthetic.instructions])
    # The bundled calibration knows none of these instructions; the judge endpoint is a closed port, so any
    # attempt to judge would end in exit 3 (connection), not 2.
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ALPACA_LC_CACHE": str(tmp_path / "c")}
    result = CliRunner().invoke(main, ["gate", str(outputs), "--eval-set", str(synthetic.eval_set)], env=env)
    assert result.exit_code == 2 and "another eval set" in result.stderr


def test_sample_files_pool_per_instruction(run_cli: RunCli, releases: dict[str, Path], tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    run_cli("gate", releases["claude-2"], "--previous", releases["claude"], "--json", one, "--on-inconclusive", "pass")
    result = run_cli("gate", releases["claude-2"], releases["claude-2"], "--previous", releases["claude"],
                     "--previous", releases["claude"], "--json", two, "--on-inconclusive", "pass")  # fmt: skip
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    # A copy of each judgment is no new evidence: were rows resampled as if independent, the interval would narrow.
    assert b["paired"]["lc_difference_interval"] == pytest.approx(a["paired"]["lc_difference_interval"], abs=1e-9)
    assert b["candidate"]["standard_error"] == pytest.approx(a["candidate"]["standard_error"], abs=1e-9)
    assert b["candidate"]["samples"] == 2 and b["candidate"]["n_total"] == 2 * a["candidate"]["n_total"]
    assert "1610 (2 per instruction)" in result.stdout and "sampled outputs per instruction" in result.stdout


def test_sample_files_of_different_models_are_refused(run_cli: RunCli, releases: dict[str, Path]) -> None:
    result = run_cli("gate", releases["claude-2"], releases["claude"])
    assert result.exit_code == 2 and "claude.json" in result.stderr and "samples of one release" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_file_is_checked_before_any_judgment(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    outputs = synthetic.write("outputs.json", [{"instruction": s, "output": "x"} for s in synthetic.instructions])
    stray = synthetic.annotations("previous")
    stray[3]["instruction"] = "an instruction of no eval set"
    previous = synthetic.write("previous.json", stray)
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "ALPACA_LC_CACHE": str(tmp_path / "c")}
    args = ["gate", str(outputs), "--previous", str(previous), "--eval-set", str(synthetic.eval_set),
            "--calibration", str(synthetic.calibration)]  # fmt: skip
    result = CliRunner().invoke(main, args, env=env)
    # Exit 3 would mean the candidate's outputs were sent to the (closed) judge before the previous file was read.
    assert result.exit_code == 2 and "previous.json" in result.stderr, result.output
