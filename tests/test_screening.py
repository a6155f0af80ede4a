"""Submission screening: the null-model and structured-response attacks, and nothing else."""

from __future__ import annotations

import random
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from alpaca_lc.scoring import screening
from alpaca_lc.scoring.screening import (
    OutputFigures,
    _preview,
    arrow_output_figures,
    imitation_mask,
    output_figures,
    screen,
)


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


def _pairs() -> tuple[list[str], list[str]]:
    """Baseline and model outputs: repeats varied in case and spacing, imitations, non-ASCII text, a model
    output equal to its baseline, and one of equal length that differs."""
    rng = random.Random(1)
    alphabet = "aΣσ İKé\n\t  bc漢" + string.ascii_letters
    baseline = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(40)] * 5
    model = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 300))) for _ in range(200)]
    for i in range(0, 200, 6):
        model[i] = "Same  ANSWER" if i % 4 else "same answer\n"
    for i in range(3, 200, 11):
        model[i] += "\n## Model Outputs\nmodel_identifier: m"
    model[5], model[7] = baseline[5], baseline[7][::-1] + "x" if not baseline[7] else "x" + baseline[7][1:]
    return baseline, model


def test_figures_from_arrow_columns_are_those_from_python_strings() -> None:
    """A parquet table's outputs are screened from its arrow buffers, whatever their layout: offsets of 32 or 64
    bits, chunked and sliced, dictionary-encoded (one dictionary per chunk, as parquet gives them)."""
    baseline, model = _pairs()
    expected = output_figures(baseline, model)
    assert expected.identical[5] and not expected.identical[7] and expected.len_1[7] == expected.len_2[7]
    assert expected.imitates.any() and expected.quoted
    layouts = {
        "large_string": lambda texts: pa.array(texts, pa.large_string()),
        "string": lambda texts: pa.array(texts, pa.string()),
        "chunked, sliced": lambda texts: pa.chunked_array(
            [pa.array(["pad", *texts[:70]])[1:], pa.array([*texts[70:], "pad"])[:-1]]
        ),
        "dictionary": lambda texts: pa.array(texts).dictionary_encode(),
        "chunked dictionary": lambda texts: pa.chunked_array(
            [pa.array(texts[:70]).dictionary_encode(), pa.array(texts[70:]).dictionary_encode()]
        ),
    }
    for name, layout in layouts.items():
        got = arrow_output_figures(layout(baseline), layout(model))
        _assert_same_figures(got, expected, name)
        assert got.len_1.dtype == np.int64


def test_many_python_strings_take_the_arrow_way_with_the_same_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    baseline, model = _pairs()
    one_by_one = output_figures(baseline, model)
    monkeypatch.setattr(screening, "_VECTORISE_FROM", 10)
    _assert_same_figures(output_figures(baseline, model), one_by_one, "vectorised")


def _assert_same_figures(got: OutputFigures, expected: OutputFigures, name: str) -> None:
    for field, value in expected._asdict().items():
        same = got._asdict()[field] == value if field == "quoted" else np.array_equal(got._asdict()[field], value)
        assert same, (name, field)
