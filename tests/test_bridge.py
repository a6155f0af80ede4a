"""Judge bridges (issue 19): the math on known panels, the file, and the whole flow against the test server with a
successor of AlpacaEval 2.0's retired judge."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alpaca_lc.errors import InputError
from alpaca_lc.records.bridge import PanelModel, read_bridge, write_bridge
from alpaca_lc.records.instrument import Instrument
from alpaca_lc.scoring.bridge import bridged_row, fit_bridge
from alpaca_lc.stats.bridge import Panel, choose_map, fit_map, logit_percent, outliers, percent_of
from alpaca_lc.testing.openai_server import LocalServer

SUCCESSOR = "weighted_alpaca_eval_gpt4_turbo"
SUCCESSOR_MODEL = "gpt-4.1-2025-04-14"
RETIRED = "gpt-4-1106-preview"
PANEL = ("claude-2", "vicuna-7b-v1.5", "alpaca-7b", "gpt-3.5-turbo-1106", "oasst-sft-pythia-12b", "phi-2")


def _panel(n: int = 12, offset: float = -0.4, sd: float = 0.1, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    own = rng.uniform(-3, 0, n)
    other = own - rng.uniform(0.2, 0.8, n)
    return Panel(own, other, own + offset + sd * rng.standard_normal(n), np.full(n, np.nan))


def test_an_offset_is_recovered_and_its_interval_is_honest() -> None:
    panel = _panel()
    fit, scores = choose_map(panel)
    assert fit.kind == "offset" and abs(fit.coef[0] + 0.4) < 0.1 and set(scores) == {"offset", "offset_gap", "linear"}
    covered = 0
    for seed in range(300):  # panels and new models from the same judges: 90% intervals cover about 90%
        fitted, new = fit_map("offset", _panel(seed=seed)), _panel(1, seed=1000 + seed)
        p = fitted.predict(float(new.own[0]), float(new.other[0]), level=0.9)
        covered += p.low <= new.target[0] <= p.high
    assert 0.85 <= covered / 300 <= 0.95
    wide = fit.predict(-1.0, -1.5, own_var=0.2, level=0.9)  # a subset estimate: more sampling noise, wider
    assert wide.high - wide.low > fit.predict(-1.0, -1.5, level=0.9).high - fit.predict(-1.0, -1.5, level=0.9).low


def test_a_gap_term_is_chosen_when_the_reference_weighs_length_otherwise() -> None:
    base = _panel(sd=0.02)
    panel = Panel(base.own, base.other, base.own - 0.2 + 0.8 * (base.other - base.own), base.own_var)
    fit, scores = choose_map(panel)
    assert fit.kind == "offset_gap" and scores["offset_gap"] < 0.5 * scores["offset"]


def test_one_wild_model_is_flagged_and_does_not_bend_the_fit() -> None:
    panel = _panel()
    wild = Panel(panel.own.copy(), panel.other, panel.target.copy(), panel.own_var)
    wild.own[3] = 1.5  # judged 82% where the reference says 16%: Mistral-7B-ReMax under alpaca_eval_gpt4_turbo_fn
    flagged = outliers(wild)
    assert flagged.tolist() == [i == 3 for i in range(len(panel))]
    assert fit_map("offset", wild.take(~flagged)).coef == pytest.approx(fit_map("offset", panel.take(~flagged)).coef)


def test_logits_round_trip() -> None:
    assert percent_of(logit_percent([5.0, 50.0, 95.0])) == pytest.approx([5.0, 50.0, 95.0])


def _panel_models(n: int = 6) -> list[PanelModel]:
    return [PanelModel(f"m{i}", 10.0 + 5 * i, 1.0, 8.0 + 4 * i, 1.0, 1000.0 + 100 * i, 8.0 + 5 * i + (-1) ** i,
                       7.0 + 4 * i) for i in range(n)]  # fmt: skip


def test_outside_the_panel_a_bridged_row_has_no_number_unless_asked() -> None:
    """A weak successor that scores every panel model 80-88 says nothing of a model it scores 45."""
    panel = [PanelModel(f"m{i}", 80.0 + i, 1.5, 78.0 + i, 1.5, 1500.0 + 50 * i, 20.0 + 6 * i + (-1) ** i, 18.0 + 6 * i)
             for i in range(9)]  # fmt: skip
    bridge = fit_bridge(panel, Instrument("weak", "abc"), "length_controlled_v1", "bundled")
    row = {
        "model": "new",
        "length_controlled_winrate": 45.0,
        "lc_standard_error": 2.0,
        "win_rate": 44.0,
        "standard_error": 2.0,
        "avg_length": 1600.0,
        "flags": "",
        "judge": "weak",
        "judge_protocol": "abc",
    }
    plain = bridged_row(row, bridge)
    assert math.isnan(plain["length_controlled_winrate"]) and math.isnan(plain["lc_ci_low"])
    assert "outside_bridge_panel: successor LC 45.0 beyond the panel's 80.0-88.0" in plain["flags"]
    assert "no number on the official scale" in plain["flags"] and "--extrapolate" in plain["flags"]
    chosen = bridge.lc_map.predict(float(logit_percent(45.0)), float(logit_percent(44.0)), level=0.95)
    wide = bridged_row(row, bridge, extrapolate=True)
    assert wide["length_controlled_winrate"] == pytest.approx(float(percent_of(chosen.estimate)))
    assert wide["lc_ci_low"] <= float(percent_of(chosen.low)) and wide["lc_ci_high"] >= float(percent_of(chosen.high))
    assert "extrapolated: the LC interval spans every candidate map's" in wide["flags"]
    inside = bridged_row({**row, "length_controlled_winrate": 84.0, "win_rate": 82.0}, bridge, extrapolate=True)
    assert bridged_row({**row, "length_controlled_winrate": 84.0, "win_rate": 82.0}, bridge) == inside  # unchanged


def test_a_bridge_file_round_trips_and_a_changed_one_is_refused(tmp_path: Path) -> None:
    bridge = fit_bridge(_panel_models(), Instrument("succ", "abc"), "length_controlled_v1", "bundled")
    path = tmp_path / "bridge.json"
    write_bridge(path, bridge)
    again = read_bridge(path)
    assert again.identity == bridge.identity and again.successor == Instrument("succ", "abc")
    data = json.loads(path.read_text())
    assert set(data) >= {"successor", "reference", "maps", "panel", "identity"} and "output" not in path.read_text()
    data["maps"]["length_controlled_winrate"]["coef"][0] += 0.5
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="changed after it was fitted"):
        read_bridge(path)


def _outputs(shared: Path, root: Path) -> list[Path]:
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "instruction", "output_2"])
    paths = []
    for model in PANEL:
        rows = table[table.model == model]
        paths.append(root / f"{model}.json")
        paths[-1].write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": model}
                                         for r in rows.itertuples()]))  # fmt: skip
    return paths


def _cli(env: dict[str, str], *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alpaca_lc", *map(str, args)], env=env, capture_output=True,
                          text=True, check=False)  # fmt: skip


def _env(server: LocalServer, shared: Path, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sk-test",
        "ALPACA_LC_CACHE": str(root / "cache.sqlite"),
        "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
    }


def _one_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == code and len(errors) == 1, done.stderr
    assert all(w in errors[0] for w in words), errors[0]


def test_retired_judge_stops_at_once_and_imported_judgments_still_work(shared: Path, tmp_path: Path) -> None:
    outputs = _outputs(shared, tmp_path)[0]
    with LocalServer(missing_models=RETIRED) as server:
        env = _env(server, shared, tmp_path)
        done = _cli(env, "annotate", outputs, "-o", tmp_path / "a.json", "--no-progress")
        stats = server.stats()
    _one_error(done, 3, "retired by its provider on 2026-03-26", "cached and imported official judgments still work",
               "--judge-model", "--bridge")  # fmt: skip
    assert stats.get("successes", 0) == 0 and not (tmp_path / "a.json").exists()
    assert len(_cli(env, "cache", "stats").stdout.strip().splitlines()) <= 2  # no judge, no spend recorded
    # The official judgments of the same pairs, imported: evaluated offline, no call at all.
    official = pd.read_parquet(shared / "annotations.parquet").query("model == 'claude-2'")
    official.to_json(tmp_path / "official.json", orient="records")
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    assert _cli(env, "cache", "import", tmp_path / "official.json").returncode == 0
    again = _cli(env, "evaluate", outputs, "--no-progress", "--bootstrap", "0", "--output-dir", tmp_path / "res")
    assert again.returncode == 0 and " 0 new in" in again.stderr, again.stderr


@pytest.mark.slow
def test_a_verdict_judge_is_bridged_like_any_other(shared: Path, tmp_path: Path) -> None:
    """A panel judged by a reasoning model's verdicts (no logprobs), `bridge fit`, then a bridged `evaluate`."""
    outputs = _outputs(shared, tmp_path)
    pd.read_csv(shared / "published_leaderboard.csv").to_csv(tmp_path / "official.csv", index=False)
    judge = ("--judge-model", "gpt-5-mini", "--answer", "verdict", "--reasoning-effort", "low")
    with LocalServer(verdict="relevance") as server:
        env = _env(server, shared, tmp_path)
        panel = []
        for path in outputs[1:]:
            panel.append(tmp_path / f"{path.stem}.annotations.json")
            done = _cli(env, "annotate", path, "-o", panel[-1], *judge, "--no-progress", "--allow-partial")
            assert done.returncode == 0, done.stderr
        fitted = _cli(env, "bridge", "fit", *panel, "--official", tmp_path / "official.csv", "-o", tmp_path / "b.json")
        assert fitted.returncode == 0, fitted.stderr
        bridge = read_bridge(tmp_path / "b.json")
        successor = f"{SUCCESSOR}@gpt-5-mini+verdict+low"
        assert bridge.successor.judge == successor
        row = _cli(env, "evaluate", outputs[0], *judge, "--bridge", tmp_path / "b.json", "--no-progress",
                   "--output-dir", tmp_path / "results", "--extrapolate")  # fmt: skip
    assert row.returncode == 0 and "BRIDGED" in row.stderr, row.stderr
    written = pd.read_csv(next((tmp_path / "results").rglob("leaderboard.csv")))
    assert written.judge[0] == f"{SUCCESSOR} (bridged from {successor} by bridge {bridge.identity})"
    assert written.lc_ci_low[0] < written.length_controlled_winrate[0] < written.lc_ci_high[0]
    print(
        f"\n{fitted.stderr.strip()}\nbridged: {written.length_controlled_winrate[0]:.1f} "
        f"[{written.lc_ci_low[0]:.1f}, {written.lc_ci_high[0]:.1f}]"
    )


@pytest.mark.slow
def test_successor_panel_bridge_evaluate_leaderboard_gate(shared: Path, tmp_path: Path) -> None:
    """The whole flow on the test server: a panel judged by a successor, `bridge fit`, then bridged rows."""
    outputs = _outputs(shared, tmp_path)
    published = pd.read_csv(shared / "published_leaderboard.csv")
    published.to_csv(tmp_path / "official.csv", index=False)
    judge = ("--judge", SUCCESSOR, "--judge-model", SUCCESSOR_MODEL)
    with LocalServer(missing_models=RETIRED, verdict="relevance") as server:
        env = _env(server, shared, tmp_path)
        panel = []
        for path in outputs[1:]:
            panel.append(tmp_path / f"{path.stem}.annotations.json")
            done = _cli(env, "annotate", path, "-o", panel[-1], *judge, "--no-progress", "--allow-partial")
            assert done.returncode == 0, done.stderr  # (--allow-partial: two of these models have 803 of 805)
        fitted = _cli(env, "bridge", "fit", *panel, "--official", tmp_path / "official.csv", "-o", tmp_path / "b.json")
        assert fitted.returncode == 0 and "leave-one-model-out mean |error|" in fitted.stderr, fitted.stderr
        bridge = read_bridge(tmp_path / "b.json")
        label = f"{SUCCESSOR} (bridged from {SUCCESSOR}@{SUCCESSOR_MODEL} by bridge {bridge.identity})"

        row = _cli(env, "evaluate", outputs[0], *judge, "--bridge", tmp_path / "b.json", "--no-progress",
                   "--leaderboard", tmp_path / "official.csv", "--output-dir", tmp_path / "results")  # fmt: skip
        assert row.returncode == 0 and "BRIDGED" in row.stderr and "(bridged to the official scale)" in row.stdout
        written = pd.read_csv(next((tmp_path / "results").rglob("leaderboard.csv")))
        assert written.judge[0] == label and written.lc_ci_low[0] < written.length_controlled_winrate[0]

        board = _cli(env, "leaderboard", *panel, "--bridge", tmp_path / "b.json", "--bootstrap", "100")
        table = pd.read_csv(pd.io.common.StringIO(board.stdout))
        assert board.returncode == 0 and set(table.judge) == {label} and len(table) == 5

        gate = _cli(env, "gate", outputs[0], *judge, "--bridge", tmp_path / "b.json", "--min-lc", "1",
                    "--no-progress", "--json", tmp_path / "gate.json")  # fmt: skip
        assert gate.returncode in (0, 1) and "official scale" in gate.stdout + gate.stderr, gate.stderr

        # Refused with one line: a bridge read with another judge's judgments, a panel with no official figures.
        other = _cli(env, "annotate", outputs[0], "--judge", "weighted_alpaca_eval_gpt-4o-mini-2024-07-18",
                     "--bridge", tmp_path / "b.json", "-o", tmp_path / "x.json", "--no-progress")  # fmt: skip
        _one_error(other, 2, "the bridge reads", "fitted for")
        published[~published.model.isin(PANEL)].to_csv(tmp_path / "none.csv", index=False)
        empty = _cli(env, "bridge", "fit", *panel, "--official", tmp_path / "none.csv", "-o", tmp_path / "c.json")
        _one_error(empty, 2, "official figures")
        assert not (tmp_path / "c.json").exists() and not (tmp_path / "x.json").exists()
    assert math.isfinite(bridge.lc_map.residual_sd)


def test_a_panel_file_is_judged_and_bridged_in_one_command(shared: Path, tmp_path: Path) -> None:
    """`bridge fit --panel`: the panel's outputs (AlpacaEval's results layout) judged by the successor, then fitted
    on the panel's own official figures; `--dry-run` says what it would cost, live and batch."""
    published = pd.read_csv(shared / "published_leaderboard.csv").set_index("model")
    models = PANEL[1:]
    figures = published.loc[list(models), ["length_controlled_winrate", "win_rate", "avg_length"]]
    panel = {"name": "test", "description": "five models", "outputs": "results/<model>/model_outputs.json",
             "models": figures.reset_index().to_dict(orient="records")}  # fmt: skip
    (tmp_path / "panel.json").write_text(json.dumps(panel))
    dry = _cli({**os.environ, "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"), "OPENAI_API_KEY": "",
                "ALPACA_LC_CACHE": str(tmp_path / "c.sqlite")}, "bridge", "fit", "--panel", tmp_path / "panel.json",
               "--judge-model", "gpt-5.4-mini", "--answer", "verdict", "--dry-run")  # fmt: skip
    assert dry.returncode == 0 and "dry run: 4025 judgments needed" in dry.stdout and "batch price" in dry.stdout
    assert "models: " in dry.stdout and "5 with no --outputs-dir are estimated" in dry.stdout  # every one named
    for path in _outputs(shared, tmp_path):
        if path.stem in models:
            (tmp_path / "results" / path.stem).mkdir(parents=True)
            path.rename(tmp_path / "results" / path.stem / "model_outputs.json")
    with LocalServer(missing_models=RETIRED) as server:
        done = _cli(
            _env(server, shared, tmp_path),
            "bridge",
            "fit",
            "--panel",
            tmp_path / "panel.json",
            "--outputs-dir",
            tmp_path / "results",
            "--judge-model",
            SUCCESSOR_MODEL,
            "--no-progress",
            "--allow-partial",
            "-o",
            tmp_path / "b.json",
        )  # fmt: skip (phi-2's outputs here miss two)
        judged = server.stats()["successes"]
    assert done.returncode == 0, done.stderr
    assert 3900 < judged <= 4025 and len(list((tmp_path / "results").rglob("annotations.json"))) == 5  # less ties
    assert read_bridge(tmp_path / "b.json").successor.judge == f"{SUCCESSOR}@{SUCCESSOR_MODEL}"
