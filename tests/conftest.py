"""Shared fixtures: the real AlpacaEval 2.0 data when ../shared is present, and small synthetic data always."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main
from alpaca_lc.records.annotations import Annotations
from alpaca_lc.records.calibration import Calibration, write_calibration
from alpaca_lc.records.table import instruction_key

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "alpaca_eval_2"


@pytest.fixture(autouse=True, scope="session")
def _private_parse_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Parsed annotation files go to a folder of this test session, never the user's cache."""
    os.environ["ALPACA_LC_PARSED_CACHE"] = str(tmp_path_factory.mktemp("parsed"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared AlpacaEval 2.0 data folder; tests that need it skip cleanly without it."""
    if not (SHARED / "annotations.parquet").exists():
        pytest.skip(f"shared AlpacaEval 2.0 data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def shared_annotations(shared: Path) -> Annotations:
    """The 43 models' real GPT-4-turbo annotations, read by our reader."""
    from alpaca_lc.records.annotations import read_annotations

    return read_annotations([shared / "annotations.parquet"])


@pytest.fixture(scope="session")
def published(shared: Path) -> pd.DataFrame:
    """The published AlpacaEval 2.0 leaderboard, indexed by model."""
    return pd.read_csv(shared / "published_leaderboard.csv", index_col=0)


@dataclass(frozen=True)
class Synthetic:
    """A small synthetic eval set, a calibration for it, and a writer of annotation files."""

    root: Path
    instructions: list[str]
    baseline: list[str]
    eval_set: Path
    calibration: Path

    def annotations(
        self, model: str, quality: float = -1.0, seed: int = 0, n: int | None = None
    ) -> list[dict[str, Any]]:
        """AlpacaEval-style annotation records of `model`, preferences drawn from a length-biased logistic model."""
        rng = np.random.default_rng(seed)
        records = []
        for instruction, base in list(zip(self.instructions, self.baseline, strict=True))[:n]:
            output = "x" * int(rng.integers(50, 1500))
            eta = quality - 1.5 * np.tanh((len(base) - len(output)) / 500)
            records.append(
                {
                    "instruction": instruction,
                    "output_1": base,
                    "output_2": output,
                    "generator_1": "baseline",
                    "generator_2": model,
                    "annotator": "test_judge",
                    "preference": float(1 + 1 / (1 + np.exp(-eta))),
                    "raw_completion": None,
                    "price_per_example": 0.01,
                    "time_per_example": 0.5,
                }
            )
        return records

    def write(self, name: str, records: Any) -> Path:
        """Write records (or any JSON value) under the fixture folder."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records), encoding="utf-8")
        return path


@pytest.fixture
def synthetic(tmp_path: Path) -> Synthetic:
    """60 synthetic instructions with baseline outputs, an eval-set file and a matching calibration."""
    rng = np.random.default_rng(123)
    instructions = [f"Synthetic instruction {i}: explain topic {i}." for i in range(60)]
    baseline = ["b" * int(rng.integers(100, 1200)) for _ in instructions]
    eval_set = tmp_path / "eval_set.json"
    eval_set.write_text(
        json.dumps(
            [
                {"instruction": s, "output": b, "generator": "baseline", "dataset": "synthetic"}
                for s, b in zip(instructions, baseline, strict=True)
            ]
        ),
        encoding="utf-8",
    )
    difficulty = pd.Series(rng.normal(0, 1, len(instructions)), index=[instruction_key(s) for s in instructions])
    calibration = tmp_path / "calibration.json"
    write_calibration(calibration, Calibration.of(difficulty, None, "synthetic", "test fixture"))
    return Synthetic(tmp_path, instructions, baseline, eval_set, calibration)


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Invoke `alpaca-lc` in-process with the real click entry point."""

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return run


def zero_calibration(eval_set: Path, path: Path) -> Path:
    """A calibration with difficulty 0 for every instruction of a synthetic eval-set file (no gamed rows)."""
    keys = [instruction_key(r["instruction"]) for r in json.loads(eval_set.read_text(encoding="utf-8"))]
    write_calibration(path, Calibration.of(dict.fromkeys(keys, 0.0), None, "test"))
    return path


def wait_until(check: Callable[[], bool], seconds: float = 60, what: str = "the condition") -> None:
    """Wait for a condition (a busy machine only makes it come later), polling; fail if it never comes."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.05)
