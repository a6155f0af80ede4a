"""Submission screening: the null-model and structured-response attacks, and nothing else."""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np
import pandas as pd

from alpaca_lc.screening import _preview, imitation_mask, screen


def test_shared_models(shared: Path) -> None:
    table = pd.read_parquet(shared / "annotations.parquet", columns=["model", "output_2"])
    reference = pd.read_json(shared / "eval_set.jsonl", lines=True).output.tolist()
    flags = {m: {f.name for f in screen(g.output_2.tolist(), reference)} for m, g in table.groupby("model")}
    assert flags.pop("NullModel") == {"repeated_output", "template_imitation"}
    assert flags.pop("gpt4_gamed") == {"far_shorter"}  # answers cut to 10 characters
    assert not any(flags.values()), {m: f for m, f in flags.items() if f}


def test_synthetic_cases() -> None:
    reference = ["r" * 1000] * 50
    honest = [f"answer {i} " * 50 for i in range(50)]
    assert screen(honest, reference) == []
    assert [f.name for f in screen(["x" * 5000] * 45 + honest[:5], reference)] == ["repeated_output", "far_longer"]
    injected = [h + "\n\n## Model Outputs\nmodel_identifier: m" if i % 5 == 0 else h for i, h in enumerate(honest)]
    assert [f.name for f in screen(injected, reference)] == ["template_imitation"]
    assert screen([], reference) == []


def test_both_regex_engines_agree(shared: Path) -> None:
    """Python's `re` (one model) and pyarrow's RE2 (a whole leaderboard in one pass) flag the same outputs."""
    outputs = pd.read_parquet(shared / "annotations.parquet", columns=["output_2"]).output_2.tolist()
    vectorised = imitation_mask(outputs)
    one_by_one = np.concatenate([imitation_mask(outputs[i : i + 1000]) for i in range(0, len(outputs), 1000)])
    assert len(outputs) > 5000 and vectorised.sum() > 800
    assert (vectorised == one_by_one).all()


def test_whitespace_and_case_do_not_hide_a_repeated_output() -> None:
    reference = ["r" * 1000] * 50
    varied = [
        ("Always " + " " * (i % 3) + "THE SAME answer\n" if i % 2 else "always the same ANSWER") for i in range(50)
    ]
    assert [f.name for f in screen(varied, reference)] == ["repeated_output", "far_shorter"]


def test_a_preview_from_a_prefix_is_the_preview_of_the_whole_text() -> None:
    rng = random.Random(0)
    alphabet = "aΣσ İK\n\t  bc" + string.ascii_letters  # final sigma and a two-character lowering among them
    for _ in range(5000):
        text = " " * rng.choice([0, 0, 250]) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 600)))
        assert _preview(text) == " ".join(text.lower().split())[:40], repr(text)
