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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alpaca_lc.errors import InputError
from alpaca_lc.evalset import EvalSet, download_from_hub, load_eval_set
from alpaca_lc.jsonio import write_atomic, write_json
from alpaca_lc.stats.lc import GamedRows

FORMAT = "alpaca-lc/calibration-v1"
BUNDLED = "alpaca_eval_2_calibration.json"
OFFICIAL_DIFFICULTY = "instruction_difficulty.csv"
OFFICIAL_GAMED = "df_gamed.csv"
OFFICIAL_JUDGE = "weighted_alpaca_eval_gpt4_turbo"  # AlpacaEval fitted its calibration on this judge's judgments


@dataclass(frozen=True)
class Calibration:
    """Difficulty per instruction key, and the baseline's gamed-variant rows (None: fit unregularised)."""

    difficulty: pd.Series
    gamed: pd.DataFrame | None  # columns: key, variant, std_delta_len, preference (in [1, 2])
    source: str
    provenance: str = ""
    judge: str | None = None  # whose judgments it was fitted on

    def gamed_rows(self) -> GamedRows | None:
        """The gamed rows in the form the LC fit takes, or None when there are none."""
        if self.gamed is None or self.gamed.empty:
            return None
        g = self.gamed
        return GamedRows(
            key=g["key"].to_numpy(dtype=str),
            std_delta_len=g["std_delta_len"].to_numpy(dtype=float),
            preference=g["preference"].to_numpy(dtype=float),
            difficulty=self.difficulty.reindex(g["key"]).to_numpy(dtype=float),
        )


def resolve_calibration(choice: str, eval_set_path: Path | None = None) -> Calibration:
    """Load the calibration named by `--calibration`.

    Args:
        choice: "bundled", "official", or a path.
        eval_set_path: the eval set, needed to map position-keyed (AlpacaEval-format) files to instructions.
    """
    if choice == "bundled":
        ref = resources.files("alpaca_lc") / "data" / BUNDLED
        return _parse_json(json.loads(ref.read_text(encoding="utf-8")), f"bundled:{BUNDLED}")
    if choice == "official":
        difficulty_csv = download_from_hub(OFFICIAL_DIFFICULTY)
        gamed_csv = download_from_hub(OFFICIAL_GAMED)
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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a calibration file: {exc}", path=path) from None
    return _parse_json(data, str(path))


def _parse_json(data: Any, source: str) -> Calibration:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'not a calibration file (expected "format": "{FORMAT}")', path=source)
    try:
        difficulty = pd.Series(data["difficulty"], dtype=float, name="instruction_difficulty")
        gamed = pd.DataFrame(data["gamed"]) if data.get("gamed") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed calibration: {exc}", path=source) from None
    if difficulty.empty or difficulty.isna().any():
        raise InputError("calibration has no (or non-numeric) difficulties", path=source)
    judge = data.get("judge") if isinstance(data.get("judge"), str) else None
    return Calibration(difficulty, gamed, source, str(data.get("provenance", "")), judge)


def write_calibration(path: Path, calibration: Calibration) -> None:
    """Write a calibration in alpaca-lc's JSON format (atomically)."""
    gamed = None
    if calibration.gamed is not None:
        gamed = {c: calibration.gamed[c].tolist() for c in ("key", "variant", "std_delta_len", "preference")}
    write_json(
        path,
        {
            "format": FORMAT,
            "provenance": calibration.provenance,
            "judge": calibration.judge,
            "difficulty": {k: round(float(v), 10) for k, v in calibration.difficulty.items()},
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
    return Calibration(difficulty.rename("instruction_difficulty"), gamed, str(difficulty_csv), "AlpacaEval format")


def write_alpaca_eval_calibration(calibration: Calibration, eval_set: EvalSet, folder: Path) -> None:
    """Write a calibration as AlpacaEval's two position-keyed CSV files (what its own code reads).

    Args:
        calibration: the calibration to export.
        eval_set: the eval set that fixes the positions.
        folder: where `instruction_difficulty.csv` and `df_gamed.csv` are written.
    """
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
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read CSV: {exc}", path=path) from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    return table


def check_coverage(calibration: Calibration, keys: pd.Series, sources: pd.Series, records: pd.Series) -> None:
    """Fail when annotations name instructions the calibration (the eval set) does not cover.

    Args:
        calibration: the calibration in use.
        keys: instruction key per annotation.
        sources: file per annotation (for the error message).
        records: record number per annotation (for the error message).
    """
    known = keys.isin(calibration.difficulty.index)
    if known.all():
        return
    share = known.mean()
    if share < 0.5:
        raise InputError(
            f"covers only {known.sum()} of {len(keys)} annotated instructions: a calibration for another eval set?",
            path=calibration.source,
        )
    first = np.flatnonzero(~known.to_numpy())[0]
    raise InputError(
        "instruction not in the eval set (no difficulty for it in the calibration)",
        path=sources.iloc[first],
        record=int(records.iloc[first]),
    )
