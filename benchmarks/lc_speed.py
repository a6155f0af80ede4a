"""Speed of the LC statistics: seconds per model, against AlpacaEval's fitting procedure in the same process.

The reference is AlpacaEval's per-model fit (L1 LogisticRegressionCV with 5 group folds over the soft
targets duplicated as weighted 0/1 rows, liblinear), rebuilt on scikit-learn and run here on the same
design matrices, so the ratio is measured on this machine in this process. `compare_alpaca_eval.py`
measures against the real alpaca-eval package.

Usage: python benchmarks/lc_speed.py [--reference-models N]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from _common import require_shared, section, timed

from alpaca_lc.records.annotations import Annotations, read_annotations
from alpaca_lc.records.calibration import Calibration, resolve_calibration
from alpaca_lc.records.table import instruction_key
from alpaca_lc.scoring.score import score_annotations
from alpaca_lc.stats.glm import logistic


def reference_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AlpacaEval's procedure: soft targets as duplicated 0/1 rows, L1 LogisticRegressionCV over 5 group folds."""
    import sklearn
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    sklearn.set_config(enable_metadata_routing=True)
    n = len(y)
    true_prob, true_w = np.r_[y, 1 - y], np.r_[w, w]

    def logloss(y_true: np.ndarray, y_pred: np.ndarray, true_prob: np.ndarray, true_sample_weight: np.ndarray) -> float:
        target = np.where(y_true == 1, true_prob, 1 - true_prob)
        p = np.clip(y_pred, 1e-15, 1 - 1e-15)
        return float(-np.mean((target * np.log(p) + (1 - target) * np.log(1 - p)) * true_sample_weight))

    scorer = make_scorer(logloss, response_method="predict_proba", greater_is_better=False)
    scorer = scorer.set_score_request(true_prob=True, true_sample_weight=True)
    model = LogisticRegressionCV(
        cv=GroupKFold(5), scoring=scorer, penalty="l1", solver="liblinear", fit_intercept=False, random_state=123
    )
    model.set_fit_request(sample_weight=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(
            np.vstack([x, x]),
            np.r_[np.ones(n), np.zeros(n)],
            sample_weight=true_prob * true_w,
            groups=np.r_[np.arange(n), np.arange(n)],
            true_prob=true_prob,
            true_sample_weight=true_w,
        )
    return np.asarray(model.coef_[0])


def reference_lc(group: pd.DataFrame, calibration: Calibration) -> float:
    gamed = calibration.gamed_rows()
    assert gamed is not None
    delta = (group.output_1.str.len() - group.output_2.str.len()).to_numpy(float)
    diff = group.instruction.map(instruction_key).map(calibration.difficulty).to_numpy(float)
    x_m = np.column_stack([np.tanh(delta / delta.std(ddof=1)), diff, np.ones(len(delta))])
    x_g = np.column_stack([np.tanh(gamed.std_delta_len), gamed.difficulty, np.zeros(len(gamed.key))])
    y = np.r_[group.preference.to_numpy(float) - 1, gamed.preference - 1]
    w = np.r_[np.ones(len(delta)), np.full(len(gamed.key), 0.1)]
    coef = reference_fit(np.vstack([x_m, x_g]), y, w)
    return float(logistic(coef[1] * diff + coef[2]).mean() * 100)


def synthetic_annotations(n_models: int, n_instructions: int = 805, seed: int = 0) -> tuple[Annotations, Calibration]:
    rng = np.random.default_rng(seed)
    instructions = [f"synthetic instruction {i}" for i in range(n_instructions)]
    base_len = rng.integers(200, 3000, n_instructions)
    difficulty = rng.normal(0, 1, n_instructions)
    frames = []
    for m in range(n_models):
        out_len = rng.integers(50, 3000, n_instructions)
        eta = rng.normal(-1.5, 1) + difficulty - 1.8 * np.tanh((base_len - out_len) / 900)
        frames.append(
            pd.DataFrame(
                {
                    "model": f"model-{m:04d}",
                    "instruction": instructions,
                    "output_1": ["b" * n for n in base_len],
                    "output_2": ["m" * n for n in out_len],
                    "preference": 1 + logistic(eta + rng.normal(0, 1, n_instructions)),
                    "source": "synthetic",
                    "record": np.arange(1, n_instructions + 1),
                }
            )
        )
    keys = [instruction_key(s) for s in instructions]
    gamed = pd.DataFrame(
        {
            "key": keys * 2,
            "variant": ["verbose"] * n_instructions + ["concise"] * n_instructions,
            "std_delta_len": rng.normal(0, 1, 2 * n_instructions),
            "preference": 1 + rng.uniform(0.1, 0.9, 2 * n_instructions),
        }
    )
    table = Annotations.from_pandas(pd.concat(frames, ignore_index=True), "synthetic")
    return table, Calibration.of(pd.Series(difficulty, index=keys), gamed, "synthetic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-models", type=int, default=10, help="models timed with the reference fit")
    args = parser.parse_args()
    shared = require_shared()
    annotations, read_s = timed(lambda: read_annotations([shared / "annotations.parquet"]))
    calibration = resolve_calibration("bundled")
    frame = annotations.to_pandas()
    n_models = frame.model.nunique()

    with section(f"AlpacaEval 2.0 shared annotations: {n_models} models"):
        print(f"read 41 MB parquet + validate: {read_s:.2f} s")
        _, point_s = timed(lambda: score_annotations(annotations, calibration, n_boot=0), repeat=3)
        _, boot_s = timed(lambda: score_annotations(annotations, calibration, n_boot=1000))
        print(f"ours, point estimate (no bootstrap): {point_s / n_models * 1000:.1f} ms/model, {point_s:.2f} s total")
        print(f"ours, with 1000-resample bootstrap:   {boot_s / n_models * 1000:.1f} ms/model, {boot_s:.2f} s total")

        models = sorted(frame.model.unique())[: args.reference_models]
        subset = [frame[frame.model == m] for m in models]
        ref, ref_s = timed(lambda: [reference_lc(g, calibration) for g in subset])
        ours_subset = annotations.take(np.isin(annotations.model.astype(str), models))
        scores, ours_s = timed(lambda: score_annotations(ours_subset, calibration, n_boot=0), repeat=3)
        gap = max(abs(s.lc.length_controlled_winrate - r) for s, r in zip(scores, ref, strict=True))
        print(
            f"reference (AlpacaEval's L1 LogisticRegressionCV), {len(models)} models: "
            f"{ref_s / len(models) * 1000:.1f} ms/model; "
            f"ours on the same models: {ours_s / len(models) * 1000:.1f} ms/model"
        )
        print(f"speed-up without bootstrap: {ref_s / ours_s:.0f}x (target >= 20x); max |LC ours - reference| {gap:.3f}")
        print(
            f"bootstrap 1000 costs {boot_s / point_s:.0f}x the point estimate; vs reference point fit: "
            f"{(boot_s / n_models) / (ref_s / len(models)):.2f}x"
        )

    with section("synthetic leaderboards (805 instructions per model, no bootstrap)"):
        base_per_model = None
        for n in (10, 100, 1000):
            data, synth_cal = synthetic_annotations(n)
            _, secs = timed(lambda data=data, synth_cal=synth_cal: score_annotations(data, synth_cal, n_boot=0))
            per = secs / n
            base_per_model = base_per_model or per
            print(
                f"{n:>5} models: {secs:6.2f} s, {per * 1000:6.1f} ms/model "
                f"({per / base_per_model:.2f}x the 10-model rate)"
            )
        data, synth_cal = synthetic_annotations(100)
        _, secs = timed(lambda: score_annotations(data, synth_cal, n_boot=200))
        print(f"  100 models with a 200-resample bootstrap: {secs:.2f} s ({secs / 100 * 1000:.0f} ms/model)")


if __name__ == "__main__":
    main()
