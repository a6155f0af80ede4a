"""Which instrument (judge and protocol) produced a result, and the rule that results of different ones never mix.

A judge's numbers are on its own scale: AlpacaEval 2.0's judge and alpaca-lc's own prompt put different
models ahead. Every leaderboard row therefore carries `judge` and `judge_protocol` (a short hash of the judge's
template, decoding, order rule and answer rule), and whatever ranks or compares rows refuses two instruments
unless the user asks to mix them, in which case the output says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from alpaca_lc import package_file
from alpaca_lc.errors import UsageError

if TYPE_CHECKING:
    from alpaca_lc.records.table import RowTable

MIX_HINT = "--mix-judges ranks them together anyway, marked"


def known_protocols() -> dict[str, str]:
    """Protocol hashes of AlpacaEval 0.6.6's supported evaluators, by name (figures only, no prompt text)."""
    ref = package_file("data", "alpaca_eval_protocols.json")
    return dict(json.loads(ref.read_text(encoding="utf-8"))["protocols"])


@dataclass(frozen=True)
class Instrument:
    """A judge's name and protocol hash; either may be unknown (None), e.g. annotations that name no judge."""

    judge: str | None
    protocol: str | None

    def __str__(self) -> str:
        name = self.judge or "an unnamed judge"
        return f"{name} (protocol {self.protocol})" if self.protocol else name

    def same_as(self, other: Instrument) -> bool:
        """Known to be the same instrument, or not known to differ (an unknown name or protocol matches)."""
        if self.judge is None or other.judge is None:
            return True
        if self.judge != other.judge:
            return False
        return self.protocol is None or other.protocol is None or self.protocol == other.protocol


UNKNOWN = Instrument(None, None)


def _value(x: object) -> str | None:
    return None if x is None or (isinstance(x, float) and x != x) else str(x)


def instruments_by_model(annotations: RowTable) -> dict[str, Instrument]:
    """The instrument of each model's annotations; a model judged by two instruments is an error.

    Args:
        annotations: validated annotations.
    """
    triples = dict.fromkeys(zip(annotations.model.tolist(), annotations.annotator.tolist(),
                                annotations.annotator_protocol.tolist(), strict=True))  # fmt: skip
    found: dict[str, Instrument] = {}
    for model, judge, protocol in triples:
        here = Instrument(_value(judge), _value(protocol))
        if model in found and here != found[model]:
            raise UsageError(f"model {model!r} was judged by two instruments, {found[model]} and {here}: "
                             "give one judge's annotations per model")  # fmt: skip
        found[str(model)] = here
    return found


def check_one_instrument(instruments: Iterable[tuple[str, Instrument]], mix: bool, what: str) -> list[str]:
    """Refuse (exit 2) results of different instruments unless `mix`; returns notes for the user.

    Args:
        instruments: (what the result is, e.g. a model name, its instrument) pairs.
        mix: the user asked to mix instruments explicitly.
        what: what is being done with them, for the message ("rank", "compare").
    """
    items = list(instruments)
    distinct: list[tuple[str, Instrument]] = []
    for label, inst in items:
        if not any(inst.same_as(seen) for _, seen in distinct):
            distinct.append((label, inst))
    notes = []
    unnamed = [label for label, inst in items if inst.judge is None]
    if unnamed:
        notes.append(f"{len(unnamed)} result(s) do not name their judge ({', '.join(unnamed[:3])}): "
                     "comparable only if made by the same judge as the others")  # fmt: skip
    if len(distinct) == 1 and distinct[0][1].judge is not None:
        notes.append(f"judge: {distinct[0][1]}")
    if len(distinct) > 1:
        (a, inst_a), (b, inst_b) = distinct[:2]
        message = f"cannot {what} results of different judges: {a} by {inst_a}, {b} by {inst_b}"
        if not mix:
            raise UsageError(f"{message}; their numbers are on different scales ({MIX_HINT})")
        notes.append(f"MIXED JUDGES ({', '.join(str(i) for _, i in distinct)}): numbers on different scales")
    return notes
