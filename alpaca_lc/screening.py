"""Submission screening before judging: the null-model and structured-response attacks on AlpacaEval 2.0.

A constant answer that imitates the judge's prompt reached 86.5% LC on AlpacaEval 2.0. These checks look at
the outputs alone, so they run before any judgment is paid for. Thresholds were set on the 43 models with
real annotations in the shared data, where they flag NullModel (repeated, imitation) and gpt4_gamed (far
shorter) and nothing else; the largest imitation share of an honest model there is 2.4%.
"""

from __future__ import annotations

import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

_WHITESPACE = b" \t\n\r\x0b\x0c"
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
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
        return _imitation_one_by_one(texts)
    return _imitation_vectorised([t.encode("utf-8") for t in texts])


def text_hashes(texts: list[str]) -> npt.NDArray[np.uint64]:
    """A 64-bit key of each text without case and whitespace (stable across processes, unlike `hash`)."""
    return _hashes([t.encode("utf-8") for t in texts])


def text_figures(texts: list[str]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """`text_hashes` and `imitation_mask` of the same texts, each text encoded once. For many texts the regex
    pass runs in pyarrow on a second thread (it releases the GIL) while this one hashes: the two take about
    the same time and overlap."""
    encoded = [t.encode("utf-8") for t in texts]
    if len(texts) < _VECTORISE_FROM:
        return _hashes(encoded), _imitation_one_by_one(texts)
    import pyarrow.compute  # noqa: F401  (imported here: an import on the other thread would share the GIL)

    with ThreadPoolExecutor(max_workers=1) as pool:
        found = pool.submit(_imitation_vectorised, encoded)
        return _hashes(encoded), found.result()


def _imitation_one_by_one(texts: list[str]) -> npt.NDArray[np.bool_]:
    return np.fromiter((_imitates(t) for t in texts), dtype=bool, count=len(texts))


def _imitation_vectorised(encoded: list[bytes]) -> npt.NDArray[np.bool_]:
    import pyarrow.compute as pc

    found = pc.match_substring_regex(_arrow_strings(encoded), _JUDGE_STRUCTURE.pattern, ignore_case=True)
    return np.array(found.to_pylist(), dtype=bool)  # not to_numpy: pyarrow's numpy conversion imports pandas


def _arrow_strings(encoded: list[bytes]) -> Any:
    """UTF-8 texts as one arrow string array, built from its buffers: `pa.array` on a Python list imports pandas
    (0.2 s) to check whether the list holds pandas objects."""
    import pyarrow as pa

    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), data)


def _hashes(encoded: list[bytes]) -> npt.NDArray[np.uint64]:
    # What `repeated_output` compares: each output without (ASCII) case and whitespace, lowered and stripped by
    # one bytes.translate. Its key is its length (high 32 bits) and CRC-32 (low): ~4x cheaper than a
    # cryptographic digest, and two different outputs of one length collide with odds of 1 in 4 billion
    # (merging their groups), with no gain to a submission that wants to hide repeats.
    # One text at a time: a list of all normalized texts would be another copy of every output in memory.
    return np.fromiter(map(_key, encoded), dtype=np.uint64, count=len(encoded))


def _key(encoded: bytes) -> int:
    normalized = encoded.translate(_ASCII_LOWER, _WHITESPACE)
    return (len(normalized) << 32) | zlib.crc32(normalized)


def previews(texts: list[str], hashes: npt.NDArray[np.uint64]) -> dict[int, str]:
    """The start of each normalized text that occurs more than once, by hash (what a flag's reason quotes)."""
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    repeated = first[counts > 1]
    return {int(hashes[i]): _preview(texts[i]) for i in repeated}


def _preview(text: str, width: int = 40) -> str:
    """The first `width` characters of the text lowered with whitespace runs collapsed, from a prefix when that
    is enough (a leaderboard of re-judged models repeats thousands of long outputs). Past `width` characters of
    the prefix, cutting it cannot change them (nor can the one context-dependent lowering, a final sigma)."""
    head = " ".join(text[: 5 * width].lower().split())
    if len(head) > width or len(text) <= 5 * width:
        return head[:width]
    return " ".join(text.lower().split())[:width]


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
