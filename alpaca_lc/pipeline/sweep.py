"""`evaluate --model`: generate, then judge and score, under one results folder; with several models, one
combined leaderboard, each model judged as soon as its outputs are complete."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from alpaca_lc.annotation.run import run_annotate, stand_in_pairs
from alpaca_lc.config import EvaluateConfig, GenerateConfig
from alpaca_lc.errors import BatchSubmitted, UsageError
from alpaca_lc.generation.run import GenerateRun, plan_generation, resolve_model, run_generate_many
from alpaca_lc.pipeline.evaluate import EvaluateRun, run_evaluate
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.evalset import local_eval_set
from alpaca_lc.records.jsonio import write_text
from alpaca_lc.report.tables import render
from alpaca_lc.scoring.leaderboard import leaderboard_table_rows


@dataclass(frozen=True)
class Sweep:
    """Each model's generation and evaluation, and the combined leaderboard (rows sorted by LC)."""

    generated: list[GenerateRun]
    evaluated: list[EvaluateRun]
    table: list[dict[str, Any]]
    leaderboard: Path | None


def output_paths(generates: list[GenerateConfig], folder: Path) -> list[GenerateConfig]:
    """Each model's config with its outputs at `folder/<name>/model_outputs.json` (Arena-Hard-Auto answers:
    `answers.jsonl`); two models of one name are an error (their results would overwrite each other)."""
    named: dict[str, str] = {}
    placed = []
    for config in generates:
        name = resolve_model(config).name
        if name in named:
            raise UsageError(f"--model {config.model} and --model {named[name]} are both named {name!r}: give one "
                             "of them another name in its model config")  # fmt: skip
        named[name] = config.model
        file = "answers.jsonl" if config.answer_format == "arena_hard" else "model_outputs.json"
        placed.append(config.model_copy(update={"output": folder / name / file, "name": name}))
    return placed


def run_evaluate_models(generates: list[GenerateConfig], evaluate: EvaluateConfig) -> Sweep:
    """Generate each model's outputs (resuming or reusing what is there) and evaluate them; with several
    models, write `DIR/leaderboard.csv` combining them.

    Args:
        generates: one per model (output paths are replaced by the results folder's).
        evaluate: the judging and scoring settings (the model-outputs path is replaced likewise).
    """
    configs = output_paths(
        [g.model_copy(update={"eval_set": evaluate.annotate.eval_set}) for g in generates], evaluate.output_dir
    )
    check_destinations([evaluate.output_dir / "leaderboard.csv"], [local_eval_set(evaluate.annotate.eval_set)])
    judging: list[Future[EvaluateRun]] = []
    # One judging thread: a model is judged as soon as its outputs are written, while others still generate.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge") as judge:

        def judge_model(run: GenerateRun) -> None:
            annotate = evaluate.annotate.model_copy(update={"model_outputs": run.output, "name": run.name})
            judging.append(judge.submit(run_evaluate, evaluate.model_copy(update={"annotate": annotate})))

        generated = run_generate_many(configs, on_done=judge_model)
        evaluated = _results(judging)
    table = leaderboard_table_rows([row for run in evaluated for row in run.table])
    path = None
    if len(configs) > 1:
        path = evaluate.output_dir / "leaderboard.csv"
        write_text(path, render(table, "csv"))
    return Sweep(generated, evaluated, table, path)


def _results(judging: list[Future[EvaluateRun]]) -> list[EvaluateRun]:
    """Every model's evaluation; with `--batch --no-wait`, every model's batches are submitted first and all their
    ids reported together (exit 4)."""
    evaluated, submitted = [], []
    for future in judging:
        try:
            evaluated.append(future.result())
        except BatchSubmitted as exc:
            submitted.append(exc)
    if submitted:
        ids = [i for exc in submitted for i in exc.batch_ids]
        raise BatchSubmitted(f"{len(submitted)} of {len(judging)} models: " + "; ".join(map(str, submitted)), ids)
    return evaluated


def estimate_models(generates: list[GenerateConfig], evaluate: EvaluateConfig) -> list[str]:
    """`evaluate --model ... --dry-run`: per model, what generating would do and what judging would cost; nothing
    is written or called. Outputs not generated yet are estimated as long as the baseline's.

    Args:
        generates: one per model.
        evaluate: the judging settings.
    """
    configs = output_paths(
        [g.model_copy(update={"eval_set": evaluate.annotate.eval_set}) for g in generates], evaluate.output_dir
    )
    check_destinations([evaluate.output_dir / "leaderboard.csv"], [local_eval_set(evaluate.annotate.eval_set)])
    lines = []
    for config in configs:
        plan = plan_generation(config)
        lines.append(plan.line)
        annotate = evaluate.annotate.model_copy(update={"model_outputs": config.output, "name": plan.model.name})
        if plan.done == len(plan.items):
            estimate = run_evaluate(evaluate.model_copy(update={"annotate": annotate})).annotate.estimate
        else:
            estimate = run_annotate(annotate, (plan.model.name, stand_in_pairs(plan.items, plan.model.name))).estimate
            lines.append("judging estimated with outputs as long as the baseline's:")
        assert estimate is not None
        lines.append(estimate.estimate_line())
    return lines
