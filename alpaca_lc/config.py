"""Typed, closed run configurations: unknown keys are errors, nothing passes through unchecked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alpaca_lc.errors import InputError

# A reasoning model's reasoning_effort, as OpenAI's Chat Completions API takes it (the CLI's choices: `cli.options`)
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh"]

M = TypeVar("M", bound=BaseModel)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def yaml_message(exc: BaseException) -> str:
    """A short message for a YAML (or OS) error: the problem and where it is."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1} column {mark.column + 1}"
    return str(exc)


def load_yaml_config(path: Path, model: type[M], what: str) -> M:
    """Read a closed YAML config into `model`; any problem is one InputError line naming the file and field.

    Args:
        path: the YAML file.
        model: the pydantic model (extra keys forbidden).
        what: what the file is, for messages ("judge config", "model config").
    """
    try:
        return model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(f"no such {what}", path=path) from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read {what}: {yaml_message(exc)}", path=path) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise InputError(f"invalid {what}: {where}: {first['msg']}", path=path) from None


class Endpoint(_Closed):
    """An OpenAI-compatible endpoint. `base_url` None: the openai client's default (`OPENAI_BASE_URL`);
    `api_key_env` None: a local server that needs no key. The limits, when set, cap this run's pace (else it
    is learned from the endpoint's `x-ratelimit-*` headers)."""

    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    aliases: tuple[str, ...] = ()  # base URLs of the same service: their cached judgments are this one's
    tokens_per_minute: float | None = Field(default=None, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)


class SubsetFitConfig(_Closed):
    """`alpaca-lc subset fit`: choose instructions to judge and fit the estimator on many models' judgments."""

    annotations: tuple[Path, ...] = Field(min_length=1)
    size: int = Field(ge=1)
    output: Path
    seed: int = 0
    name: str | None = None


class CalibrateConfig(_Closed):
    """`alpaca-lc calibrate`: fit instruction difficulties jointly over many models."""

    annotations: tuple[Path, ...] = Field(min_length=1)
    gamed: tuple[Path, ...] = ()
    ridge: float = Field(default=1.0, ge=0)
    output: Path


class CorrelateConfig(_Closed):
    """`alpaca-lc correlate`: rank correlation of a leaderboard with Arena ratings, and gameability."""

    leaderboard: Path
    arena: Path
    arena_column: str | None = None


class JudgeRunConfig(_Closed):
    """Which judge, which cache, and how hard to push the endpoint."""

    judge: str = "weighted_alpaca_eval_gpt4_turbo"
    judge_model: str | None = None  # another model in place of the judge's own: another instrument
    alpaca_eval_dir: Path | None = None
    cache: Path | None = None
    concurrency: int = Field(default=32, ge=1)
    timeout: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    tpm: float | None = Field(default=None, gt=0)
    rpm: float | None = Field(default=None, gt=0)
    stall_timeout: float = Field(default=300.0, gt=0)
    max_cost: float | None = Field(default=None, ge=0)
    both_orders: bool = False
    progress: bool = True
    same_endpoints: tuple[str, ...] = ()  # base URLs whose cached judgments are this endpoint's (one service)
    strict_endpoint: bool = False  # refuse cached judgments that record no endpoint (made before endpoints were)
    context_tokens: int | None = Field(default=None, ge=1)  # the judge's context window (else the documented one)
    fresh: str | None = None  # judge again whatever the cache holds, under keys of this tag (`release.drift`)
    answer: Literal["judge", "verdict"] = "judge"  # the judge's own answer rule, or the verdict read from its text
    reasoning_effort: ReasoningEffort | None = None
    max_completion_tokens: int | None = Field(default=None, ge=1)  # a reasoning model's limit (`annotation.adapt`)
    batch: bool = False  # through the Batch API (`annotation.batched`)
    batch_fallback: Literal["batch", "live"] = "batch"
    wait: bool = True  # False: submit the batches and stop (exit 4)


class AnnotateConfig(_Closed):
    """`alpaca-lc annotate`: judge a model's outputs against the reference outputs."""

    model_outputs: Path
    reference: Path | None = None
    eval_set: Path | None = None
    name: str | None = None
    max_instances: int | None = Field(default=None, ge=1)
    subset: str | None = None  # judge only this subset's instructions (`tiny`, `small` or a subset file)
    allow_partial: bool = False  # outputs that miss instructions of the eval set are judged (rows marked partial)
    keep_thinking: bool = False  # judge outputs whole, thoughts and all (`records.thinking`)
    think_tags: tuple[str, str] = ("<think>", "</think>")
    dry_run: bool = False
    output: Path = Path("annotations.json")
    run: JudgeRunConfig = JudgeRunConfig()
    bridge: Path | None = None  # the judge's bridge to the official scale (`alpaca_lc.scoring.bridge`)


class EvaluateConfig(_Closed):
    """`alpaca-lc evaluate`: annotate, then the leaderboard row, written under `output_dir/<name>/<judge>/`."""

    annotate: AnnotateConfig
    output_dir: Path = Path("results")
    leaderboard: Path | None = None
    calibration: str = "bundled"
    bootstrap: int = Field(default=1000, ge=0)
    seed: int = 0
    mix_judges: bool = False
    extrapolate: bool = False  # bridged numbers outside the bridge's panel too


class CacheImportConfig(_Closed):
    """`alpaca-lc cache import`: load existing AlpacaEval annotations into the judgment cache."""

    annotations: tuple[Path, ...] = Field(min_length=1)
    judge: str | None = None
    cache: Path | None = None


class GenerateConfig(_Closed):
    """`alpaca-lc generate`: run a model over the eval set. None: the model config's own setting."""

    model: str
    backend: Literal["vllm", "vllm-server", "openai"] | None = None
    eval_set: Path | None = None
    system_prompt: str | None = None
    max_new_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    reasoning_effort: ReasoningEffort | None = None  # a reasoning model's
    max_completion_tokens: int | None = Field(default=None, ge=1)  # a reasoning model's limit, reasoning included
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    pipeline_parallel_size: int | None = Field(default=None, ge=1)
    data_parallel_size: int | None = Field(default=None, ge=1)
    base_url: str | None = None
    reasoning_parser: str | None = None  # vLLM's parser of a thinking model's thought
    think_tags: tuple[str, str] | None = None  # None: the model config's
    max_instances: int | None = Field(default=None, ge=1)
    name: str | None = None
    output: Path = Path("model_outputs.json")
    answer_format: Literal["alpaca_eval", "arena_hard"] = "alpaca_eval"  # model_outputs.json, or Arena-Hard answers
    category: str | None = None  # only the eval set's items of this dataset (an Arena-Hard-Auto category)
    concurrency: int = Field(default=32, ge=1)
    timeout: float = Field(default=600.0, gt=0)
    max_attempts: int = Field(default=8, ge=1)
    tpm: float | None = Field(default=None, gt=0)
    rpm: float | None = Field(default=None, gt=0)
    stall_timeout: float = Field(default=300.0, gt=0)
    progress: bool = True
    ray: str | None = None  # "local", "auto" or a cluster address: generate on Ray


class GateConfig(_Closed):
    """`alpaca-lc gate`: decide whether a release may ship, from its LC and the change from the previous one."""

    candidate: tuple[Path, ...] = Field(min_length=1)  # one file per sampled output of each instruction
    previous: tuple[Path, ...] = ()
    min_lc: float | None = None
    max_drop: float = 0.0
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    on_inconclusive: Literal["pass", "fail"] = "fail"
    allow_flagged: bool = False
    calibration: str = "bundled"
    bootstrap: int = Field(default=1000, ge=100)
    seed: int = 0
    reference: Path | None = None
    eval_set: Path | None = None
    run: JudgeRunConfig = JudgeRunConfig()
    mix_judges: bool = False
    subset: str | None = None  # judge only this subset; releases are model outputs
    max_instances: int | None = Field(default=None, ge=1)  # judge AlpacaEval's first N (a smoke test)
    allow_partial: bool = False  # releases that miss instructions of the eval set (never of the previous release)
    keep_thinking: bool = False  # judge outputs whole, thoughts and all (`records.thinking`)
    think_tags: tuple[str, str] = ("<think>", "</think>")
    dry_run: bool = False
    bridge: Path | None = None  # puts --min-lc on the official scale for a successor judge
    extrapolate: bool = False  # the bridged LC outside the bridge's panel too
    check_drift: Literal["auto", "always", "never"] = "auto"  # re-judge a sample of the previous release's
    rejudge_on_drift: bool = False  # on drift, judge both releases again (else exit 3)
    drift_tolerance: float | None = Field(default=None, gt=0, lt=1)  # None: by the judge's decoding
    drift_sample: int = Field(default=100, ge=10)


class ReportConfig(_Closed):
    """`alpaca-lc report`: an HTML leaderboard and plots from a leaderboard CSV or annotations."""

    source: tuple[Path, ...] = Field(min_length=1)
    output_dir: Path
    calibration: str = "bundled"
    bootstrap: int = Field(default=1000, ge=0)
    title: str = "alpaca-lc leaderboard"
    mix_judges: bool = False
    judge: str | None = None  # only this judge's annotations
