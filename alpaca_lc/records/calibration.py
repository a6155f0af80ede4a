"""Calibrations: per-instruction difficulty plus the gamed-baseline rows the LC regularisation needs.

Three sources, chosen by `--calibration`:
- `bundled`: the AlpacaEval 2.0 calibration shipped in the package, made by `alpaca-lc calibrate`.
- `official`: AlpacaEval's own public files (`instruction_difficulty.csv`, `df_gamed.csv`) from the
  `tatsu-lab/alpaca_eval` hub dataset, keyed by eval-set position and mapped to instructions here.
- a path: our JSON format, an AlpacaEval-format folder holding those two CSVs, or a difficulty CSV alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from alpaca_lc import package_file
from alpaca_lc.errors import InputError
from alpaca_lc.records.evalset import EvalSet, download_from_hub, load_eval_set
from alpaca_lc.records.instrument import Instrument
from alpaca_lc.records.jsonio import read_csv, read_json_document, write_atomic, write_json
from alpaca_lc.stats.lc import GamedRows, positions_in

if TYPE_CHECKING:
    import pandas as pd

FloatArray = npt.NDArray[np.float64]

FORMAT = "alpaca-lc/calibration-v1"
BUNDLED = "alpaca_eval_2_calibration.json"
OFFICIAL_DIFFICULTY = "instruction_difficulty.csv"
OFFICIAL_GAMED = "df_gamed.csv"
OFFICIAL_JUDGE = "weighted_alpaca_eval_gpt4_turbo"  # AlpacaEval fitted its calibration on this judge's judgments


@dataclass(frozen=True)
class GamedTable:
    """The baseline's verbose/concise variants judged against the baseline: one row per (variant, instruction)."""

    key: npt.NDArray[np.str_]
    variant: npt.NDArray[np.str_]
    std_delta_len: FloatArray
    preference: FloatArray  # in [1, 2]

    def __len__(self) -> int:
        return len(self.key)


@dataclass(frozen=True)
class Calibration:
    """Difficulty per instruction key, and the baseline's gamed-variant rows (None: fit unregularised).

    Arrays, not pandas: every scoring command reads one, and pandas costs half a second to import.
    `difficulty` and `gamed` give pandas views for the code that wants them (calibrate, tests).
    """

    keys: npt.NDArray[np.str_]
    values: FloatArray
    gamed_table: GamedTable | None
    source: str
    provenance: str = ""
    judge: str | None = None  # whose judgments it was fitted on

    @staticmethod
    def of(difficulty: Any, gamed: Any, source: str, provenance: str = "", judge: str | None = None) -> Calibration:
        """From a mapping (or pandas Series) of key -> difficulty and gamed rows as a table or mapping of columns.

        Args:
            difficulty: key -> difficulty.
            gamed: columns key, variant, std_delta_len, preference (a DataFrame or dict of sequences), or None.
            source: where it came from, for messages.
            provenance: free text stored with it.
            judge: whose judgments it was fitted on.
        """
        items = dict(difficulty.items())
        table = None
        if gamed is not None and len(gamed["key"]):
            table = GamedTable(np.asarray(gamed["key"], dtype=str), np.asarray(gamed["variant"], dtype=str),
                               np.asarray(gamed["std_delta_len"], dtype=float),
                               np.asarray(gamed["preference"], dtype=float))  # fmt: skip
        keys = np.asarray(list(items), dtype=str)
        return Calibration(keys, np.asarray(list(items.values()), dtype=float), table, source, provenance, judge)

    def difficulty_of(self, keys: npt.ArrayLike) -> FloatArray:
        """The difficulty of each key (NaN where the calibration has none)."""
        return np.append(self.values, np.nan)[positions_in(self.keys, keys)]

    def positions(
        self, keys: npt.ArrayLike, sources: Sequence[str] | npt.ArrayLike, records: npt.ArrayLike
    ) -> npt.NDArray[np.int64]:
        """Each key's position in the calibration (what the fits compare: small integers, not key strings); an
        InputError as `check_coverage`'s when a key has none."""
        at = positions_in(self.keys, keys)
        if (at < 0).any():
            check_coverage(self, keys, sources, records)
        return at

    def covers(self, keys: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Which keys have a difficulty."""
        return positions_in(self.keys, keys) >= 0

    @property
    def difficulty(self) -> pd.Series:
        """The difficulties as a pandas Series indexed by key."""
        import pandas as pd

        return pd.Series(self.values, index=self.keys.tolist(), name="instruction_difficulty", dtype=float)

    @property
    def gamed(self) -> pd.DataFrame | None:
        """The gamed rows as a pandas DataFrame (columns key, variant, std_delta_len, preference), or None."""
        import pandas as pd

        g = self.gamed_table
        if g is None:
            return None
        return pd.DataFrame({"key": g.key.tolist(), "variant": g.variant.tolist(), "std_delta_len": g.std_delta_len,
                             "preference": g.preference})  # fmt: skip

    def gamed_rows(self) -> GamedRows | None:
        """The gamed rows in the form the LC fit takes, or None when there are none."""
        g = self.gamed_table
        if g is None or not len(g):
            return None
        return GamedRows(key=g.key, std_delta_len=g.std_delta_len, preference=g.preference,
                         difficulty=self.difficulty_of(g.key))  # fmt: skip

    def coded_gamed_rows(self) -> GamedRows | None:
        """`gamed_rows` with each key as its position in the calibration (as `positions` codes annotations)."""
        gamed = self.gamed_rows()
        return None if gamed is None else dataclasses.replace(gamed, key=positions_in(self.keys, gamed.key))


def resolve_calibration(choice: str, eval_set_path: Path | None = None) -> Calibration:
    """Load the calibration named by `--calibration`.

    Args:
        choice: "bundled", "official", or a path.
        eval_set_path: the eval set, needed to map position-keyed (AlpacaEval-format) files to instructions.
    """
    if choice == "bundled":
        ref = package_file("data", BUNDLED)
        return _parse_json(json.loads(ref.read_text(encoding="utf-8")), f"bundled:{BUNDLED}")
    if choice == "official":
        instead = "--calibration FOLDER holding AlpacaEval's two files, or --calibration bundled"
        difficulty_csv = download_from_hub(OFFICIAL_DIFFICULTY, instead)
        gamed_csv = download_from_hub(OFFICIAL_GAMED, instead)
        calibration = read_alpaca_eval_calibration(difficulty_csv, gamed_csv, load_eval_set(eval_set_path))
        return dataclasses.replace(calibration, judge=OFFICIAL_JUDGE)
    path = Path(choice)
    if path.is_dir():
        gamed = path / OFFICIAL_GAMED
        return read_alpaca_eval_calibration(
            path / OFFICIAL_DIFFICULTY, gamed if gamed.exists() else None, load_eval_set(eval_set_path)
        )
    if path.suffix == ".csv":
        return read_alpaca_eval_calibration(path, None, load_eval_set(eval_set_path))
    return read_calibration(path)


def read_calibration(path: Path) -> Calibration:
    """Read a calibration in alpaca-lc's JSON format."""
    return _parse_json(read_json_document(path, "a calibration file"), str(path))


def _parse_json(data: Any, source: str) -> Calibration:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'not a calibration file (expected "format": "{FORMAT}")', path=source)
    judge = data.get("judge") if isinstance(data.get("judge"), str) else None
    try:
        calibration = Calibration.of(data["difficulty"], data.get("gamed"), source, str(data.get("provenance", "")),
                                     judge)  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed calibration: {exc}", path=source) from None
    if not len(calibration.values) or np.isnan(calibration.values).any():
        raise InputError("calibration has no (or non-numeric) difficulties", path=source)
    return calibration


def write_calibration(path: Path, calibration: Calibration) -> None:
    """Write a calibration in alpaca-lc's JSON format (atomically)."""
    gamed = None
    if calibration.gamed_table is not None:
        g = calibration.gamed_table
        gamed = {"key": g.key.tolist(), "variant": g.variant.tolist(), "std_delta_len": g.std_delta_len.tolist(),
                 "preference": g.preference.tolist()}  # fmt: skip
    difficulty = dict(zip(calibration.keys.tolist(), np.round(calibration.values, 10).tolist(), strict=True))
    write_json(
        path,
        {
            "format": FORMAT,
            "provenance": calibration.provenance,
            "judge": calibration.judge,
            "difficulty": difficulty,
            "gamed": gamed,
        },
    )


def read_alpaca_eval_calibration(difficulty_csv: Path, gamed_csv: Path | None, eval_set: EvalSet) -> Calibration:
    """Read AlpacaEval's position-keyed calibration files and key them by instruction text.

    Args:
        difficulty_csv: `instruction_difficulty.csv` (columns: index, instruction_difficulty).
        gamed_csv: `df_gamed.csv` (columns incl. model, index, preference in [0, 1], std_delta_len), or None.
        eval_set: the eval set whose positions the files refer to.
    """
    import pandas as pd

    keys = eval_set.keys
    table = _read_csv(difficulty_csv, ["instruction_difficulty"])
    index = table["index"] if "index" in table.columns else table.iloc[:, 0]
    if len(table) != len(keys) or not index.between(0, len(keys) - 1).all():
        raise InputError(
            f"difficulty for {len(table)} positions, but the eval set has {len(keys)} instructions: "
            "a calibration for another eval set?",
            path=difficulty_csv,
        )
    difficulty = pd.Series(table["instruction_difficulty"].to_numpy(float), index=[keys[i] for i in index])
    gamed = None
    if gamed_csv is not None:
        g = _read_csv(gamed_csv, ["model", "index", "preference", "std_delta_len"])
        gamed = pd.DataFrame(
            {
                "key": [keys[int(i)] for i in g["index"]],
                "variant": g["model"].astype(str),
                "std_delta_len": g["std_delta_len"].astype(float),
                "preference": g["preference"].astype(float) + 1,
            }
        )
    return Calibration.of(difficulty, gamed, str(difficulty_csv), "AlpacaEval format")


def write_alpaca_eval_calibration(calibration: Calibration, eval_set: EvalSet, folder: Path) -> None:
    """Write a calibration as AlpacaEval's two position-keyed CSV files (what its own code reads).

    Args:
        calibration: the calibration to export.
        eval_set: the eval set that fixes the positions.
        folder: where `instruction_difficulty.csv` and `df_gamed.csv` are written.
    """
    import pandas as pd

    position = {k: i for i, k in enumerate(eval_set.keys)}
    diff = calibration.difficulty.reindex(eval_set.keys).to_numpy(float)
    table = pd.DataFrame({"index": np.arange(len(diff)), "instruction_difficulty": diff})
    write_atomic(folder / OFFICIAL_DIFFICULTY, lambda fh: table.to_csv(fh, index=False, float_format="%.16f"))
    if calibration.gamed is not None:
        g = calibration.gamed
        gamed = pd.DataFrame(
            {
                "model": g["variant"],
                "index": [position[k] for k in g["key"]],
                "preference": g["preference"] - 1,
                "std_delta_len": g["std_delta_len"],
                "instruction_difficulty": calibration.difficulty.reindex(g["key"]).to_numpy(float),
                "not_gamed_baseline": False,
            }
        )
        # AlpacaEval reads the difficulty of position i from the first rows of this file: keep each
        # variant's rows in eval-set order.
        gamed = gamed.sort_values(["model", "index"], kind="stable")
        write_atomic(folder / OFFICIAL_GAMED, lambda fh: gamed.to_csv(fh, index=False, float_format="%.16f"))


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    table = read_csv(path)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    return table


def calibration_notes(calibration: Calibration, instruments: Iterable[Instrument]) -> list[str]:
    """A note when the calibration was fitted on another judge's judgments than the ones it is applied to."""
    others = sorted({i.judge for i in instruments if i.judge and calibration.judge and i.judge != calibration.judge})
    if not others:
        return []
    return [f"calibration {calibration.source} was fitted on {calibration.judge}'s judgments and is applied here to "
            f"{', '.join(others)}'s: its instruction difficulties are that judge's, not these"]  # fmt: skip


def check_coverage(
    calibration: Calibration, keys: npt.ArrayLike, sources: Sequence[str] | npt.ArrayLike, records: npt.ArrayLike
) -> None:
    """Fail when annotations name instructions the calibration (the eval set) does not cover.

    Args:
        calibration: the calibration in use.
        keys: instruction key per annotation.
        sources: file per annotation (for the error message).
        records: record number per annotation (for the error message).
    """
    known = calibration.covers(keys)
    if known.all():
        return
    if known.mean() < 0.5:
        raise InputError(
            f"covers only {known.sum()} of {len(known)} annotated instructions: a calibration for another eval set?",
            path=calibration.source,
        )
    first = int(np.flatnonzero(~known)[0])
    raise InputError(
        "instruction not in the eval set (no difficulty for it in the calibration)",
        path=str(np.asarray(sources, dtype=object)[first]),
        record=int(np.asarray(records)[first]),
    )
