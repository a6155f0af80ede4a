"""Reading and rendering leaderboard tables (CSV, Markdown, JSON)."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pandas as pd

from alpaca_lc.errors import InputError
from alpaca_lc.instrument import Instrument
from alpaca_lc.jsonio import write_atomic

FORMATS = ("csv", "md", "json")
_MD_COLUMNS = {
    "model": "Model",
    "length_controlled_winrate": "LC win rate",
    "lc_ci": "LC 95% CI",
    "win_rate": "Win rate",
    "standard_error": "SE",
    "avg_length": "Avg length",
    "n_total": "N",
    "judge": "Judge",
}


def render(table: pd.DataFrame, fmt: str) -> str:
    """Render a leaderboard table as `csv`, `md` (GitHub Markdown) or `json` (a list of rows).

    Args:
        table: leaderboard rows, first column `model`.
        fmt: one of `FORMATS`.
    """
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False, float_format="%.6f")
        return buf.getvalue()
    if fmt == "json":
        rows = [{k: _json_value(v) for k, v in row.items()} for row in table.to_dict("records")]
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "md":
        return _markdown(table)
    raise ValueError(f"unknown format {fmt!r}")


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _markdown(table: pd.DataFrame) -> str:
    view = table.copy()
    if "lc_ci_low" in view.columns:
        bounds = zip(view.lc_ci_low, view.lc_ci_high, strict=True)
        view["lc_ci"] = ["" if math.isnan(lo) else f"[{lo:.1f}, {hi:.1f}]" for lo, hi in bounds]
    cols = [c for c in _MD_COLUMNS if c in view.columns]
    if "judge" in cols and view["judge"].nunique() < 2:  # one instrument: said once, in the notes
        cols.remove("judge")
    lines = [
        "| " + " | ".join(_MD_COLUMNS[c] for c in cols) + " |",
        "|" + "|".join(":---" if c == "model" else "---:" for c in cols) + "|",
    ]
    for row in view[cols].itertuples(index=False):
        cells = [_md_cell(c, v) for c, v in zip(cols, row, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _md_cell(column: str, value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.1f}" if column != "standard_error" else f"{value:.2f}"
    return str(value).replace("|", "\\|")


def write_table(path: Path, table: pd.DataFrame, fmt: str) -> None:
    """Write a rendered table atomically."""
    text = render(table, fmt)
    write_atomic(path, lambda fh: fh.write(text))


def read_leaderboard(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a leaderboard CSV (ours, AlpacaEval's with an unnamed index column, or the published one).

    Args:
        path: the CSV file.
        required: columns that must be present.
    Returns:
        The table indexed by model name.
    """
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read CSV: {exc}", path=path) from None
    first = table.columns[0]
    if first != "model" and not str(first).startswith("Unnamed"):
        if "model" not in table.columns:
            raise InputError("no 'model' column (and the first column is not an unnamed index)", path=path)
        first = "model"
    table = table.rename(columns={first: "model"}).set_index("model")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", path=path)
    if table.index.duplicated().any():
        dup = table.index[table.index.duplicated()][0]
        raise InputError(f"model '{dup}' appears twice", path=path)
    return table


def board_instruments(board: pd.DataFrame) -> list[tuple[str, Instrument]]:
    """(model, instrument) of each row of a leaderboard read by `read_leaderboard` (unknown without the columns)."""
    judges = board["judge"] if "judge" in board.columns else pd.Series(None, index=board.index, dtype=object)
    protocols = board.get("judge_protocol", pd.Series(None, index=board.index, dtype=object))
    return [
        (str(model), Instrument(None if pd.isna(j) else str(j), None if pd.isna(p) else str(p)))
        for model, j, p in zip(board.index, judges, protocols, strict=True)
    ]
