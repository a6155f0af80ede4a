"""Calibrations: the bundled one, AlpacaEval's format, the hub path (offline, from a local cache)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.calibration import (
    OFFICIAL_DIFFICULTY,
    OFFICIAL_GAMED,
    Calibration,
    read_alpaca_eval_calibration,
    resolve_calibration,
    write_alpaca_eval_calibration,
)
from alpaca_lc.records.evalset import HUB_EVAL_FILE, read_eval_set
from alpaca_lc.records.table import instruction_key
from alpaca_lc.scoring.calibrate import calibrate

from .conftest import ROOT, Synthetic


def _with_gamed(synthetic: Synthetic) -> Calibration:
    base = resolve_calibration(str(synthetic.calibration))
    keys = list(base.difficulty.index)
    gamed = pd.DataFrame(
        {
            "key": keys * 2,
            "variant": ["base_verbose"] * len(keys) + ["base_concise"] * len(keys),
            "std_delta_len": np.linspace(-2, 2, 2 * len(keys)),
            "preference": np.linspace(1.1, 1.9, 2 * len(keys)),
        }
    )
    return Calibration.of(base.difficulty, gamed, "test")


def test_alpaca_eval_format_round_trip(synthetic: Synthetic, tmp_path: Path) -> None:
    calibration = _with_gamed(synthetic)
    eval_set = read_eval_set(synthetic.eval_set)
    write_alpaca_eval_calibration(calibration, eval_set, tmp_path)
    back = read_alpaca_eval_calibration(tmp_path / OFFICIAL_DIFFICULTY, tmp_path / OFFICIAL_GAMED, eval_set)
    pd.testing.assert_series_equal(back.difficulty, calibration.difficulty, check_names=False)
    assert back.gamed is not None and calibration.gamed is not None
    pd.testing.assert_frame_equal(
        back.gamed.sort_values(["variant", "key"]).reset_index(drop=True),
        calibration.gamed.sort_values(["variant", "key"]).reset_index(drop=True),
    )
    # A folder in AlpacaEval's format is accepted by --calibration PATH.
    assert resolve_calibration(str(tmp_path), synthetic.eval_set).gamed is not None


def test_position_keyed_file_for_another_eval_set(synthetic: Synthetic, tmp_path: Path) -> None:
    pd.DataFrame({"index": range(805), "instruction_difficulty": 0.0}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(Exception, match="805 positions, but the eval set has 60"):
        resolve_calibration(str(tmp_path / "d.csv"), synthetic.eval_set)


def test_calibrate_keeps_real_ties_and_drops_the_baseline(synthetic: Synthetic) -> None:
    records = []
    for i, model in enumerate(["a", "b", "c"]):
        rows = synthetic.annotations(model, quality=i - 1.0, seed=i)
        if model == "a":
            rows[0] |= {"output_2": rows[0]["output_1"], "preference": 1.5}  # a real model's tie
        records += rows
    records += [r | {"output_2": r["output_1"], "preference": 1.5} for r in synthetic.annotations("baseline")]
    annotations = read_annotations([synthetic.write("all.json", records)])
    fit = calibrate(annotations, None, ridge=1.0)
    without_ties = annotations.take(
        ~((annotations.output_1 == annotations.output_2) & (annotations.model != "baseline"))
    )
    refit = calibrate(without_ties, None, ridge=1.0)
    first = instruction_key(synthetic.instructions[0])
    assert fit.difficulty[first] != pytest.approx(refit.difficulty[first])  # the ties were used
    assert abs(fit.difficulty.mean()) < 1e-9 and len(fit.difficulty) == 60


def _hub_cache(root: Path, files: dict[str, Path]) -> Path:
    """A Hugging Face hub cache holding files of the tatsu-lab/alpaca_eval dataset, as a download leaves it."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = root / "datasets--tatsu-lab--alpaca_eval"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        (snapshot / name).write_bytes(source.read_bytes())
    return root


def _cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "alpaca_lc", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, check=False)


def test_official_calibration_through_the_hub_cache(synthetic: Synthetic, tmp_path: Path) -> None:
    calibration = _with_gamed(synthetic)
    exported = tmp_path / "exported"
    write_alpaca_eval_calibration(calibration, read_eval_set(synthetic.eval_set), exported)
    cache = _hub_cache(
        tmp_path / "hub",
        {
            OFFICIAL_DIFFICULTY: exported / OFFICIAL_DIFFICULTY,
            OFFICIAL_GAMED: exported / OFFICIAL_GAMED,
            HUB_EVAL_FILE: synthetic.eval_set,
        },
    )
    hub = _RecordingServer()  # the hub's address: a cached copy is used without asking it for the file
    env = {"HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(cache), "ALPACA_LC_EVAL_SET": "", "HF_ENDPOINT": hub.url}
    annotations = synthetic.write("a.json", synthetic.annotations("m1") + synthetic.annotations("m2", quality=0.5))
    official = _cli(
        "leaderboard", annotations, "--calibration", "official", "--bootstrap", "0", "--format", "json", env=env
    )
    assert official.returncode == 0, official.stderr
    local = _cli(
        "leaderboard",
        annotations,
        "--calibration",
        exported,
        "--eval-set",
        synthetic.eval_set,
        "--bootstrap",
        "0",
        "--format",
        "json",
        env=env,
    )
    assert local.returncode == 0, local.stderr
    assert json.loads(official.stdout) == json.loads(local.stdout)
    assert all(row["lc_regularized"] for row in json.loads(official.stdout))
    assert not [r for r in hub.requests if "/datasets/" in r], hub.requests  # (the client's telemetry aside)
    hub.close()


class _RecordingServer:
    """An HTTP server on 127.0.0.1 that answers 404 to everything and records the paths asked for."""

    def __init__(self) -> None:
        requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_error(404)

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.requests = requests
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_official_calibration_offline_without_cache_is_one_line(synthetic: Synthetic, tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty"), "ALPACA_LC_EVAL_SET": ""}
    annotations = synthetic.write("a.json", synthetic.annotations("m1"))
    result = _cli("leaderboard", annotations, "--calibration", "official", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "instruction_difficulty.csv" in result.stderr
    assert "--calibration FOLDER" in result.stderr


def test_hub_file_not_cached_and_hub_unresolvable_fails_at_once(synthetic: Synthetic, tmp_path: Path) -> None:
    """Offline without HF_HUB_OFFLINE: refused on the failed name lookup, not after the hub client's ~25 s of
    retries (`.invalid` never resolves, RFC 2606)."""
    env = {"HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "empty"), "ALPACA_LC_EVAL_SET": "",
           "HF_ENDPOINT": "https://hub.invalid"}  # fmt: skip
    result = _cli("generate", "--help", env=env)  # the CLI itself needs no hub
    assert result.returncode == 0
    annotations = synthetic.write("a.json", synthetic.annotations("m1"))
    result = _cli("leaderboard", annotations, "--calibration", "official", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "hub.invalid cannot be resolved: offline?" in result.stderr


def test_bundled_calibration_is_what_the_command_produces(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = _cli(
        "calibrate", shared / "annotations.parquet", "--gamed", shared / "gamed_baselines.parquet", "-o", out, env={}
    )
    assert result.returncode == 0, result.stderr
    fresh = resolve_calibration(str(out))
    bundled = resolve_calibration("bundled")
    pd.testing.assert_series_equal(fresh.difficulty, bundled.difficulty, atol=1e-8, check_names=False)
    assert fresh.gamed is not None and bundled.gamed is not None
    pd.testing.assert_frame_equal(fresh.gamed, bundled.gamed, atol=1e-8)
