"""Run Arena-Hard-Auto's own scorer (`show_result.py`) on a committed judgment fixture and commit its figures.

The reference scorer imports `torch`, which CI does not install, so this script runs it in a throw-away
environment and writes what it computed to `tests/data/arena_hard_v2/reference_figures.json`;
`tests/stats/test_arena_reference.py` compares ours with that file on every change.

    python benchmarks/arena_reference.py --make-fixture      # regenerate the seeded judgment fixture
    python benchmarks/arena_reference.py --python /tmp/ref/bin/python   # that python has torch, pandas, tqdm, yaml

The fixture: three models' judgments of the first 200 hard prompts against o3-mini (whose real answers and
style metadata are read from ../shared), with verdicts of all five kinds in both orders and written both ways
("A>B" and "B<A"), some games null (a failed call) and some with no verdict, and synthetic style metadata whose
length and markdown differences move the verdicts, so the style coefficients are far from zero.

The reference is run unchanged; the driver only records what its functions return: the per-model mean of the
battles before bootstrap, the bootstrap table `print_leaderboard` formats, and for style control the
full-data `fit_pairwise_model` fit on the very features `print_leaderboard_with_style_features` builds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _common import ROOT, cli

from alpaca_lc.testing.openai_server import LocalServer

ARENA = ROOT.parent / "shared" / "data" / "arena_hard_v2"
FIXTURE = ROOT / "tests" / "data" / "arena_hard_v2"
BASELINE = "o3-mini-2025-01-31"
MODELS = {"model-strong": (0.8, 0.3, 1.0), "model-verbose": (0.0, 0.9, 3.0), "model-weak": (-1.0, -0.4, 0.3)}
KINDS = ((">>", 3), (">", 1), ("=", 0), ("<", -1), ("<<", -3))  # from the model's side
PROMPTS = 200

_DRIVER = r"""
import json, sys
import numpy as np, torch
import show_result as sr
from utils import math_utils

np.random.seed(0); torch.manual_seed(0)
out = {}
battles = sr.load_judgments(["gpt-4.1"], "arena-hard-v2.0")
battles["scores"] = battles["scores"].astype(float)
out["mean"] = battles.groupby("model")["scores"].mean().to_dict()
out["rows"] = int(len(battles))

def capture(key):
    original = sr.format_confidence_interval
    def wrapped(mean, lower, upper, baseline=None):
        table = mean.merge(lower, on="model").merge(upper, on="model")
        out[key] = {r.model: [float(r.scores), float(r.lower), float(r.upper)] for r in table.itertuples()}
        return original(mean, lower, upper, baseline)
    sr.format_confidence_interval = wrapped
    return original

def full_fit(key):
    boot, rates = sr.bootstrap_pairwise_model, sr.to_winrate_probabilities
    def wrapped_boot(features, outcomes, loss_type="bt", num_round=100):
        coefs, _ = math_utils.fit_pairwise_model(features, outcomes, loss_type)
        out[key + ".shipped_coefs"] = coefs.tolist()  # its own 50 LBFGS iterations stop short of the optimum
        torch.set_default_dtype(torch.float64)  # the same fit run to convergence, in double precision
        coefs, _ = math_utils.fit_pairwise_model(features.double(), outcomes.double(), loss_type, max_epochs=1000)
        torch.set_default_dtype(torch.float32)
        out[key + ".full_coefs"] = coefs.tolist()
        return boot(features, outcomes, loss_type, num_round)
    def wrapped_rates(coefs, models, baseline_model):
        n = len(models)
        full = torch.tensor(out[key + ".full_coefs"])[None, :n]
        out[key + ".full"] = dict(zip(models, rates(full, models, baseline_model)[0].tolist()))
        shipped = torch.tensor(out[key + ".shipped_coefs"])[None, :n]
        out[key + ".shipped"] = dict(zip(models, rates(shipped, models, baseline_model)[0].tolist()))
        return rates(coefs, models, baseline_model)
    sr.bootstrap_pairwise_model, sr.to_winrate_probabilities = wrapped_boot, wrapped_rates
    return boot, rates

original = capture("plain")
sr.print_leaderboard(battles.copy(), "hard_prompt")
sr.format_confidence_interval = original
for features in (["length", "markdown"],):  # -f length or markdown alone drop a wrong column
    key = ",".join(features)
    original = capture(key)
    boot, rates = full_fit(key)
    sr.print_leaderboard_with_style_features(battles.copy(), "arena-hard-v2.0", "hard_prompt", features)
    sr.format_confidence_interval, sr.bootstrap_pairwise_model, sr.to_winrate_probabilities = original, boot, rates
print("FIGURES " + json.dumps(out))
"""


def _baseline_style() -> dict[str, dict]:
    with open(ARENA / f"{BASELINE}.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return {r["uid"]: r["metadata"] for r in rows}


def questions(limit: int | None = PROMPTS, categories: tuple[str, ...] = ("hard_prompt",)) -> list[tuple[str, str]]:
    """(uid, category) of the benchmark's questions in these categories, the first `limit` of each."""
    with open(ARENA / "question.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [(r["uid"], c) for c in categories for r in [r for r in rows if r["category"] == c][:limit]]


def _total(meta: dict, field: str) -> int:
    value = meta[field]
    return sum(value.values()) if isinstance(value, dict) else value


def _model_meta(base: dict, verbosity: float, markdown: float, rng: np.random.Generator) -> dict:
    tokens = max(1, int(base["token_len"] * np.exp(rng.normal(verbosity - 0.3, 0.5))))
    rate = markdown * tokens / 200
    headers, lists, bold = (int(rng.poisson(rate * s)) for s in (0.3, 1.0, 0.6))
    return {
        "token_len": tokens,
        "header_count": {"h1": headers // 3, "h2": headers - headers // 3, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
        "list_count": {"ordered": lists // 2, "unordered": lists - lists // 2},
        "bold_count": {"**": bold, "__": 0},
    }


def _label(side: int, model_is_a: bool, rng: np.random.Generator) -> str:
    """The verdict label for a model-side outcome (3 much better ... -3 much worse), written either way round."""
    kind = {3: ">>", 1: ">", 0: "=", -1: "<", -3: "<<"}[side]
    mirror = {">>": "<<", ">": "<", "=": "=", "<": ">", "<<": ">>"}
    a_kind = kind if model_is_a else mirror[kind]  # from A's side
    return f"A{a_kind}B" if rng.random() < 0.5 else f"B{mirror[a_kind]}A"


def _game(side: int, model_is_a: bool, rng: np.random.Generator) -> dict | None:
    draw = rng.random()
    if draw < 0.03:
        return None  # the call failed
    if draw < 0.06:
        return {"score": None, "judgment": {"answer": "No verdict given."}, "prompt": None}
    label = _label(side, model_is_a, rng)
    return {"score": label, "judgment": {"answer": f"My final verdict is [[{label}]]."}, "prompt": None}


def _side(strength: float, model: dict, base: dict, rng: np.random.Generator) -> int:
    length = (model["token_len"] - base["token_len"]) / (model["token_len"] + base["token_len"])
    md = _total(model, "list_count") / (model["token_len"] + 1) - _total(base, "list_count") / (base["token_len"] + 1)
    z = strength + 1.5 * length + 8.0 * md + rng.logistic()
    return int(np.select([z > 2.5, z > 0.7, z > -0.7, z > -2.5], [3, 1, 0, -1], -3))


BASELINES = {"hard_prompt": BASELINE, "creative_writing": "gemini-2.0-flash-001"}


def write_models(folder: Path, models: dict[str, tuple[float, float, float]], prompts: list[tuple[str, str]],
                 seed: int) -> None:  # fmt: skip
    """Write each model's judgment and answer files (the benchmark's formats) under `folder`.

    Args:
        models: name -> (strength, verbosity, markdown use).
        prompts: (uid, category) judged; o3-mini's real style metadata stands for each category's baseline.
    """
    rng = np.random.default_rng(seed)
    base = _baseline_style()
    for sub in ("judgments", "answers"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, (strength, verbosity, markdown) in models.items():
        judgments, answers = [], []
        for uid, category in prompts:
            meta = _model_meta(base[uid], verbosity, markdown, rng)
            answer = {"role": "assistant", "content": {"answer": f"{name} answer to {uid}"}}
            answers.append({"uid": uid, "ans_id": uid, "model": name, "messages": [answer], "metadata": meta})
            games = [_game(_side(strength, meta, base[uid], rng), a, rng) for a in (False, True)]
            judgments.append(
                {"uid": uid, "category": category, "judge": "gpt-4.1", "model": name, "baseline": BASELINES[category]}
                | {"games": games}
            )
        for sub, rows in (("judgments", judgments), ("answers", answers)):
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            (folder / sub / f"{name}.jsonl").write_text(text, encoding="utf-8")


def make_fixture() -> None:
    """Write the seeded judgment and answer files of the three models."""
    write_models(FIXTURE, MODELS, questions(), seed=29)
    print(f"fixture written to {FIXTURE.relative_to(ROOT)}: {len(MODELS)} models x {PROMPTS} prompts")


def reference_layout(judgments: Path, answers: Path, scratch: Path) -> Path:
    """The reference's data tree (`data/<bench>/model_judgment/<judge>`, `model_answer`) over our files; the
    baselines' answers are o3-mini's real ones (the creative-writing baseline's metadata stood in by them)."""
    data = scratch / "data" / "arena-hard-v2.0"
    shutil.copytree(judgments, data / "model_judgment" / "gpt-4.1")
    shutil.copytree(answers, data / "model_answer")
    os.symlink(ARENA / f"{BASELINE}.jsonl", data / "model_answer" / f"{BASELINE}.jsonl")
    with open(ARENA / f"{BASELINE}.jsonl", encoding="utf-8") as f:
        stand_in = [json.loads(line) | {"model": BASELINES["creative_writing"]} for line in f]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in stand_in)
    (data / "model_answer" / f"{BASELINES['creative_writing']}.jsonl").write_text(text, encoding="utf-8")
    return data / "model_answer"


def make_server_fixture() -> None:
    """Judgments of the same three models' answers made by our `annotate` against the local server (its Arena judge:
    five kinds of verdict, 5% of judgments with none), kept to what the scorer reads (each game's verdict)."""
    questions = {json.loads(x)["uid"]: x for x in (ARENA / "question.jsonl").read_text(encoding="utf-8").split("\n")
                 if x.strip()}  # fmt: skip
    (FIXTURE / "server").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, LocalServer(arena_no_verdict=0.05) as server:
        uids = [json.loads(x)["uid"] for x in (FIXTURE / "answers" / "model-weak.jsonl").read_text().splitlines()]
        (Path(tmp) / "q.jsonl").write_text("\n".join(questions[u] for u in uids) + "\n", encoding="utf-8")
        env = dict(os.environ, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="local", ALPACA_LC_CACHE=f"{tmp}/c.db")
        for answers in sorted((FIXTURE / "answers").glob("*.jsonl")):
            out = Path(tmp) / answers.name
            subprocess.run([*cli(), "annotate", "--benchmark", "arena-hard-v2.0", str(answers), "--eval-set",
                            f"{tmp}/q.jsonl", "--reference", str(ARENA / f"{BASELINE}.jsonl"), "--category",
                            "hard_prompt", "--arena-hard-dir", str(ARENA / "reference"), "-o", str(out),
                            "--no-progress"], env=env, check=True, capture_output=True)  # fmt: skip
            lines = [json.loads(x) for x in out.read_text(encoding="utf-8").split("\n") if x.strip()]
            kept = [{k: r[k] for k in ("uid", "category", "judge", "model", "baseline")}
                    | {"games": [{"score": g["score"]} for g in r["games"]]} for r in lines]  # fmt: skip
            text = "".join(json.dumps(r) + "\n" for r in kept)
            (FIXTURE / "server" / answers.name).write_text(text, encoding="utf-8")
    print(f"server-made judgments written to {(FIXTURE / 'server').relative_to(ROOT)}")


def run_reference(python: str, judgments: Path, out: Path) -> None:
    """Run the reference scorer on a judgment fixture in a scratch folder and commit its figures to `out`."""
    with tempfile.TemporaryDirectory() as tmp:
        reference_layout(judgments, FIXTURE / "answers", Path(tmp))
        env = dict(os.environ, PYTHONPATH=str(ARENA / "reference"))
        done = subprocess.run([python, "-c", _DRIVER], cwd=tmp, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the reference scorer failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("FIGURES "))
    figures = json.loads(line.removeprefix("FIGURES "))
    out.write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    print(done.stdout.replace(line, "").strip())
    print(f"reference figures written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-fixture", action="store_true", help="regenerate the seeded judgment fixture")
    parser.add_argument("--server-fixture", action="store_true",
                        help="regenerate the judgments made by our annotate against the local server")  # fmt: skip
    parser.add_argument("--python", help="a python with torch, pandas, numpy, tqdm and pyyaml: run the reference")
    args = parser.parse_args()
    if not (ARENA / f"{BASELINE}.jsonl").exists():
        print(f"skipped: shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
        return
    if args.make_fixture:
        make_fixture()
    if args.server_fixture:
        make_server_fixture()
    if args.python:
        run_reference(args.python, FIXTURE / "judgments", FIXTURE / "reference_figures.json")
        run_reference(args.python, FIXTURE / "server", FIXTURE / "reference_figures_server.json")


if __name__ == "__main__":
    main()
