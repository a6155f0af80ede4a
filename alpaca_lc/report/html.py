"""A static, self-contained HTML leaderboard: a sortable table and the plots."""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from alpaca_lc.report.plots import PLOTS

SCRIPT = r"""
document.querySelectorAll('th[data-key]').forEach(function (th) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#leaderboard tbody');
    var key = th.dataset.key, asc = th.dataset.dir !== 'asc';
    th.dataset.dir = asc ? 'asc' : 'desc';
    Array.from(body.rows).sort(function (a, b) {
      var x = a.dataset[key], y = b.dataset[key];
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    }).forEach(function (row) { body.appendChild(row); });
  });
});
var wanted = location.hash.match(/sort=(\w+)/);  // e.g. index.html#sort=model opens sorted
if (wanted) { document.querySelector('th[data-key="' + wanted[1] + '"]').click(); }
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; }
th { cursor: pointer; text-align: left; background: #f4f4f4; } td.num { text-align: right; white-space: nowrap; }
td.flags { color: #b00; font-size: 0.9em; } img { max-width: 900px; display: block; margin: 1.5em 0; }
"""


def render_html(table: pd.DataFrame, title: str, notes: list[str] | None = None) -> str:
    """The page for a leaderboard indexed by model, with optional `flags`, `lc_ci_*` and `judge` columns.

    Args:
        table: the leaderboard, indexed by model.
        title: the page title.
        notes: lines shown above the table (which judge; a warning when judges are mixed).
    """
    rows = []
    mixed = "judge" in table.columns and table["judge"].nunique() > 1
    for rank, (model, r) in enumerate(table.iterrows(), start=1):
        ci = "" if _nan(r.get("lc_ci_low")) else f" [{r['lc_ci_low']:.1f}, {r['lc_ci_high']:.1f}]"
        flags = str(r.get("flags") or "") if not _nan(r.get("flags")) else ""
        data = {"rank": rank, "model": html.escape(str(model)), "lc": f"{r['length_controlled_winrate']:.4f}",
                "wr": f"{r['win_rate']:.4f}", "len": int(r["avg_length"]), "flags": html.escape(flags)}  # fmt: skip
        attrs = " ".join(f'data-{k}="{v}"' for k, v in data.items())
        se = "" if _nan(r.get("standard_error")) else f" ± {r['standard_error']:.1f}"
        rows.append(
            f"<tr {attrs}><td class='num'>{rank}</td><td>{data['model']}{_judge_cell(r) if mixed else ''}</td>"
            f"<td class='num'>{r['length_controlled_winrate']:.1f}{ci}</td>"
            f"<td class='num'>{r['win_rate']:.1f}{se}</td><td class='num'>{int(r['avg_length'])}</td>"
            f"<td class='flags'>{data['flags']}</td></tr>"
        )
    header = "".join(
        f"<th data-key='{k}'>{label}</th>"
        for k, label in [("rank", "#"), ("model", "Model"), ("lc", "LC win rate [95% CI]"), ("wr", "Win rate"),
                         ("len", "Avg length"), ("flags", "Flags")]
    )  # fmt: skip
    images = "".join(f"<img src='{name}' alt='{html.escape(alt)}'>" for name, alt in PLOTS.items())
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes or [])
        + f"<p>{len(table)} models; click a column header to sort.</p>"
        f"<table id='leaderboard'><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"{images}<script>{SCRIPT}</script></body></html>\n"
    )


def _judge_cell(row: pd.Series) -> str:
    return f" <small>(judge: {html.escape(str(row.get('judge')))})</small>"


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def write_html(path: Path, table: pd.DataFrame, title: str, notes: list[str] | None = None) -> None:
    """Write the page."""
    path.write_text(render_html(table, title, notes), encoding="utf-8")
