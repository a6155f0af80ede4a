"""The default judge against AlpacaEval 0.6.6 itself: the same requests, the same preferences (issue 9).

AlpacaEval runs in a throw-away virtualenv (created once under benchmarks/.work/, as the comparison benchmark
does) against a local server that records every request body; alpaca-lc runs as a user types it against
another. Both judge all 805 pairs of two shared models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alpaca_lc.testing import alpaca_eval_reference
from alpaca_lc.testing.openai_server import LocalServer

from ..conftest import ROOT

MODELS = ("claude-2", "vicuna-7b-v1.5")


def _inputs(shared: Path, root: Path) -> tuple[Path, dict[str, Path]]:
    import pandas as pd

    eval_set = [json.loads(line) for line in (shared / "eval_set.jsonl").read_text().splitlines()]
    reference = root / "reference.json"
    reference.write_text(json.dumps([{k: e[k] for k in ("instruction", "output", "generator", "dataset")}
                                     for e in eval_set]))  # fmt: skip
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "index", "instruction", "output_2"])
    outputs = {}
    for model in MODELS:
        rows = table[table.model == model].sort_values("index")
        assert len(rows) == 805, model
        outputs[model] = root / f"{model}.json"
        outputs[model].write_text(json.dumps([{"instruction": r.instruction, "output": r.output_2, "generator": model}
                                              for r in rows.itertuples()]))  # fmt: skip
    return reference, outputs


def _requests(log: Path) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in log.read_text().splitlines())


@pytest.mark.slow
def test_default_judge_sends_what_alpaca_eval_sends(shared: Path, tmp_path: Path) -> None:
    python = alpaca_eval_reference.ensure_venv(ROOT / "benchmarks" / ".work")
    reference, outputs = _inputs(shared, tmp_path)
    base_env = {**os.environ, "OPENAI_API_KEY": "sk-local", "HF_HUB_OFFLINE": "1"}
    for model, path in outputs.items():
        ae_log, ours_log = tmp_path / f"{model}.ae.jsonl", tmp_path / f"{model}.ours.jsonl"
        with LocalServer(record=ae_log) as server:
            env = {**base_env, "OPENAI_BASE_URL": server.base_url}
            theirs_file = alpaca_eval_reference.evaluate(python, path, reference, tmp_path / f"ae-{model}", env)
        with LocalServer(record=ours_log) as server:
            env = {**base_env, "OPENAI_BASE_URL": server.base_url, "ALPACA_LC_CACHE": str(tmp_path / "ours.sqlite"),
                   "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl")}  # fmt: skip
            ours_file = tmp_path / f"{model}.annotations.json"
            cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(path), "-o", str(ours_file), "--no-progress"]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            assert done.returncode == 0, done.stderr
        theirs_requests, ours_requests = _requests(ae_log), _requests(ours_log)
        # (A pair whose outputs are identical is a tie with no request in both.)
        assert len(theirs_requests) == len(ours_requests) > 800
        assert ours_requests == theirs_requests  # messages, their order and roles, model, decoding: all equal
        theirs = {r["instruction"]: r["preference"] for r in json.loads(theirs_file.read_text())}
        ours = {r["instruction"]: r["preference"] for r in json.loads(ours_file.read_text())}
        assert theirs.keys() == ours.keys() and len(ours) == 805
        worst = max(abs(theirs[k] - ours[k]) for k in theirs)
        # AlpacaEval writes its annotations with 10 significant digits (pandas' to_json), hence not exactly 0.
        assert worst < 1e-9
        print(f"\n{model}: {len(ours_requests)} requests each, identical; 805 preferences, max |difference| "
              f"{worst:.1e}")  # fmt: skip

        # AlpacaEval's own annotation cache imports as the same judge: judging again costs nothing.
        cache = tmp_path / f"{model}.import.sqlite"
        env = {**base_env, "ALPACA_LC_CACHE": str(cache), "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl"),
               "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}  # fmt: skip
        ae_cache = tmp_path / f"ae-{model}" / "annotations_cache.json"
        run = [sys.executable, "-m", "alpaca_lc"]
        subprocess.run([*run, "cache", "import", str(ae_cache)], env=env, check=True, capture_output=True)
        again = subprocess.run([*run, "annotate", str(path), "-o", str(tmp_path / "again.json"), "--no-progress"],
                               env=env, capture_output=True, text=True, check=False)  # fmt: skip
        assert again.returncode == 0 and " 0 new in" in again.stderr, again.stderr


@pytest.mark.slow
def test_max_instances_judges_what_alpaca_eval_judges(shared: Path, tmp_path: Path) -> None:
    """`--max-instances 50`: the same 50 instructions, in the same order and orientation, as AlpacaEval's."""
    python = alpaca_eval_reference.ensure_venv(ROOT / "benchmarks" / ".work")
    reference, outputs = _inputs(shared, tmp_path)
    path = outputs[MODELS[0]]
    base_env = {**os.environ, "OPENAI_API_KEY": "sk-local", "HF_HUB_OFFLINE": "1"}
    ae_log, ours_log = tmp_path / "ae.jsonl", tmp_path / "ours.jsonl"
    with LocalServer(record=ae_log) as server:
        env = {**base_env, "OPENAI_BASE_URL": server.base_url}
        theirs_file = alpaca_eval_reference.evaluate(python, path, reference, tmp_path / "ae", env, max_instances=50)
    with LocalServer(record=ours_log) as server:
        env = {**base_env, "OPENAI_BASE_URL": server.base_url, "ALPACA_LC_CACHE": str(tmp_path / "ours.sqlite"),
               "ALPACA_LC_EVAL_SET": str(shared / "eval_set.jsonl")}  # fmt: skip
        ours_file = tmp_path / "ours.json"
        cmd = [sys.executable, "-m", "alpaca_lc", "annotate", str(path), "-o", str(ours_file), "--no-progress",
               "--max-instances", "50"]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    # The same requests (which pairs, which output shown first) and the same annotations, in the same order.
    assert _requests(ae_log) == _requests(ours_log) and len(_requests(ours_log)) >= 49
    theirs = [(r["instruction"], r["output_1"], r["output_2"]) for r in json.loads(theirs_file.read_text())]
    ours = [(r["instruction"], r["output_1"], r["output_2"]) for r in json.loads(ours_file.read_text())]
    assert len(ours) == 50 and ours == theirs
