"""`bridge fit`: judge a panel with the successor judge (or read its judgments), score it, and fit the bridge
onto the official scale (`scoring.bridge`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpaca_lc.annotation.plan import Tally
from alpaca_lc.annotation.run import run_annotate, stand_in_pairs, write_annotations
from alpaca_lc.config import AnnotateConfig
from alpaca_lc.errors import UsageError
from alpaca_lc.records.annotations import expand_annotation_paths
from alpaca_lc.records.bridge import REFERENCE, BundledPanel, PanelModel, reference_instrument, write_bridge
from alpaca_lc.records.calibration import resolve_calibration
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.evalset import load_eval_set
from alpaca_lc.records.instrument import check_one_instrument, instruments_by_model
from alpaca_lc.report.tables import read_leaderboard
from alpaca_lc.scoring.bridge import MIN_PANEL, describe, fit_bridge, number
from alpaca_lc.scoring.judged import load_judged
from alpaca_lc.scoring.score import ModelScore, score_rows

if TYPE_CHECKING:
    import pandas as pd


def judge_panel(
    panel: BundledPanel, outputs_dir: Path | None, annotate: AnnotateConfig
) -> tuple[list[Path], list[str]]:
    """Judge a bridge panel's outputs with the successor judge (`outputs_dir/<model>/model_outputs.json`, AlpacaEval's
    results layout), writing `outputs_dir/<model>/<judge>/annotations.json`; with `dry_run`, only say what it
    would take (outputs not at hand are estimated as long as the model's published average length).

    Args:
        panel: the panel (`records.bridge.load_panel`).
        outputs_dir: where the panel models' outputs are.
        annotate: the judge and run settings (its model_outputs and name are replaced per model).
    """
    written: list[Path] = []
    total = Tally()
    located = {
        str(m): None if outputs_dir is None else _panel_outputs(outputs_dir, str(m)) for m in panel.official.index
    }
    absent = [m for m, found in located.items() if found is None]
    if absent and not annotate.dry_run:
        where = "no --outputs-dir given" if outputs_dir is None else f"not under {outputs_dir}"
        raise UsageError(f"the outputs of {len(absent)} of the panel's {len(located)} models are needed ({where}): "
                         f"{', '.join(absent)}; put each one's {panel.outputs} at <dir>/<model>/model_outputs.json "
                         "and give --outputs-dir <dir>")  # fmt: skip
    for model, figures in panel.official.iterrows():
        found = located[str(model)]
        config = annotate.model_copy(update={"model_outputs": found or Path(f"{model}.json"), "name": str(model)})
        if found is None:
            items = list(load_eval_set(config.eval_set).items)
            run = run_annotate(config, (str(model), stand_in_pairs(items, str(model), int(figures["avg_length"]))))
        else:
            run = run_annotate(config)
        if run.estimate is not None:
            total = total + run.estimate
            continue
        run.check_complete()
        assert outputs_dir is not None
        path = outputs_dir / str(model) / run.judge_name / "annotations.json"
        write_annotations(run, path)
        written.append(path)
    if not annotate.dry_run:
        return written, []
    where = "with no --outputs-dir" if outputs_dir is None else f"not found under {outputs_dir}"
    have = "" if not absent else f"; {len(absent)} {where} are estimated at their published average length"
    return [], [f"panel {panel.name}: {len(panel.official)} models ({panel.description})",
                "models: " + ", ".join(located) + have, total.estimate_line(),
                f"at the batch price (--batch): ~${total.estimated_batch_cost:.2f}"]  # fmt: skip


def _panel_outputs(folder: Path, model: str) -> Path | None:
    for path in (folder / model / "model_outputs.json", folder / f"{model}.json"):
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class BridgeFitConfig:
    """`alpaca-lc bridge fit`: a successor judge's annotations of a panel, and the official figures for it."""

    annotations: tuple[Path, ...]
    official: Path | None
    output: Path
    calibration: str = "bundled"
    bootstrap: int = 200
    seed: int = 0


def run_bridge_fit(config: BridgeFitConfig, official: pd.DataFrame | None = None) -> list[str]:
    """Score the panel under the successor, fit the bridge, write it; returns lines for the user.

    Args:
        config: the fit's inputs.
        official: the official figures already read (a bundled panel's), else read from `config.official`.
    """
    if official is None:
        if config.official is None:
            raise UsageError("give the official figures: --official LEADERBOARD_CSV (or --panel NAME)")
        official = read_leaderboard(config.official, ("length_controlled_winrate", "win_rate"))
    check_destinations([config.output], [*expand_annotation_paths(config.annotations), config.official])
    rows = load_judged(list(config.annotations))
    instruments = instruments_by_model(rows)
    check_one_instrument(instruments.items(), False, "fit one bridge from")
    successor = next(iter(instruments.values()))
    if successor.judge is None:
        raise UsageError("the panel's annotations do not name their judge: a bridge must know whose figures it reads")
    if successor.same_as(reference_instrument()):
        raise UsageError(f"the panel was judged by {REFERENCE} itself: its figures need no bridge")
    calibration = resolve_calibration(config.calibration)
    scores = score_rows(rows, calibration, n_boot=config.bootstrap, seed=config.seed, instruments=instruments)
    panel, skipped = panel_from_scores(scores, official)
    if len(panel) < MIN_PANEL:
        where = "the panel" if config.official is None else str(config.official)
        raise UsageError(f"a bridge needs at least {MIN_PANEL} panel models with official figures in {where}; "
                         f"{len(panel)} of {len(scores)} have them")  # fmt: skip
    bridge = fit_bridge(panel, successor, "length_controlled_v1", calibration.source)
    write_bridge(config.output, bridge)
    return (
        describe(bridge)
        + ([f"left out: {', '.join(skipped)}"] if skipped else [])
        + [f"wrote {config.output} (bridge {bridge.identity})"]
    )


def panel_from_scores(scores: list[ModelScore], official: Any) -> tuple[list[PanelModel], list[str]]:
    """The panel: each scored model that the official leaderboard has LC and raw figures for; and notes on the
    models left out (no official figures, or the baseline judged against itself).

    Args:
        scores: the successor's rows, one per model (with bootstrap standard errors where computed).
        official: the official leaderboard (`report.tables.read_leaderboard`), indexed by model.
    """
    panel, skipped = [], []
    for s in scores:
        if s.raw.n_draws == s.raw.n_total:  # the baseline against itself: 50 by construction
            skipped.append(f"{s.model} (the baseline itself)")
            continue
        row = official.loc[s.model] if s.model in official.index else None
        lc_o = None if row is None else number(row.get("length_controlled_winrate"))
        wr_o = None if row is None else number(row.get("win_rate"))
        if lc_o is None or wr_o is None:
            skipped.append(f"{s.model} (no official figures)")
            continue
        panel.append(PanelModel(s.model, s.lc.length_controlled_winrate, s.lc.lc_standard_error, s.raw.win_rate,
                                s.raw.standard_error, float(s.avg_length), lc_o, wr_o))  # fmt: skip
    return panel, skipped
