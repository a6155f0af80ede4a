"""Submission screening before judging: the null-model and structured-response attacks on AlpacaEval 2.0.

A constant answer that imitates the judge's prompt reached 86.5% LC on AlpacaEval 2.0. These checks look at
the outputs alone, so they run before any judgment is paid for. Thresholds were set on the 43 models with
real annotations in the shared data, where they flag NullModel (repeated, imitation) and gpt4_gamed (far
shorter) and nothing else; the largest imitation share of an honest model there is 2.4%.
"""

from __future__ import annotations

import operator
import re
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from alpaca_lc.records import arrowtext
from alpaca_lc.records.outputs import Coverage

_WHITESPACE = b" \t\n\r\x0b\x0c"
_ASCII_LOWER = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_VECTORISE_FROM = 5000  # texts
REPEAT_SHARE = 0.10
IMITATION_SHARE = 0.10
LONGER_RATIO = 3.0
SHORTER_RATIO = 0.05
OUTLIER_RATIO = 20.0  # an output this many times the model's median length is an outlier...
OUTLIER_SHARE = 2 / 3  # ...and outliers that hold this share of the length differences' variance dominate LC

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
    return _imitation_vectorised(arrowtext.utf8_array([t.encode("utf-8") for t in texts]))


def text_hashes(texts: list[str]) -> npt.NDArray[np.uint64]:
    """A 64-bit key of each text without case and whitespace (stable across processes, unlike `hash`)."""
    return _hashes((t.encode("utf-8") for t in texts), len(texts))


class OutputFigures(NamedTuple):
    """What a leaderboard keeps of each judged pair's outputs (output_1 the baseline's, output_2 the model's)."""

    len_1: npt.NDArray[np.int64]
    len_2: npt.NDArray[np.int64]
    identical: npt.NDArray[np.bool_]
    text_hash: npt.NDArray[np.uint64]  # `text_hashes` of output_2
    imitates: npt.NDArray[np.bool_]  # `imitation_mask` of output_2
    quoted: dict[int, str]  # `previews` of output_2


def output_figures(output_1: list[str], output_2: list[str]) -> OutputFigures:
    """The figures of pairs of outputs given as Python strings. Many are put in one arrow array and go the way of
    `arrow_output_figures`."""
    if len(output_2) >= _VECTORISE_FROM:
        encoded = [t.encode("utf-8") for t in output_2]  # once: for the arrow array and for the repeat keys
        hashes, imitates = _arrow_figures(arrowtext.utf8_array(encoded), encoded)
    else:
        hashes, imitates = text_hashes(output_2), _imitation_one_by_one(output_2)
    n = len(output_2)
    return OutputFigures(
        len_1=np.fromiter(map(len, output_1), dtype=np.int64, count=n),
        len_2=np.fromiter(map(len, output_2), dtype=np.int64, count=n),
        identical=np.fromiter(map(operator.eq, output_1, output_2), dtype=bool, count=n),
        text_hash=hashes, imitates=imitates, quoted=previews(hashes, output_2.__getitem__),
    )  # fmt: skip


def arrow_output_figures(output_1: Any, output_2: Any) -> OutputFigures:
    """The figures of pairs of outputs given as pyarrow string arrays without nulls (a parquet file's columns),
    computed from arrow's buffers: no Python string is made of an output, except to quote a repeated one.

    Args:
        output_1: the baseline's outputs (a pyarrow Array or ChunkedArray of strings, dictionary-encoded or not).
        output_2: the model's outputs, as many (likewise).
    """
    output_2 = arrowtext.decoded(output_2)  # a model's outputs repeat little: nothing to save by keeping codes
    hashes, imitates = _arrow_figures(output_2, arrowtext.utf8_values(output_2))
    len_1, len_2 = arrowtext.lengths(output_1), arrowtext.lengths(output_2)
    return OutputFigures(
        len_1=len_1, len_2=len_2, identical=arrowtext.equal_rows(output_1, output_2, candidates=len_1 == len_2),
        text_hash=hashes, imitates=imitates, quoted=previews(hashes, lambda i: str(output_2[i].as_py())),
    )  # fmt: skip


def _arrow_figures(strings: Any, utf8: Iterable[bytes]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """`text_hashes` and `imitation_mask` of an arrow string array (`utf8`: its texts' bytes). The regex pass
    runs in pyarrow on a second thread (it releases the GIL) while this one hashes: the two take about the same
    time and overlap."""
    matches = arrowtext.regex_matcher(_JUDGE_STRUCTURE.pattern, ignore_case=True)  # pyarrow imported on this thread
    with ThreadPoolExecutor(max_workers=1) as pool:
        found = pool.submit(matches, strings)
        return _hashes(utf8, len(strings)), found.result()


def _imitation_one_by_one(texts: list[str]) -> npt.NDArray[np.bool_]:
    return np.fromiter((_imitates(t) for t in texts), dtype=bool, count=len(texts))


def _imitation_vectorised(strings: Any) -> npt.NDArray[np.bool_]:
    return arrowtext.regex_matcher(_JUDGE_STRUCTURE.pattern, ignore_case=True)(strings)


def _hashes(utf8: Iterable[bytes], count: int) -> npt.NDArray[np.uint64]:
    # What `repeated_output` compares: each output without (ASCII) case and whitespace, lowered and stripped by
    # one bytes.translate. Its key is its length (high 32 bits) and CRC-32 (low): ~4x cheaper than a
    # cryptographic digest, and two different outputs of one length collide with odds of 1 in 4 billion
    # (merging their groups), with no gain to a submission that wants to hide repeats.
    return np.fromiter(map(_key, utf8), dtype=np.uint64, count=count)


def _key(encoded: bytes) -> int:
    normalized = encoded.translate(_ASCII_LOWER, _WHITESPACE)
    return (len(normalized) << 32) | zlib.crc32(normalized)


def previews(hashes: npt.NDArray[np.uint64], text_at: Callable[[int], str]) -> dict[int, str]:
    """The start of each normalized text that occurs more than once, by hash (what a flag's reason quotes).

    Args:
        hashes: `text_hashes` of the texts.
        text_at: the text at a position.
    """
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    return {int(hashes[i]): _preview(text_at(int(i))) for i in first[counts > 1]}


def _preview(text: str, width: int = 40) -> str:
    """The first `width` characters of the text lowered with whitespace runs collapsed, from a prefix when that
    is enough (a leaderboard of re-judged models repeats thousands of long outputs). Past `width` characters of
    the prefix, cutting it cannot change them (nor can the one context-dependent lowering, a final sigma)."""
    head = " ".join(text[: 5 * width].lower().split())
    if len(head) > width or len(text) <= 5 * width:
        return head[:width]
    return " ".join(text.lower().split())[:width]


def partial_flag(coverage: Coverage) -> Flag:
    """The flag of a row judged on part of the eval set: not comparable with rows of the whole set."""
    return Flag("partial", f"judged on {coverage.describe()}, not comparable with full-set rows")


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
    return screen_rows(hashes, mask, lengths, reference_lengths, previews(hashes, outputs.__getitem__))


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
    outliers = length_outliers(lengths, reference_lengths)
    if outliers is not None:
        flags.append(outliers)
    return flags


def length_outliers(lengths: npt.NDArray[np.int64], reference_lengths: npt.NDArray[np.int64]) -> Flag | None:
    """A few outputs far longer than the rest that dominate the length term. LC's length feature is
    tanh(delta / sd(delta)) (AlpacaEval's, kept so numbers stay on its scale): outputs over `OUTLIER_RATIO` times
    the model's median length whose length differences hold more than `OUTLIER_SHARE` of the variance set sd by
    themselves, and every other output's feature shrinks toward 0, which switches length control off (one 5 MB
    output took claude-2's LC from 31.6 to 17.3). On the 43 real models the largest such share is 0.50 (phi-2's 17
    degenerate outputs), the next 0.43 (one of chatglm2-6b's)."""
    if len(lengths) != len(reference_lengths) or len(lengths) < 2:
        return None
    median = float(np.median(lengths))
    far = lengths > OUTLIER_RATIO * max(median, 1.0)
    if not far.any():
        return None
    delta = (reference_lengths - lengths).astype(float)
    squares = (delta - delta.mean()) ** 2
    share = float(squares[far].sum() / squares.sum()) if squares.sum() else 0.0
    if share <= OUTLIER_SHARE:
        return None
    return Flag(
        "length_outlier",
        f"{int(far.sum())} output(s) over {OUTLIER_RATIO:g}x the median length ({median:.0f} "
        f"characters, the longest {int(lengths.max()):,}) hold {share:.0%} of the variance of the length "
        "differences: they set the length term's scale and switch length control off for the rest",
    )
