"""Record the requests Arena-Hard-Auto's own `gen_judgment.py` sends, and the judgment file it writes, for the
committed fixture that `tests/annotation/test_arena_protocol.py` compares ours with.

The reference's `judgment()` runs unchanged, in a throw-away environment with what it imports (openai, boto3,
pandas, pyyaml, shortuuid, tqdm), against our recording local server; its judge settings are the benchmark's own
(`config/arena-hard-v2.0.yaml`, and `config/api_config.yaml`'s gpt-4.1 entry). Six prompts (three hard, three
creative writing; those with o3-mini's shortest answers, to keep the fixture small), each judged in two games;
the model's answer is o3-mini's answer to another prompt of the same category (real text: markdown, code, braces).

    python benchmarks/arena_requests.py --python /tmp/ref/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT
from arena_reference import ARENA, BASELINE, BASELINES

from alpaca_lc.testing.openai_server import LocalServer

FIXTURE = ROOT / "tests" / "data" / "arena_hard_v2"
PER_CATEGORY = 3

_DRIVER = r"""
import json, sys
import gen_judgment as gj
from utils.completion import make_config

configs = make_config("config/arena-hard-v2.0.yaml")
settings = make_config("config/api_config.yaml")[configs["judge_model"]]
for job in json.load(open(sys.argv[1])):
    gj.judgment({"question": job["question"], "answer": job["answer"], "baseline": job["baseline"],
                 "reference": None, "configs": configs, "settings": settings, "output_file": sys.argv[2]})
"""


def digest(body: dict) -> str:
    """A request body's identity: sha256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def chosen() -> list[dict]:
    """The fixture's prompts: uid, category, and whose answer stands for the model's."""
    answers = {r["uid"]: r for r in _rows(ARENA / f"{BASELINE}.jsonl")}
    questions = _rows(ARENA / "question.jsonl")
    picked = []
    for category in BASELINES:
        mine = sorted((q for q in questions if q["category"] == category),
                      key=lambda q: len(answers[q["uid"]]["messages"][-1]["content"]["answer"]))  # fmt: skip
        for i in range(PER_CATEGORY):
            picked.append({"uid": mine[i]["uid"], "category": category, "answer_uid": mine[i + PER_CATEGORY]["uid"]})
    return picked


def jobs(picked: list[dict]) -> list[dict]:
    """The reference's inputs: question, the model's answer and the baseline's (o3-mini's real answers)."""
    answers = {r["uid"]: r for r in _rows(ARENA / f"{BASELINE}.jsonl")}
    questions = {q["uid"]: q for q in _rows(ARENA / "question.jsonl")}
    out = []
    for p in picked:
        baseline = answers[p["uid"]] | {"model": BASELINES[p["category"]]}
        answer = answers[p["answer_uid"]] | {"model": "model-x", "uid": p["uid"]}
        out.append({"question": questions[p["uid"]], "answer": answer, "baseline": baseline})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", required=True, help="a python with openai, boto3, pandas, pyyaml, shortuuid, tqdm")
    args = parser.parse_args()
    if not (ARENA / f"{BASELINE}.jsonl").exists():
        print(f"skipped: shared Arena-Hard-Auto v2.0 data not found at {ARENA}")
        return
    picked = chosen()
    with tempfile.TemporaryDirectory() as tmp:
        record, inputs, judgments = Path(tmp) / "requests.jsonl", Path(tmp) / "jobs.json", Path(tmp) / "out.jsonl"
        inputs.write_text(json.dumps(jobs(picked)), encoding="utf-8")
        with LocalServer(record=record) as server:
            env = dict(os.environ, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="local-test-key",
                       PYTHONPATH=str(ARENA / "reference"))  # fmt: skip
            done = subprocess.run([args.python, "-c", _DRIVER, str(inputs), str(judgments)],
                                  cwd=ARENA / "reference", env=env, capture_output=True, text=True)  # fmt: skip
        if done.returncode != 0:
            sys.exit(f"the reference failed:\n{done.stderr[-3000:]}")
        bodies = _rows(record)
        (FIXTURE / "reference_judgments.jsonl").write_bytes(judgments.read_bytes())
    fixture = {"prompts": picked, "requests": [digest(b) for b in bodies]}
    (FIXTURE / "reference_requests.json").write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")
    print(f"{len(bodies)} requests of {len(picked)} prompts recorded; the reference's judgment file written")


if __name__ == "__main__":
    main()
