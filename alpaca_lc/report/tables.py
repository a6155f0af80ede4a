"""Reading and rendering leaderboard tables (CSV, Markdown, JSON)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from alpaca_lc.errors import InputError
from alpaca_lc.records.instrument import Instrument
from alpaca_lc.records.jsonio import read_csv, write_atomic

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "md", "json")
_MD_COLUMNS = {
    "model": "Model",
    "length_controlled_winrate": "LC win rate",
    "lc_ci": "LC 95% CI",
    "win_rate": "Win rate",
    "standard_error": "SE",
    "avg_length": "Avg length",
    "n_total": "N",
    "subset": "Subset",
    "judge": "Judge",
    "score": "Score",  # Arena-Hard-Auto's rows
    "score_ci": "Interval",
    "control": "Style control",
    "prompts": "Prompts",
    "failed_prompts": "Failed",
    "flag_names": "Flags",
}


Rows = list[dict[str, Any]]


def render(table: Rows | pd.DataFrame, fmt: str) -> str:
    """Render a leaderboard as `csv`, `md` (GitHub Markdown) or `json` (a list of rows).

    Args:
        table: leaderboard rows (dicts, first key `model`), or a DataFrame of them.
        fmt: one of `FORMATS`.
    """
    rows: Rows = table if isinstance(table, list) else table.to_dict("records")
    if fmt == "csv":
        return _csv(rows)
    if fmt == "json":
        return json.dumps([{k: _json_value(v) for k, v in row.items()} for row in rows], indent=2) + "\n"
    if fmt == "md":
        return _markdown(rows)
    raise ValueError(f"unknown format {fmt!r}")


def _csv(rows: Rows) -> str:
    """As pandas writes it with float_format="%.6f": empty cells for NaN and None."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = list(rows[0]) if rows else []
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in columns])
    return buf.getvalue()


def _csv_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating):
        return f"{value:.6f}"
    return str(value)


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _markdown(rows: Rows) -> str:
    view = [dict(r) for r in rows]
    for r in view:
        if "lc_ci_low" in r:
            lo, hi = r["lc_ci_low"], r["lc_ci_high"]
            r["lc_ci"] = "" if _missing(lo) else f"[{lo:.1f}, {hi:.1f}]"
        if "score_ci_low" in r:
            r["score_ci"] = f"[{r['score_ci_low']:.1f}, {r['score_ci_high']:.1f}]"
        if r.get("flags"):  # only the flag names; the reasons are in the CSV and JSON
            r["flag_names"] = ", ".join(part.split(":", 1)[0] for part in str(r["flags"]).split("; "))
    present = set(view[0]) if view else set()
    cols = [c for c in _MD_COLUMNS if c in present]
    if "subset" in cols and all(_missing(r.get("subset")) or not r.get("subset") for r in view):
        cols.remove("subset")  # estimated rows only: N is then the judged count, out of the eval set's
    if "judge" in cols and len({r.get("judge") for r in view}) < 2:  # one instrument: said once, in the notes
        cols.remove("judge")
    if any(r.get("flag_names") for r in view) and "flag_names" not in cols:  # a later row is the first flagged
        cols.append("flag_names")
    lines = [
        "| " + " | ".join(_MD_COLUMNS[c] for c in cols) + " |",
        "|" + "|".join(":---" if c in ("model", "flag_names") else "---:" for c in cols) + "|",
    ]
    for r in view:
        cells = [_md_cell(c, r.get(c, "")) for c in cols]
        if r.get("flag_names"):
            cells[0] = "⚠️ " + cells[0]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _md_cell(column: str, value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.1f}" if column != "standard_error" else f"{value:.2f}"
    return "" if value is None else str(value).replace("|", "\\|")


def write_table(path: Path, table: Rows | pd.DataFrame, fmt: str) -> None:
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
    table = read_csv(path)
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
    import pandas as pd

    judges = board["judge"] if "judge" in board.columns else pd.Series(None, index=board.index, dtype=object)
    protocols = board.get("judge_protocol", pd.Series(None, index=board.index, dtype=object))
    # A bridged row ("<judge> (bridged from <successor> by bridge <hash>)") is on its reference judge's scale.
    return [
        (
            str(model),
            Instrument(None if pd.isna(j) else str(j).split(" (bridged from ")[0], None if pd.isna(p) else str(p)),
        )
        for model, j, p in zip(board.index, judges, protocols, strict=True)
    ]
