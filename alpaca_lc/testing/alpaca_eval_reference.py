"""AlpacaEval 0.6.6 itself, installed in a throw-away virtualenv, as the reference alpaca-lc is checked against.

Never a dependency of alpaca-lc: the tests and benchmarks that compare the two create the environment under a
work folder of their own (`benchmarks/.work/` in this repository) and run AlpacaEval there as a user would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

VERSION = "0.6.6"

# Runs inside AlpacaEval's environment: its `evaluate` entry point, as `alpaca_eval evaluate` would run it, with
# the raw win rate as the metric (its LC metric downloads calibration files from the hub) and its annotation
# cache at a path of ours.
_EVALUATE = textwrap.dedent(
    """
    import sys
    from alpaca_eval.main import evaluate
    model_outputs, reference_outputs, output_path, caching_path, annotators_config, max_instances = sys.argv[1:7]
    evaluate(model_outputs=model_outputs, reference_outputs=reference_outputs, annotators_config=annotators_config,
             output_path=output_path, caching_path=caching_path, precomputed_leaderboard=None,
             fn_metric="get_winrate", sort_by="win_rate", is_cache_leaderboard=False, is_return_instead_of_print=True,
             max_instances=int(max_instances) if max_instances else None)
    """
)


def ensure_venv(work: Path) -> Path:
    """The Python of a virtualenv under `work` with alpaca-eval installed (created on first use)."""
    venv = work / "ae-venv"
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        print(f"installing alpaca-eval=={VERSION} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"alpaca-eval=={VERSION}"], check=True)
        (venv / ".complete").touch()
    return python


def evaluate(
    python: Path,
    model_outputs: Path,
    reference_outputs: Path,
    output_path: Path,
    env: dict[str, str],
    annotators_config: str = "weighted_alpaca_eval_gpt4_turbo",
    max_instances: int | None = None,
) -> Path:
    """Run AlpacaEval's `evaluate` on one model; returns its `annotations.json`. Its annotation cache is
    `output_path/annotations_cache.json` (AlpacaEval's own format).

    Args:
        python: the environment's Python (`ensure_venv`).
        model_outputs: the model's outputs (AlpacaEval's format).
        reference_outputs: the baseline's outputs.
        output_path: where AlpacaEval writes its results.
        env: the environment (OPENAI_BASE_URL and OPENAI_API_KEY point it at the judge).
        annotators_config: the evaluator.
        max_instances: AlpacaEval's `--max_instances`.
    """
    output_path.mkdir(parents=True, exist_ok=True)
    cache = output_path / "annotations_cache.json"
    args = [str(python), "-c", _EVALUATE, str(model_outputs), str(reference_outputs), str(output_path), str(cache),
            annotators_config, str(max_instances or "")]  # fmt: skip
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"alpaca-eval failed:\n{done.stderr[-3000:]}")
    return output_path / annotators_config / "annotations.json"
