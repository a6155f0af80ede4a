"""Subset files: which instructions to judge, and the item model that estimates the rest.

A subset file (`alpaca-lc subset fit`) holds instruction hashes and numbers only: which instructions to judge,
every instruction's terms of the item model (`stats.irt`) fitted on many models' judgments, and the prior of a
new model's terms. The estimate itself is `scoring.subset`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from alpaca_lc import package_file
from alpaca_lc.errors import InputError
from alpaca_lc.records.jsonio import read_json_document, write_json
from alpaca_lc.stats.lc import positions_in

if TYPE_CHECKING:
    from alpaca_lc.stats import irt

FloatArray = npt.NDArray[np.float64]

FORMAT = "alpaca-lc/subset-v1"
BUNDLED = {"tiny": "subset_tiny.json", "small": "subset_small.json"}


@dataclass(frozen=True)
class Subset:
    """Which instructions to judge, every instruction's item terms, and the prior of a new model's terms."""

    name: str
    keys: npt.NDArray[np.str_]  # every instruction with item terms
    chosen: npt.NDArray[np.str_]  # the instructions to judge
    items: irt.ItemModel  # abilities: empty; per-instruction terms in `keys` order
    prior_mean: FloatArray
    prior_cov: FloatArray
    source: str
    judge: str | None = None
    provenance: str = ""

    def members(self, keys: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which of these keys are in the subset (to be judged)."""
        return np.isin(np.asarray(keys, dtype=str), self.chosen)

    def check_covers(self, keys: npt.NDArray[np.generic], source: str) -> None:
        """Fail, naming the first record, when an instruction has no item terms (another eval set)."""
        missing = np.flatnonzero(~np.isin(keys, self.keys))
        if len(missing):
            raise InputError(f"instruction not in subset {self.name}'s eval set ({self.source})", path=source,
                             record=int(missing[0]) + 1)  # fmt: skip

    def items_of(self, keys: npt.NDArray[np.generic]) -> irt.ItemModel:
        """The item terms of these keys in their order (an InputError when one has none)."""
        from alpaca_lc.stats import irt  # scipy.special: only where a subset is estimated

        idx = positions_in(self.keys, keys)
        if (idx < 0).any():
            self.check_covers(keys, self.source)  # raises, naming the first
        i = self.items
        return irt.ItemModel(i.abilities, i.easiness[idx], i.slope[idx], i.embedding[idx])


def subset_judge_note(subset: Subset, judges: list[str | None]) -> list[str]:
    """A note when the subset's item model was fitted on another judge's judgments."""
    others = sorted({j for j in judges if j and subset.judge and j != subset.judge})
    if not others:
        return []
    return [f"subset {subset.name} was fitted on {subset.judge}'s judgments and is applied to {', '.join(others)}'s"]


def resolve_subset(choice: str) -> Subset:
    """A bundled subset by name (`tiny`, `small`) or a subset file by path."""
    if choice in BUNDLED:
        ref = package_file("data", BUNDLED[choice])
        return _parse(json.loads(ref.read_text(encoding="utf-8")), f"bundled:{choice}")
    missing = f"no such subset file (bundled ones: {', '.join(BUNDLED)})"
    return _parse(read_json_document(Path(choice), "a subset file", missing), choice)


def _parse(data: Any, source: str) -> Subset:
    from alpaca_lc.stats import irt  # scipy.special: only where a subset is read

    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'not a subset file (expected "format": "{FORMAT}")', path=source)
    try:
        items = data["instructions"]
        keys = np.asarray(items["key"], dtype=str)
        embedding = np.asarray(items["embedding"], dtype=float).reshape(len(keys), -1)
        model = irt.ItemModel(np.zeros((0, 2 + embedding.shape[1])), np.asarray(items["easiness"], dtype=float),
                              np.asarray(items["slope"], dtype=float), embedding)  # fmt: skip
        prior_mean, prior_cov = np.asarray(data["prior"]["mean"], float), np.asarray(data["prior"]["cov"], float)
        chosen = np.asarray(data["subset"], dtype=str)
        subset = Subset(str(data.get("name", source)), keys, chosen, model, prior_mean, prior_cov, source,
                        data.get("judge"), str(data.get("provenance", "")))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed subset file: {exc}", path=source) from None
    shapes_ok = len(model.easiness) == len(model.slope) == len(keys) and prior_cov.shape == (len(prior_mean),) * 2
    if not shapes_ok or len(prior_mean) != 2 + embedding.shape[1] or not np.isin(chosen, keys).all():
        raise InputError("malformed subset file: inconsistent sizes or unknown subset keys", path=source)
    return subset


def write_subset(path: Path, subset: Subset) -> None:
    """Write a subset file (atomically): hashes and numbers only."""
    i = subset.items
    write_json(path, {
        "format": FORMAT, "name": subset.name, "judge": subset.judge, "provenance": subset.provenance,
        "size": len(subset.chosen), "subset": subset.chosen.tolist(),
        "prior": {"mean": _round(subset.prior_mean), "cov": _round(subset.prior_cov)},
        "instructions": {"key": subset.keys.tolist(), "easiness": _round(i.easiness), "slope": _round(i.slope),
                         "embedding": _round(i.embedding)},
    })  # fmt: skip


def _round(values: FloatArray) -> Any:
    return np.round(values, 6).tolist()
