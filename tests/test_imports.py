"""Import budget: a command imports what it uses, so it starts in a fraction of a second.

openai costs ~0.5 s to import, pandas ~0.5 s, scipy.stats ~0.8 s, matplotlib ~0.5 s: a test fails when a
command that needs none of them pulls one in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from .annotation.conftest import write_workspace
from .conftest import Synthetic, zero_calibration

_PROBE = """
import json, sys
from alpaca_lc.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""
HEAVY = {"openai", "matplotlib", "pandas", "scipy.stats", "scipy.special", "statsmodels", "sklearn"}


def _modules(*args: str | Path, env: dict[str, str] | None = None) -> set[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return set(report["modules"])


def test_help_imports_no_library_of_any_stage() -> None:
    loaded = _modules("--help")
    assert not loaded & {*HEAVY, "numpy", "pydantic", "pyarrow", "yaml"}, loaded & {*HEAVY, "numpy", "pydantic"}


def test_leaderboard_imports_neither_openai_nor_matplotlib(synthetic: Synthetic, tmp_path: Path) -> None:
    path = synthetic.write("a.json", synthetic.annotations("m"))
    loaded = _modules("leaderboard", path, "--calibration", synthetic.calibration, "-o", tmp_path / "lb.csv")
    # Nor the config machinery: pydantic, yaml and importlib.metadata were a tenth of a cold leaderboard.
    assert not loaded & {*HEAVY, "pydantic", "yaml", "importlib.metadata"}, loaded & {*HEAVY, "pydantic", "yaml"}


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_leaderboard_of_many_texts_imports_no_pandas(synthetic: Synthetic, tmp_path: Path, suffix: str) -> None:
    """Past a few thousand texts (and for any table) screening goes through pyarrow's compiled compute functions,
    which must not pull in pandas, nor the 25 ms of Python wrappers in pyarrow.compute."""
    records = [r for i in range(90) for r in synthetic.annotations(f"m{i}", seed=i)]
    path = synthetic.write("many.json", records)
    if suffix == ".parquet":
        path = tmp_path / "many.parquet"
        pd.DataFrame(records).to_parquet(path)
    loaded = _modules("leaderboard", path, "--calibration", synthetic.calibration, "--bootstrap", "0", "-o",
                      tmp_path / "lb.csv", env={"ALPACA_LC_PARSED_CACHE": "off"})  # fmt: skip
    assert len(records) > 5000 and "pyarrow._compute" in loaded
    assert not loaded & {*HEAVY, "pyarrow.compute"}, loaded & {*HEAVY, "pyarrow.compute"}
    # Nor what only other paths need: a bootstrap (numpy.random), masked arrays (a bare np.unique asks), the
    # parse cache's folder (platformdirs, which imports tempfile), package files through importlib.resources
    # (which does too).
    rare = {"numpy.random", "numpy.ma", "platformdirs", "tempfile", "importlib.resources"}
    assert not loaded & rare, loaded & rare


def test_fully_cached_evaluate_does_not_import_openai(tmp_path: Path) -> None:
    ws = write_workspace(tmp_path, n=30)
    calibration = zero_calibration(ws.eval_set, tmp_path / "cal.json")
    pairs = zip(json.loads(ws.eval_set.read_text()), json.loads(ws.outputs.read_text()), strict=True)
    records = [{"instruction": b["instruction"], "output_1": b["output"], "output_2": o["output"],
                "annotator": "weighted_alpaca_eval_gpt4_turbo", "preference": 1.7} for b, o in pairs]  # fmt: skip
    imported = tmp_path / "imported.json"
    imported.write_text(json.dumps(records))
    env = ws.env(None)
    importing = [sys.executable, "-m", "alpaca_lc", "cache", "import", str(imported)]
    assert subprocess.run(importing, env={**os.environ, **env}, capture_output=True, check=False).returncode == 0
    loaded = _modules("evaluate", ws.outputs, "--calibration", calibration, "--output-dir", tmp_path / "res",
                      "--no-progress", env=env)  # fmt: skip
    assert not loaded & HEAVY, loaded & HEAVY


@pytest.mark.parametrize("command", ["gate", "report", "correlate", "calibrate", "generate", "annotate", "cache"])
def test_every_command_helps_without_heavy_imports(command: str) -> None:
    assert not _modules(command, "--help") & HEAVY
