"""Entry point of `alpaca-lc report`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alpaca_lc.config import ReportConfig
from alpaca_lc.records.annotations import expand_annotation_paths
from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.instrument import check_one_instrument, instruments_by_model
from alpaca_lc.report.html import write_html
from alpaca_lc.report.plots import write_plots
from alpaca_lc.report.tables import board_instruments, read_leaderboard, write_table
from alpaca_lc.scoring.judged import load_judged, only_judge
from alpaca_lc.scoring.leaderboard import leaderboard_table
from alpaca_lc.scoring.score import score_rows


def run_report(config: ReportConfig) -> list[Path]:
    """Write `index.html`, `leaderboard.csv` and the plots into the output folder; returns the files written.

    Args:
        config: a leaderboard CSV, or annotations to score (with screening flags from their outputs).
    """
    sources = [p for p in config.source if p.suffix == ".csv"] + expand_annotation_paths(
        [p for p in config.source if p.suffix != ".csv"])  # fmt: skip
    check_destinations([config.output_dir / "index.html", config.output_dir / "leaderboard.csv"], sources)
    if len(config.source) == 1 and config.source[0].suffix == ".csv":
        table = read_leaderboard(config.source[0], required=("length_controlled_winrate", "win_rate", "avg_length"))
        table = table.sort_values("length_controlled_winrate", ascending=False)
    else:
        table = _from_annotations(config)
    notes = check_one_instrument(board_instruments(table), config.mix_judges, "rank")
    folder = config.output_dir
    folder.mkdir(parents=True, exist_ok=True)
    plots = write_plots(table, folder)
    write_table(folder / "leaderboard.csv", table.reset_index(), "csv")
    write_html(folder / "index.html", table, config.title, notes)
    return [folder / "index.html", folder / "leaderboard.csv", *plots]


def _from_annotations(config: ReportConfig) -> pd.DataFrame:
    annotations = only_judge(load_judged(list(config.source)), config.judge)
    check_one_instrument(instruments_by_model(annotations).items(), config.mix_judges, "rank")  # before scoring
    scores = score_rows(annotations, resolve_calibration(config.calibration), n_boot=config.bootstrap)
    return pd.DataFrame(leaderboard_table(scores)).set_index("model")
