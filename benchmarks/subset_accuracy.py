"""Accuracy of subset estimates: leave-models-out over the shared models, at several subset sizes.

The shared models are split into folds by family (a model and its `_concise`/`_verbose` variants stay
together); each fold's models are estimated from a subset whose item model and prior were fitted on the
other folds only, so every estimate is of a model the subset never saw. Compared with the full 805-judgment
raw and LC win rates: mean and max |error|, and how often the 90% intervals cover the full-set value (the
subset's estimation error alone, and the reported interval, which adds the full set's own sampling error).
The bundled subsets use seed 0's choice: its row shows that one draw (the instructions `tiny` and `small`
judge, with item terms fitted without the fold). The reference is the naive estimate from the same number of
random instructions: their mean preference, and the LC spec fitted on those rows alone.

`--diagnose 100` instead fixes some of each held-out model's terms at their values fitted on all its 805
judgments, to show which term's estimate the LC error comes from.

Usage: python benchmarks/subset_accuracy.py [--sizes 50,100,200] [--seeds 10] [--folds 7] [--diagnose SIZE]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from _common import require_shared, section, timed

from alpaca_lc.records.calibration import Calibration, resolve_calibration
from alpaca_lc.records.subset import Subset
from alpaca_lc.scoring.judged import JudgedRows, load_judged
from alpaca_lc.scoring.subset import Matrix, estimate_model, fit_item_model, judgment_matrix, with_chosen
from alpaca_lc.stats import irt
from alpaca_lc.stats.lc import GamedRows, ModelRows, length_controlled

LEVEL = 0.90
Z90 = 1.6448536269514722


@dataclass
class Errors:
    """Signed errors (estimate - full) and interval hits, one per estimated model."""

    lc: list[float]
    raw: list[float]
    lc_hit_subset: list[bool]
    lc_hit: list[bool]
    raw_hit_subset: list[bool]
    raw_hit: list[bool]


def family(model: str) -> str:
    return re.sub(r"_(concise|verbose)$", "", model)


def model_rows(rows: JudgedRows, model: str, calibration: Calibration) -> ModelRows:
    idx = np.flatnonzero(rows.model == model)
    key = rows.key[idx]
    delta = (rows.len_1[idx] - rows.len_2[idx]).astype(float)
    return ModelRows(key, delta, rows.preference[idx], calibration.difficulty_of(key))


def folds_of(matrix: Matrix, n_folds: int) -> list[list[int]]:
    complete = [i for i, m in enumerate(matrix.models) if not np.isnan(matrix.y[i]).any() and matrix.typical[i]]
    families = sorted({family(matrix.models[i]) for i in complete})
    np.random.default_rng(0).shuffle(families)
    fold = {f: k % n_folds for k, f in enumerate(families)}
    return [[i for i in complete if fold[family(matrix.models[i])] == k] for k in range(n_folds)]


def fitted_without(matrix: Matrix, n_folds: int) -> Iterator[tuple[list[int], Subset]]:
    """Each fold's held-out models, with the item model fitted on the other folds only."""
    for held_out in folds_of(matrix, n_folds):
        keep = [i for i in range(len(matrix.models)) if i not in held_out]
        train = Matrix([matrix.models[i] for i in keep], matrix.keys, matrix.y[keep], matrix.x[keep],
                       matrix.typical[keep])  # fmt: skip
        yield held_out, fit_item_model(train, seed=0)


def run(rows: JudgedRows, matrix: Matrix, sizes: list[int], seeds: int, n_folds: int) -> dict[tuple[str, int], Errors]:
    calibration = resolve_calibration("bundled")
    gamed = calibration.gamed_rows()
    truth: dict[str, tuple[float, float, ModelRows]] = {}
    for m in matrix.models:
        full = model_rows(rows, m, calibration)
        lc = length_controlled(full, gamed).length_controlled_winrate
        truth[m] = (float(np.nanmean(full.preference - 1)) * 100, lc, full)
    out: dict[tuple[str, int], Errors] = {}
    for held_out, fitted in fitted_without(matrix, n_folds):
        for size in sizes:
            for seed in range(seeds):
                subset = with_chosen(fitted, size, seed)
                for i in held_out:
                    raw_true, lc_true, full = truth[matrix.models[i]]
                    kinds = ["alpaca-lc subset"] + (["alpaca-lc, bundled choice (seed 0)"] if seed == 0 else [])
                    _ours([out.setdefault((kind, size), Errors([], [], [], [], [], [])) for kind in kinds],
                          subset.members(full.key), full, raw_true, lc_true, subset, gamed, seed)  # fmt: skip
                    _naive(out.setdefault(("random, naive", size), Errors([], [], [], [], [], [])),
                           subset.members(full.key), full, raw_true, lc_true, gamed)  # fmt: skip
    return out


def _ours(into: list[Errors], member: np.ndarray, full: ModelRows, raw_true: float, lc_true: float,
          subset: Subset, gamed: GamedRows | None, seed: int) -> None:  # fmt: skip
    pref = np.where(member, full.preference, np.nan)
    rows = ModelRows(full.key, full.delta_len, pref, full.difficulty)
    est = estimate_model(subset, rows, gamed, n_boot=200, seed=seed, level=LEVEL)
    lc_err, raw_err = est.lc.length_controlled_winrate - lc_true, est.raw.win_rate - raw_true
    for errors in into:
        errors.lc.append(lc_err)
        errors.raw.append(raw_err)
        errors.lc_hit_subset.append(abs(lc_err) <= Z90 * est.lc_subset_se)
        errors.lc_hit.append(est.lc.lc_ci_low <= lc_true <= est.lc.lc_ci_high)
        errors.raw_hit_subset.append(abs(raw_err) <= Z90 * est.raw_subset_se)
        errors.raw_hit.append(abs(raw_err) <= Z90 * est.raw.standard_error)


def _naive(errors: Errors, member: np.ndarray, full: ModelRows, raw_true: float, lc_true: float,
           gamed: GamedRows | None) -> None:  # fmt: skip
    part = full.take(np.flatnonzero(member))
    lc = length_controlled(part, gamed, n_boot=200, level=LEVEL)
    raw = float(np.nanmean(part.preference - 1)) * 100
    se = np.nanstd(part.preference - 1, ddof=1) / np.sqrt(member.sum()) * 100 * np.sqrt(1 - member.sum() / len(member))
    errors.lc.append(lc.length_controlled_winrate - lc_true)
    errors.raw.append(raw - raw_true)
    errors.lc_hit.append(lc.lc_ci_low <= lc_true <= lc.lc_ci_high)
    errors.raw_hit.append(abs(raw - raw_true) <= Z90 * se)


# Terms of the held-out model (theta, phi, a1..a4) taken from a fit on all its 805 judgments instead of being
# estimated from the subset's: which term's estimate the LC error comes from.
KNOWN_TERMS = {"none (the estimator)": [], "theta": [0], "phi": [1], "profile a": [2, 3, 4, 5],
               "theta and a": [0, 2, 3, 4, 5], "all (floor of the item model)": [0, 1, 2, 3, 4, 5]}  # fmt: skip


def diagnose(rows: JudgedRows, matrix: Matrix, size: int, seeds: int, n_folds: int) -> dict[str, list[float]]:
    """LC errors at one size when some of the held-out model's terms are known (see KNOWN_TERMS)."""
    calibration = resolve_calibration("bundled")
    gamed = calibration.gamed_rows()
    errors: dict[str, list[float]] = {name: [] for name in KNOWN_TERMS}
    for held_out, fitted in fitted_without(matrix, n_folds):
        for i in held_out:
            full = model_rows(rows, matrix.models[i], calibration)
            lc_true = length_controlled(full, gamed).length_controlled_winrate
            items = fitted.items_of(full.key)
            x, y = irt.length_feature(full.delta_len), full.preference - 1
            everything = irt.fit_new_model(y, x, items, fitted.prior_mean, fitted.prior_cov).mean
            for seed in range(seeds):
                judged = with_chosen(fitted, size, seed).members(full.key)
                for name, known in KNOWN_TERMS.items():
                    mean, cov = fitted.prior_mean.copy(), fitted.prior_cov.copy()
                    mean[known] = everything[known]
                    cov[known, :], cov[:, known] = 0.0, 0.0
                    cov[known, known] = 1e-10  # a point prior: the term is fixed at its full-data value
                    posterior = irt.fit_new_model(np.where(judged, y, np.nan), x, items, mean, cov)
                    completed = np.where(judged, y, posterior.predict(posterior.mean, x, items))
                    lc = length_controlled(ModelRows(full.key, full.delta_len, completed + 1, full.difficulty), gamed)
                    errors[name].append(lc.length_controlled_winrate - lc_true)
    return errors


def report(results: dict[tuple[str, int], Errors], price: float) -> None:
    print("| estimate | judgments | judge cost | mean abs LC err | max | mean abs raw err | max | LC 90% cover "
          "(subset err / reported) | raw 90% cover (subset err / reported) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for (method, size), e in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lc, raw = np.abs(e.lc), np.abs(e.raw)
        lc_cover = f"{_share(e.lc_hit_subset)} / {_share(e.lc_hit)}"
        raw_cover = f"{_share(e.raw_hit_subset)} / {_share(e.raw_hit)}"
        print(f"| {method} | {size} | ${size * price:.2f} | {lc.mean():.2f} | {lc.max():.1f} | {raw.mean():.2f} | "
              f"{raw.max():.1f} | {lc_cover} | {raw_cover} |")  # fmt: skip
    print(f"| full eval set | 805 | ${805 * price:.2f} | 0 | 0 | 0 | 0 | | |")


def _share(hits: list[bool]) -> str:
    return f"{np.mean(hits):.0%}" if hits else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--seeds", type=int, default=10, help="random subsets per size and fold")
    parser.add_argument("--folds", type=int, default=7)
    parser.add_argument("--diagnose", type=int, default=0, metavar="SIZE",
                        help="instead: at this size, the LC error with some of the model's terms known")  # fmt: skip
    args = parser.parse_args()
    shared = require_shared()
    rows = load_judged([shared / "annotations.parquet"])
    matrix = judgment_matrix(rows)
    import pyarrow.parquet as pq

    prices = pq.read_table(shared / "annotations.parquet", columns=["price_per_example"]).column(0).to_pylist()
    price = float(np.nanmean(np.array(prices, dtype=float)))
    if args.diagnose:
        errors, seconds = timed(lambda: diagnose(rows, matrix, args.diagnose, args.seeds, args.folds))
        with section(f"Mean |LC error| at {args.diagnose} judgments when terms are known ({seconds:.0f} s)"):
            print("| terms known from all 805 judgments | mean abs LC err | max |\n|---|---|---|")
            for name, e in errors.items():
                print(f"| {name} | {np.abs(e).mean():.2f} | {np.abs(e).max():.1f} |")
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results, seconds = timed(lambda: run(rows, matrix, sizes, args.seeds, args.folds))
    with section(f"Leave-models-out: {args.folds} family folds x {args.seeds} subsets per size ({seconds:.0f} s)"):
        n = sum(len(f) for f in folds_of(matrix, args.folds))
        print(f"{n} models estimated; judge cost at AlpacaEval 2.0's recorded ${price:.5f} per judgment\n")
        report(results, price)


if __name__ == "__main__":
    main()
