"""`alpaca-lc bridge`: put a successor judge's numbers on AlpacaEval 2.0's official scale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from alpaca_lc.cli.options import (
    batch_options,
    batch_settings,
    calibration_option,
    eval_set_option,
    reasoning_options,
    reasoning_settings,
)

_FILE = click.Path(path_type=Path, dir_okay=False)


@click.group()
def bridge() -> None:
    """Bridges from a living judge to AlpacaEval 2.0's retired one (docs/judge-bridge.md)."""


@bridge.command("fit")
@click.argument("annotations", nargs=-1, type=click.Path(path_type=Path))
@click.option("--official", type=_FILE, default=None,
              help="The official leaderboard CSV (AlpacaEval's: length_controlled_winrate, win_rate).")  # fmt: skip
@click.option("--panel", default=None, help="A bundled panel (alpaca_eval_2: 17 leaderboard models, listed by "
              "--dry-run and in docs/judge-bridge.md) instead of ANNOTATIONS: its models' outputs are judged by "
              "--judge, its official figures are bundled.")  # fmt: skip
@click.option("--outputs-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --panel: where its models' outputs are (<dir>/<model>/model_outputs.json).")  # fmt: skip
@click.option("--judge", default="weighted_alpaca_eval_gpt4_turbo", show_default=True, help="With --panel.")
@click.option("--judge-model", default=None, help="With --panel: the successor model (e.g. gpt-4.1-2025-04-14).")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--dry-run", is_flag=True, help="With --panel: the judgments and what they cost; call nothing.")
@click.option("--cache", type=_FILE, default=None, help="Default: $ALPACA_LC_CACHE.")
@click.option("--no-progress", is_flag=True, help="No progress bar (a log gets a few plain lines without it).")
@click.option("--allow-partial", is_flag=True, help="With --panel: judge panel outputs that miss a few instructions.")
@batch_options
@reasoning_options
@eval_set_option
@click.option("-o", "--output", type=_FILE, default=None, help="The bridge file to write.")
@calibration_option
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
              help="Resamples for each panel model's standard errors.")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
def fit(annotations: tuple[Path, ...], official: Path | None, panel: str | None, outputs_dir: Path | None,
        judge: str, judge_model: str | None, concurrency: int, dry_run: bool, cache: Path | None,
        no_progress: bool, eval_set: Path | None, output: Path | None, calibration: str, bootstrap: int,
        seed: int, allow_partial: bool, **more: Any) -> None:  # fmt: skip
    """Fit a bridge from ANNOTATIONS (a panel of models judged by the successor) to the official figures."""
    from alpaca_lc.pipeline.bridge_fit import BridgeFitConfig, run_bridge_fit
    from alpaca_lc.records.bridge import load_panel

    if (panel is None) == (not annotations):
        raise click.UsageError("give either ANNOTATIONS or --panel")
    if output is None and not dry_run:
        raise click.UsageError("give -o BRIDGE.json")
    figures = None
    if panel is not None:
        from alpaca_lc.config import AnnotateConfig, JudgeRunConfig
        from alpaca_lc.pipeline.bridge_fit import judge_panel

        chosen = load_panel(panel)
        run = JudgeRunConfig(
            judge=judge,
            judge_model=judge_model,
            cache=cache,
            concurrency=concurrency,
            progress=not no_progress,
            **batch_settings(more),
            **reasoning_settings(more),
        )
        annotate = AnnotateConfig(model_outputs=Path("unused"), eval_set=eval_set, dry_run=dry_run, run=run,
                                  allow_partial=allow_partial)  # fmt: skip
        written, lines = judge_panel(chosen, outputs_dir, annotate)
        annotations = tuple(written)
        if dry_run:
            click.echo("\n".join(lines))
            return
        figures = chosen.official
    assert output is not None
    config = BridgeFitConfig(tuple(annotations), official, output, calibration, bootstrap, seed)
    for line in run_bridge_fit(config, figures):
        click.echo(line, err=True)
