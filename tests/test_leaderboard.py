"""`alpaca-lc leaderboard` end to end, and the committed AlpacaEval 2.0 leaderboard."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from alpaca_lc.cli import main

from .conftest import ROOT, Synthetic

RunCli = Callable[..., Result]


def test_formats_and_columns(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    path = synthetic.write("a.json", synthetic.annotations("weak", quality=-2) + synthetic.annotations("strong", 1))
    common = ("--calibration", synthetic.calibration, "--bootstrap", "200", "--seed", "3")
    csv = run_cli("leaderboard", path, *common)
    table = pd.read_csv(io.StringIO(csv.stdout))
    assert list(table.columns[:2]) == ["model", "win_rate"] and list(table.model) == ["strong", "weak"]
    assert {"length_controlled_winrate", "lc_standard_error", "lc_ci_low", "lc_ci_high"} <= set(table.columns)
    assert (table.lc_ci_low < table.length_controlled_winrate).all()
    assert (table.length_controlled_winrate < table.lc_ci_high).all()
    rows = json.loads(run_cli("leaderboard", path, *common, "--format", "json").stdout)
    assert rows[0]["model"] == "strong" and abs(rows[0]["lc_ci_low"] - table.lc_ci_low[0]) < 1e-6
    md = run_cli("leaderboard", path, *common, "--format", "md").stdout
    assert md.startswith("| Model | LC win rate | LC 95% CI |") and "| strong |" in md
    no_ci = pd.read_csv(io.StringIO(run_cli("leaderboard", path, *common[:2], "--bootstrap", "0").stdout))
    assert no_ci.lc_ci_low.isna().all()
    assert "without regularisation" in csv.stderr


def test_seed_makes_intervals_reproducible(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    path = synthetic.write("a.json", synthetic.annotations("m"))
    runs = [run_cli("leaderboard", path, "--calibration", synthetic.calibration, "--seed", s).stdout for s in "112"]
    assert runs[0] == runs[1] != runs[2]


def test_committed_leaderboard_is_a_fresh_regeneration(shared: Path, tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "lb.csv"
    result = run_cli("leaderboard", shared / "annotations.parquet", "--seed", "0", "--bootstrap", "1000", "-o", out)
    assert result.exit_code == 0, result.output
    fresh = pd.read_csv(out)
    committed = pd.read_csv(ROOT / "leaderboards" / "alpaca_eval_2_gpt4_turbo.csv")
    pd.testing.assert_frame_equal(fresh, committed, atol=2e-6, rtol=0)
    assert len(committed) == 43


def test_judges_never_mix_silently(run_cli: RunCli, synthetic: Synthetic) -> None:
    official = [r | {"annotator": "weighted_alpaca_eval_gpt4_turbo"} for r in synthetic.annotations("a", 0.5)]
    ours = [r | {"annotator": "alpaca_lc_pairwise_gpt4_turbo", "annotator_protocol": "0123456789ab"}
            for r in synthetic.annotations("b", -0.5)]  # fmt: skip
    paths = [synthetic.write("official.json", official), synthetic.write("ours.json", ours)]
    common = ("--calibration", synthetic.calibration, "--bootstrap", "0")
    refused = CliRunner().invoke(main, ["leaderboard", *map(str, paths), *common])
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "weighted_alpaca_eval_gpt4_turbo (protocol ec705185d7eb)" in refused.stderr
    assert "alpaca_lc_pairwise_gpt4_turbo (protocol 0123456789ab)" in refused.stderr
    mixed = run_cli("leaderboard", *paths, *common, "--mix-judges", "--format", "md")
    assert mixed.exit_code == 0 and "MIXED JUDGES" in mixed.stderr
    assert "| Judge |" in mixed.stdout.splitlines()[0] and "| alpaca_lc_pairwise_gpt4_turbo |" in mixed.stdout
    table = pd.read_csv(io.StringIO(run_cli("leaderboard", *paths, *common, "--mix-judges").stdout))
    assert dict(zip(table.model, table.judge, strict=True)) == {
        "a": "weighted_alpaca_eval_gpt4_turbo", "b": "alpaca_lc_pairwise_gpt4_turbo"}  # fmt: skip
    # One judge, with a protocol that differs between two files: also two instruments.
    other = [r | {"annotator_protocol": "ffffffffffff"} for r in synthetic.annotations("c", 0.0)]
    again = [*paths[:1], synthetic.write("modified.json", [r | {"annotator": official[0]["annotator"]} for r in other])]
    assert CliRunner().invoke(main, ["leaderboard", *map(str, again), *common]).exit_code == 2
    # --judge picks one judge's annotations from a folder that holds two; a judge not there is named, with those that
    # are (the files here sit directly in the folder, as a loop of `annotate -o DIR/<model>.json` writes them).
    folder = synthetic.root / "two_judges"
    folder.mkdir()
    for path in paths:
        path.rename(folder / path.name)
    one = run_cli("leaderboard", folder, *common, "--judge", "alpaca_lc_pairwise_gpt4_turbo")
    assert one.exit_code == 0 and list(pd.read_csv(io.StringIO(one.stdout)).model) == ["b"]
    none = CliRunner().invoke(main, ["leaderboard", str(folder), *common, "--judge", "no_such_judge"])
    assert none.exit_code == 2 and "judges found: alpaca_lc_pairwise_gpt4_turbo, weighted_alpaca_eval_gpt4_turbo" in (
        none.stderr)  # fmt: skip


def test_calibration_fitted_on_another_judge_is_said(run_cli: RunCli, synthetic: Synthetic, tmp_path: Path) -> None:
    calibration = json.loads(synthetic.calibration.read_text()) | {"judge": "weighted_alpaca_eval_gpt4_turbo"}
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(calibration))
    result = run_cli("leaderboard", synthetic.write("a.json", synthetic.annotations("m")), "--calibration", path,
                     "--bootstrap", "0")  # fmt: skip
    assert "fitted on weighted_alpaca_eval_gpt4_turbo's judgments and is applied here to test_judge's" in result.stderr


def test_parsed_files_are_kept_and_a_changed_file_is_read_again(
    run_cli: RunCli, synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "parsed"
    monkeypatch.setenv("ALPACA_LC_PARSED_CACHE", str(cache))
    path = synthetic.write("a.json", synthetic.annotations("m", quality=0.0))
    common = ("--calibration", synthetic.calibration, "--bootstrap", "0")
    first = run_cli("leaderboard", path, *common).stdout
    assert len(list(cache.glob("*.npz"))) == 1
    assert run_cli("leaderboard", path, *common).stdout == first  # from the cache, the same row
    changed = synthetic.annotations("m", quality=2.0)
    path.write_text(json.dumps(changed), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert run_cli("leaderboard", path, *common).stdout != first and len(list(cache.glob("*.npz"))) == 2
    monkeypatch.setenv("ALPACA_LC_PARSED_CACHE", "off")
    path.write_text(json.dumps(synthetic.annotations("m", quality=1.0)), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 2_000_000))
    assert run_cli("leaderboard", path, *common).exit_code == 0 and len(list(cache.glob("*.npz"))) == 2


def test_flagged_submissions_are_marked(shared: Path, run_cli: RunCli) -> None:
    csv = pd.read_csv(io.StringIO(run_cli("leaderboard", shared / "annotations.parquet", "--bootstrap", "0").stdout))
    flags = dict(zip(csv.model, csv["flags"].fillna(""), strict=True))
    assert flags.pop("NullModel").count(":") >= 2
    assert flags.pop("gpt4_gamed").startswith("far_shorter")  # answers cut to 10 characters
    assert not any(flags.values())  # no honest model is flagged
    md = run_cli("leaderboard", shared / "annotations.parquet", "--bootstrap", "0", "--format", "md").stdout
    null_row = next(line for line in md.splitlines() if "NullModel" in line)
    assert null_row.startswith("| ⚠️ NullModel |") and "repeated_output, template_imitation" in null_row
    assert "| Flags |" in md.splitlines()[0]
