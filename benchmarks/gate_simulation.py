"""Error rates of the gate's paired test, by simulation on shared models' real judgments.

Each simulated release re-draws every judgment of the model from the judge's own probability for that
instruction (the stored soft preference), as a discrete judge would answer a freshly sampled output.
How noisy that is, next to real releases, is printed first: the per-instruction correlation of two
simulated releases of one model beside that of real pairs of releases of one family in the shared data.
"Candidate = previous": both releases drawn from the same probabilities. "True 3-point drop": the
candidate's probabilities shifted in logit space until its LC is 3 points lower. A release may have K
sampled outputs per instruction (`--samples`), each judged; the gate pools them. The gate runs with
--max-drop 0 at 95% (one-sided) confidence and fails when the drop is significantly above 0. The
"best possible" column is the power of a one-sided z-test that knew the difference's SE exactly: no
valid test of the same data does better.

Usage: python benchmarks/gate_simulation.py [--runs 400] [--bootstrap 400] [--samples 1 3] [--models claude-2]
       [--scenarios same drop3] [--seed 0]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import pandas as pd
from _common import require_shared, section
from scipy.special import expit, logit
from scipy.stats import norm

from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.stats.lc import GamedRows, ModelRows, length_controlled
from alpaca_lc.stats.paired import paired_lc

# Pairs of one family's releases (a new version, or the same weights prompted for another length).
REAL_PAIRS = (
    ("claude", "claude-2"),
    ("vicuna-7b-v1.3", "vicuna-7b-v1.5"),
    ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106_concise"),
    ("alpaca-7b", "alpaca-7b_concise"),
)
Z_95 = norm.ppf(0.95)


@dataclass(frozen=True)
class Model:
    """One shared model's judged instructions: what every simulated release of it is drawn from."""

    keys: np.ndarray
    delta: np.ndarray
    difficulty: np.ndarray
    q: np.ndarray  # the judge's probability that the model's output wins, per instruction

    def rows(self, p: np.ndarray, k: int = 1) -> ModelRows:
        """Rows of a release with probabilities `p` (as soft preferences), or of k stacked 0/1 samples."""
        return ModelRows(np.tile(self.keys, k), np.tile(self.delta, k), 1 + p, np.tile(self.difficulty, k))


def load_model(table: pd.DataFrame, name: str, difficulty: pd.Series) -> Model:
    rows = table[table.model == name]
    keys = instruction_keys(rows.instruction.tolist())
    return Model(
        keys,
        (rows.output_1.str.len() - rows.output_2.str.len()).to_numpy(float),
        difficulty.reindex(keys).to_numpy(float),
        np.clip(rows.preference.to_numpy(float) - 1, 1e-4, 1 - 1e-4),
    )


def drop_by(model: Model, gamed: GamedRows, points: float) -> tuple[float, np.ndarray]:
    """The model's LC, and its probabilities shifted in logit space so that LC is `points` lower."""

    def lc(p: np.ndarray) -> float:
        return length_controlled(model.rows(p), gamed).length_controlled_winrate

    base, low, high = lc(model.q), 0.0, 3.0
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if base - lc(expit(logit(model.q) - mid)) < points else (low, mid)
    return base, expit(logit(model.q) - low)


def simulate(model: Model, gamed: GamedRows, k: int, args: argparse.Namespace) -> dict[str, float]:
    """Fail rates of the gate with k samples per instruction, candidate = previous and a 3-point drop."""
    _, shifted = drop_by(model, gamed, 3.0)
    rng = np.random.default_rng(k + args.seed)
    fails = {"same": 0, "drop3": 0}
    scenarios = [(name, probs) for name, probs in (("same", model.q), ("drop3", shifted)) if name in args.scenarios]
    ses = []
    runs, n_boot = args.runs, args.bootstrap
    for run in range(runs):
        previous = model.rows(rng.binomial(1, np.tile(model.q, k)).astype(float), k)
        for name, probs in scenarios:
            candidate = model.rows(rng.binomial(1, np.tile(probs, k)).astype(float), k)
            res = paired_lc(candidate, previous, gamed, n_boot=n_boot, seed=run, level=0.90)
            fails[name] += -res.difference_interval[1] > 0  # the drop's lower bound above --max-drop 0
            ses.append(res.difference_se)
    rates = {name: fails[name] / runs if name in args.scenarios else float("nan") for name in fails}
    return {**rates, "se": float(np.mean(ses))}


def print_noise_check(table: pd.DataFrame, models: dict[str, Model]) -> None:
    """Per-instruction correlation of two simulated releases of a model, beside real pairs of releases."""
    prefs = table.pivot(index="index", columns="model", values="preference")
    for a, b in REAL_PAIRS:
        if {a, b} <= set(prefs.columns):
            both = prefs[[a, b]].dropna()
            print(f"real releases {a} / {b}: correlation {both[a].corr(both[b]):.3f}")
    for name, m in models.items():
        simulated = m.q.var() / (m.q.var() + (m.q * (1 - m.q)).mean())
        print(f"two simulated releases of {name}: correlation {simulated:.3f} (expected over draws)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--bootstrap", type=int, default=400)
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--models", nargs="+", default=["claude-2"])
    parser.add_argument("--scenarios", nargs="+", choices=["same", "drop3"], default=["same", "drop3"])
    parser.add_argument("--seed", type=int, default=0, help="Added to the simulation's seed, for independent reruns.")
    args = parser.parse_args()
    shared = require_shared()
    calibration = resolve_calibration("bundled")
    gamed = calibration.gamed_rows()
    table = pd.read_parquet(shared / "annotations.parquet")
    models = {name: load_model(table, name, calibration.difficulty) for name in args.models}
    with section("How noisy the simulated releases are, next to real ones"):
        print_noise_check(table, models)
    with section(f"Gate at 95% one-sided, --max-drop 0: {args.runs} runs per row, {args.bootstrap} resamples"):
        print("model | samples | LC | fails, candidate = previous (<= 0.05) | detects 3-point drop (>= 0.80) | "
              "best possible | difference SE")  # fmt: skip
        for name, model in models.items():
            base = length_controlled(model.rows(model.q), gamed).length_controlled_winrate
            for k in args.samples:
                r = simulate(model, gamed, k, args)
                margin = 2 * np.sqrt(0.05 * 0.95 / args.runs)
                best = norm.cdf(3 / r["se"] - Z_95)
                print(f"{name} | {k} | {base:.2f} | {r['same']:.3f} (±{margin:.3f}) | {r['drop3']:.3f} | "
                      f"{best:.3f} | {r['se']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
