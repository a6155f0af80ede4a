"""Side by side with the original: alpaca-eval 0.6.6 and alpaca-lc on identical inputs.

alpaca-eval is installed into its own throw-away virtualenv under benchmarks/.work/ (never a dependency
of ours). Both implementations get the same annotations and the same calibration: ours (the bundled one),
written in the two files AlpacaEval's code reads (`instruction_difficulty.csv`, `df_gamed.csv`), placed in
a local Hugging Face cache so that its hub downloads resolve offline to them. Prints per-model |d LC| and
the speed ratio of the LC computation (same process for each side, point estimates only).

Usage: python benchmarks/compare_alpaca_eval.py [--models N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
from _common import ROOT, cli, require_shared, timed

from alpaca_lc.records.annotations import read_annotations
from alpaca_lc.records.calibration import (
    OFFICIAL_DIFFICULTY,
    OFFICIAL_GAMED,
    resolve_calibration,
    write_alpaca_eval_calibration,
)
from alpaca_lc.records.evalset import read_eval_set
from alpaca_lc.scoring.judged import JudgedRows
from alpaca_lc.scoring.score import score_rows
from alpaca_lc.testing.alpaca_eval_reference import ensure_venv

WORK = ROOT / "benchmarks" / ".work"
REVISION = "0" * 40

# Runs inside alpaca-eval's virtualenv: calls its public LC function once per model and times it.
CHILD = textwrap.dedent(
    """
    import json, sys, time, warnings
    import pandas as pd
    from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate
    warnings.simplefilter("ignore")
    table = pd.read_parquet(sys.argv[1])
    out = {}
    for model, df in table.groupby("generator_2", sort=True):
        df = df.sort_values("position").drop(columns=["position"]).reset_index(drop=True)
        start = time.perf_counter()
        metrics = get_length_controlled_winrate(df, save_weights_dir=None, is_warn_extreme_changes=False)
        out[model] = {"lc": float(metrics["length_controlled_winrate"]), "seconds": time.perf_counter() - start}
    json.dump(out, sys.stdout)
    """
)


# Runs inside alpaca-eval's virtualenv as a whole process: reads the same files as `alpaca-lc leaderboard`
# (the shared parquet and a folder of annotations.json files), then its LC function per model.
WHOLE = textwrap.dedent(
    """
    import glob, json, sys, warnings
    import pandas as pd
    from alpaca_eval.metrics.glm_winrate import get_length_controlled_winrate
    warnings.simplefilter("ignore")
    shared = pd.read_parquet(sys.argv[1]).sort_values(["model", "index"])
    frames = [shared.assign(generator_2=shared.model).drop(columns=["index"])]
    frames += [pd.read_json(p) for p in sorted(glob.glob(sys.argv[2] + "/**/annotations.json", recursive=True))]
    table = pd.concat(frames, ignore_index=True)
    out = {}
    for model, df in table.groupby("generator_2", sort=True):
        metrics = get_length_controlled_winrate(df.reset_index(drop=True), save_weights_dir=None,
                                                is_warn_extreme_changes=False)
        out[model] = float(metrics["length_controlled_winrate"])
    json.dump(out, sys.stdout)
    """
)
OTHERS = 15


def other_models(shared: Path) -> Path:
    """15 more models as AlpacaEval results folders of annotations.json (shared models' judgments, renamed)."""
    folder = WORK / "others"
    raw = pd.read_parquet(shared / "annotations.parquet")
    for model in sorted(raw.model.unique())[:OTHERS]:
        name = f"{model}-other"
        path = folder / name / "weighted_alpaca_eval_gpt4_turbo" / "annotations.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = raw[raw.model == model].sort_values("index").assign(generator_2=name)
            rows.drop(columns=["index", "model"]).to_json(path, orient="records", indent=2)
    return folder


def whole_processes(shared: Path, python: Path, env: dict[str, str], runs: int = 5) -> None:
    """`alpaca-lc leaderboard` (parse cache cold, then warm) and AlpacaEval's LC on the same 58 models' files."""
    others = other_models(shared)
    files = [str(shared / "annotations.parquet"), str(others)]
    user = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}  # compiled bytecode, as users have

    def clock(cmd: list[str], extra: dict[str, str]) -> float:
        start = time.perf_counter()
        done = subprocess.run(cmd, env={**user, **extra}, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"{cmd[:3]} failed:\n{done.stderr[-2000:]}")
        return time.perf_counter() - start

    ours = [*cli(), "leaderboard", *files, "--bootstrap", "0", "-o", str(WORK / "lb.csv")]
    cold, warm = {"ALPACA_LC_PARSED_CACHE": "off"}, {"ALPACA_LC_PARSED_CACHE": str(WORK / "parsed")}
    clock(ours, cold)  # warm-up: bytecode and the OS file cache
    clock(ours, warm)  # fills the parse cache
    # Interleaved, one run of each per round: the machine's speed drifts (other tenants), and each ratio
    # should compare runs made under the same conditions.
    times: dict[str, list[float]] = {"theirs": [], "cold": [], "warm": []}
    for _ in range(runs):
        times["theirs"].append(clock([str(python), "-c", WHOLE, *files], {}))
        times["cold"].append(clock(ours, cold))
        times["warm"].append(clock(ours, warm))
    theirs_s, cold_s, warm_s = (statistics.median(times[k]) for k in ("theirs", "cold", "warm"))
    print(
        f"\nwhole processes, {43 + OTHERS} models (the shared parquet and {OTHERS} annotations.json files), LC "
        f"point estimates, median of {runs}: alpaca-eval {theirs_s:.2f} s; alpaca-lc leaderboard {cold_s:.2f} s "
        f"reading every file ({theirs_s / cold_s:.1f}x faster), {warm_s:.2f} s with its parse cache warm "
        f"({theirs_s / warm_s:.1f}x faster)"
    )


def hub_cache(shared: Path) -> Path:
    """A local HF cache whose tatsu-lab/alpaca_eval snapshot holds our calibration in AlpacaEval's format."""
    snapshot = WORK / "hub" / "datasets--tatsu-lab--alpaca_eval" / "snapshots" / REVISION
    write_alpaca_eval_calibration(resolve_calibration("bundled"), read_eval_set(shared / "eval_set.jsonl"), snapshot)
    refs = snapshot.parents[1] / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "main").write_text(REVISION)
    assert (snapshot / OFFICIAL_DIFFICULTY).exists() and (snapshot / OFFICIAL_GAMED).exists()
    return WORK / "hub"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=0, help="only the first N models (0: all)")
    args = parser.parse_args()
    shared = require_shared()
    python = ensure_venv(WORK)
    cache = hub_cache(shared)

    raw = pd.read_parquet(shared / "annotations.parquet")
    models = sorted(raw.model.unique())[: args.models or None]
    raw = raw[raw.model.isin(models)]
    inputs = WORK / "inputs.parquet"
    columns = ["instruction", "output_1", "output_2", "generator_1", "generator_2", "annotator", "preference"]
    raw[columns].assign(generator_2=raw.model, position=raw["index"]).to_parquet(inputs)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache)}
    child = subprocess.run(
        [str(python), "-c", CHILD, str(inputs)], capture_output=True, text=True, env=env, check=False
    )
    if child.returncode != 0:
        sys.exit(f"alpaca-eval failed:\n{child.stderr[-3000:]}")
    theirs = json.loads(child.stdout)

    annotations = read_annotations([inputs])
    calibration = resolve_calibration("bundled")
    rows = JudgedRows.of(annotations)  # the LC computation alone, as on alpaca-eval's side (no reading, screening)
    scores, ours_s = timed(lambda: score_rows(rows, calibration, n_boot=0), repeat=3)
    ours = {s.model: (s.lc.length_controlled_winrate, s.raw.n_total) for s in scores}

    print(f"{'model':<36}{'n':>5}{'alpaca-eval':>13}{'alpaca-lc':>11}{'|d|':>8}")
    rows = []
    for model in models:
        lc, n = ours[model]
        delta = abs(lc - theirs[model]["lc"])
        rows.append((model, n, delta))
        flag = "" if n < 805 or delta <= 0.3 else "  > 0.3"
        print(f"{model:<36}{n:>5}{theirs[model]['lc']:>13.3f}{lc:>11.3f}{delta:>8.3f}{flag}")
    full = [d for _, n, d in rows if n == 805]
    partial = [(m, d) for m, n, d in rows if n < 805]
    their_s = sum(v["seconds"] for v in theirs.values())
    print(
        f"\nmodels with 805 annotations: {len(full)}, max |d LC| {max(full):.3f}, mean {sum(full) / len(full):.3f}, "
        f"within 0.3: {sum(d <= 0.3 for d in full)}/{len(full)}"
    )
    print(
        "models with fewer annotations (AlpacaEval matches difficulty by row position, so it shifts from the "
        "first missing row on): " + ", ".join(f"{m} {d:.2f}" for m, d in partial)
    )
    their_ms, ours_ms = their_s / len(models) * 1000, ours_s / len(models) * 1000
    print(
        f"LC time in-process: alpaca-eval {their_ms:.0f} ms/model, alpaca-lc {ours_ms:.1f} ms/model: "
        f"{their_s / ours_s:.0f}x faster"
    )
    whole_processes(shared, python, env)


if __name__ == "__main__":
    main()
