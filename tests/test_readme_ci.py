"""The documented GitHub Actions example (wherever README.md or docs/ hold it): its gate step runs as written,
against a local judge server on which AlpacaEval 2.0's own judge model is retired (404 model_not_found), with the
living judge the example names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alpaca_lc.testing.openai_server import LocalServer

from .conftest import ROOT

RETIRED = "gpt-4-1106-preview"


def _gate_step() -> dict[str, object]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    example = re.compile(r"<!-- ci-example.*?-->\n```yaml\n(.*?)```", re.S)
    blocks = [b for p in pages for b in example.findall(p.read_text(encoding="utf-8"))]
    assert len(blocks) == 1, f"one documented CI example expected, found {len(blocks)}"
    workflow = yaml.safe_load(blocks[0])
    steps = workflow["jobs"]["gate"]["steps"]
    return next(s for s in steps if s.get("name") == "Gate the release")


def _releases(shared: Path, root: Path, release: str) -> None:
    """`release/` and `baseline/` model outputs: claude-2's as the baseline; the release is claude-2's again, or a
    null model answering every instruction with the same sentence."""
    rows = pd.read_parquet(shared / "annotations.parquet").query("model == 'claude-2'")
    for folder in ("release", "baseline"):
        null = folder == "release" and release == "null"
        records = [{"instruction": r.instruction, "output": "I am sorry, I cannot help." if null else r.output_2,
                    "generator": "claude-2"} for r in rows.itertuples()]  # fmt: skip
        (root / folder).mkdir()
        (root / folder / "model_outputs.json").write_text(json.dumps(records))


def _run(step: dict[str, object], shared: Path, root: Path, extra: str = "") -> tuple[subprocess.CompletedProcess[str],
                                                                                     int]:  # fmt: skip
    with LocalServer(missing_models=RETIRED, verdict="relevance") as judge:
        env = {**os.environ, **{k: str(v) for k, v in step["env"].items()}}  # type: ignore[attr-defined]
        env.update({"OPENAI_API_KEY": "sk-ci-secret", "OPENAI_BASE_URL": judge.base_url,
                    "GITHUB_STEP_SUMMARY": str(root / "summary.md"),
                    "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})  # fmt: skip
        result = subprocess.run(["bash", "-e", "-c", str(step["run"]).rstrip() + extra], cwd=root, env=env,
                                capture_output=True, text=True, check=False)  # fmt: skip
        return result, judge.stats().get("successes", 0)


@pytest.mark.parametrize(("release", "exit_code", "outcome"), [("same", 0, "pass"), ("null", 1, "fail")])
def test_readme_ci_example_runs_as_written(shared: Path, tmp_path: Path, release: str, exit_code: int,
                                           outcome: str) -> None:  # fmt: skip
    step = _gate_step()
    _releases(shared, tmp_path, release)
    result, judged = _run(step, shared, tmp_path)
    assert result.returncode == exit_code, result.stderr
    decision = json.loads((tmp_path / "gate.json").read_text())
    assert decision["outcome"] == outcome and decision["paired"]["n_instructions"] == 805
    assert (tmp_path / "summary.md").read_text().startswith("## alpaca-lc release gate:")
    assert (tmp_path / "gate.xml").read_text().startswith("<?xml")
    assert judged > (800 if release == "same" else 1500) and (tmp_path / ".alpaca-lc" / "judgments.sqlite").exists()
    assert "sk-ci-secret" not in result.stdout + result.stderr + (tmp_path / "summary.md").read_text()


def test_min_lc_on_a_living_judge_needs_a_bridge(shared: Path, tmp_path: Path) -> None:
    step = _gate_step()
    _releases(shared, tmp_path, "same")
    result, judged = _run(step, shared, tmp_path, " --min-lc 20")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "--bridge" in errors[0], result.stderr
    assert judged == 0  # refused before anything was paid for
