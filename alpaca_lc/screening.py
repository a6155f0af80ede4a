"""Submission screening before judging: the null-model and structured-response attacks on AlpacaEval 2.0.

A constant answer that imitates the judge's prompt reached 86.5% LC on AlpacaEval 2.0. These checks look at
the outputs alone, so they run before any judgment is paid for. Thresholds were set on the 43 models with
real annotations in the shared data, where they flag NullModel (repeated, imitation) and gpt4_gamed (far
shorter) and nothing else; the largest imitation share of an honest model there is 2.4%.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

_WHITESPACE = b" \t\n\r\x0b\x0c"
_VECTORISE_FROM = 5000  # texts
REPEAT_SHARE = 0.10
IMITATION_SHARE = 0.10
LONGER_RATIO = 3.0
SHORTER_RATIO = 0.05

# Structure of pairwise-judge prompts (AlpacaEval's and ours): identifier labels, section headers, chat-
# markup delimiters, triple-quoted output fields, and instructions aimed at the judge.
_JUDGE_STRUCTURE = re.compile(
    r"model_identifier|##\s*Model Outputs|##\s*Instruction\b|ignore (?:all |the )?(?:above|previous)"
    r"|<\|im_(?:start|end)\|>|\"output\"\s*:\s*\"\"\"|\banswer_[mM]\b|\bOutput \([abmM]\)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Flag:
    """One screening finding: a short name and the reason, with the figures behind it."""

    name: str
    reason: str


# Literal pieces, one of which every match of _JUDGE_STRUCTURE contains (lower-cased): a quick test that spares
# Python's regex engine the ~95% of outputs that contain none.
_ANCHORS = ("model_identifier", "model outputs", "instruction", "ignore", "<|im_", '"output"', "answer_m", "output (")


def _imitates(text: str) -> bool:
    low = text.lower()
    return any(a in low for a in _ANCHORS) and _JUDGE_STRUCTURE.search(text) is not None


def imitation_mask(texts: list[str]) -> npt.NDArray[np.bool_]:
    """Which texts imitate a judge prompt's structure. Many texts (a leaderboard's) go through pyarrow's RE2 in
    one pass; a few (one model's) through Python's `re`, which costs less than importing pyarrow. The two
    engines agree on the shared data (`tests/test_screening.py`)."""
    if len(texts) < _VECTORISE_FROM:
        return np.fromiter((_imitates(t) for t in texts), dtype=bool, count=len(texts))
    import pyarrow.compute as pc

    found = pc.match_substring_regex(_arrow_strings(texts), _JUDGE_STRUCTURE.pattern, ignore_case=True)
    return np.array(found.to_pylist(), dtype=bool)  # not to_numpy: pyarrow's numpy conversion imports pandas


def _arrow_strings(texts: list[str]) -> Any:
    """The texts as one arrow string array, built from its buffers: `pa.array` on a Python list imports pandas
    (0.2 s) to check whether the list holds pandas objects."""
    import pyarrow as pa

    encoded = [t.encode("utf-8") for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data)


def normalized(text: str) -> bytes:
    """An output without case and whitespace: what `repeated_output` compares (bytes methods: ten times faster
    than str.split and join)."""
    return text.encode("utf-8").lower().translate(None, _WHITESPACE)


def text_hashes(texts: list[str]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each text's `normalized` form (stable across processes, unlike `hash`)."""
    digests = (hashlib.blake2b(normalized(t), digest_size=8).digest() for t in texts)
    return np.fromiter((int.from_bytes(d, "little") for d in digests), dtype=np.uint64, count=len(texts))


def previews(texts: list[str], hashes: npt.NDArray[np.uint64]) -> dict[int, str]:
    """The start of each normalized text that occurs more than once, by hash (what a flag's reason quotes)."""
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    repeated = first[counts > 1]
    return {int(hashes[i]): " ".join(texts[i].lower().split())[:40] for i in repeated}


def screen(outputs: list[str], reference: list[str], imitating: npt.NDArray[np.bool_] | None = None) -> list[Flag]:
    """Flags for a submission's outputs, judged against the reference (baseline) outputs of the eval set.

    Args:
        outputs: the model's outputs.
        reference: the baseline's outputs for the same instructions (for the length norm).
        imitating: `imitation_mask(outputs)` when already computed.
    """
    hashes = text_hashes(outputs)
    mask = imitation_mask(outputs) if imitating is None else imitating
    lengths = np.fromiter(map(len, outputs), dtype=np.int64, count=len(outputs))
    reference_lengths = np.fromiter(map(len, reference), dtype=np.int64, count=len(reference))
    return screen_rows(hashes, mask, lengths, reference_lengths, previews(outputs, hashes))


def screen_rows(
    hashes: npt.NDArray[np.uint64],
    imitating: npt.NDArray[np.bool_],
    lengths: npt.NDArray[np.int64],
    reference_lengths: npt.NDArray[np.int64],
    quoted: dict[int, str],
) -> list[Flag]:
    """Flags from per-output figures (what a leaderboard keeps of each output).

    Args:
        hashes: `text_hashes` of the outputs.
        imitating: `imitation_mask` of the outputs.
        lengths: the outputs' lengths in characters.
        reference_lengths: the baseline's outputs' lengths, for the length norm.
        quoted: `previews` of repeated outputs, by hash.
    """
    n = len(hashes)
    if not n:
        return []
    flags = []
    values, counts = np.unique(hashes, return_counts=True)
    top = int(np.argmax(counts))
    count = int(counts[top])
    if count >= 5 and count / n >= REPEAT_SHARE:
        text = quoted.get(int(values[top]), "")
        flags.append(Flag("repeated_output", f"one output ({text!r}...) answers {count} of {n} instructions"))
    imitating_count = int(np.count_nonzero(imitating))
    if imitating_count / n >= IMITATION_SHARE:
        flags.append(Flag("template_imitation", f"{imitating_count} of {n} outputs imitate a judge prompt's structure"))
    ours = float(np.median(lengths))
    norm = float(np.median(reference_lengths)) if len(reference_lengths) else 0.0
    ratio = ours / norm if norm else 1.0
    described = f"median length {ours:.0f} characters, {ratio:.3g}x the baseline's {norm:.0f}"
    if ratio > LONGER_RATIO:
        flags.append(Flag("far_longer", described))
    if ratio < SHORTER_RATIO:
        flags.append(Flag("far_shorter", described))
    return flags
