"""`report --benchmark arena-hard-v2.0`: an HTML leaderboard of Arena-Hard-Auto scores (plain and, with answers,
style-controlled), its CSV, and a plot of the scores with their intervals."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.report.html import SCRIPT, STYLE
from alpaca_lc.report.tables import write_table
from alpaca_lc.scoring.arena_board import ArenaBoardConfig, run_arena_board

PLOT = "arena_scores.png"


def run_arena_report(config: ArenaBoardConfig, folder: Path, title: str) -> list[Path]:
    """Score the judgments (plainly, and with `config.control` when it names features), then write `index.html`,
    `leaderboard.csv` and the plot into `folder`; returns the files written."""
    written = [folder / "index.html", folder / "leaderboard.csv", folder / PLOT]
    check_destinations(written, [*config.judgments, *config.answers])
    plain = run_arena_board(dataclasses.replace(config, control=None, answers=()))
    styled = run_arena_board(config) if config.control else None
    table = plain.table.set_index("model")[["score", "score_ci_low", "score_ci_high", "prompts", "failed_prompts",
                                            "flags"]]  # fmt: skip
    if styled is not None:
        controlled = styled.table.set_index("model")[["score", "score_ci_low", "score_ci_high"]]
        table = table.join(controlled.add_prefix("styled_"))
    notes = plain.notes + ([n for n in styled.notes if "coefficients" in n] if styled is not None else [])
    folder.mkdir(parents=True, exist_ok=True)
    _plot(table, folder / PLOT)
    write_table(folder / "leaderboard.csv", table.reset_index(), "csv")
    subtitle = f"{config.category} against {plain.table['baseline'].iloc[0]}"
    (folder / "index.html").write_text(_page(table, f"{title}: {subtitle}", notes), encoding="utf-8")
    return written


def _cell(row: pd.Series, prefix: str = "") -> str:
    return (f"{row[prefix + 'score']:.1f} [{row[prefix + 'score_ci_low']:.1f}, "
            f"{row[prefix + 'score_ci_high']:.1f}]")  # fmt: skip


def _page(table: pd.DataFrame, title: str, notes: list[str]) -> str:
    styled = "styled_score" in table.columns
    rows = []
    for rank, (model, r) in enumerate(table.iterrows(), start=1):
        data = {"rank": rank, "model": html.escape(str(model)), "score": f"{r['score']:.4f}",
                "styled": f"{r['styled_score']:.4f}" if styled else "", "prompts": int(r["prompts"])}  # fmt: skip
        attrs = " ".join(f'data-{k}="{v}"' for k, v in data.items())
        extra = f"<td class='num'>{_cell(r, 'styled_')}</td>" if styled else ""
        prompts = f"{int(r['prompts'])} ({int(r['failed_prompts'])} failed)"
        rows.append(f"<tr {attrs}><td class='num'>{rank}</td><td>{data['model']}</td><td class='num'>{_cell(r)}</td>"
                    f"{extra}<td class='num'>{prompts}</td></tr>")  # fmt: skip
    columns = [("rank", "#"), ("model", "Model"), ("score", "Score [interval]")]
    columns += [("styled", "Style-controlled [interval]")] if styled else []
    columns += [("prompts", "Prompts")]
    header = "".join(f"<th data-key='{k}'>{label}</th>" for k, label in columns)
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        + "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
        + f"<table id='leaderboard'><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<img src='{PLOT}' alt='scores with their intervals'><script>{SCRIPT}</script></body></html>\n"
    )


def _plot(table: pd.DataFrame, path: Path) -> None:
    ordered = table.sort_values("score")
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.3 * len(ordered))), dpi=110)
    series = [("", "score", "tab:blue", -0.12)]
    series += [("styled_", "style-controlled", "tab:orange", 0.12)] if "styled_score" in ordered.columns else []
    for prefix, label, color, shift in series:
        score = ordered[prefix + "score"]
        err = [score - ordered[prefix + "score_ci_low"], ordered[prefix + "score_ci_high"] - score]
        ax.errorbar(score, [i + shift for i in range(len(ordered))], xerr=err, fmt="o", ms=3, capsize=2, color=color,
                    label=label)  # fmt: skip
    ax.axvline(50, color="grey", lw=0.8, ls="--")
    ax.set_yticks(range(len(ordered)), [str(m) for m in ordered.index], fontsize=8)
    ax.set(xlabel="score against the baseline (%)", title="Arena-Hard-Auto v2.0 scores with their intervals")
    ax.legend(loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
