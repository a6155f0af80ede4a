"""Entry point of the generation stage: resumable, writes finished outputs as they complete."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from alpaca_lc import __version__
from alpaca_lc.config import Endpoint, GenerateConfig
from alpaca_lc.endpoint.calls import ClientSettings, base_url
from alpaca_lc.endpoint.models import retired_line, retirement
from alpaca_lc.errors import IncompleteError, InputError, UsageError
from alpaca_lc.generation.base import Failure, Generation, GenerationRequest, load_backend
from alpaca_lc.generation.models import ModelConfig, load_model_config, reasoning_note, reasons
from alpaca_lc.progress import Progress
from alpaca_lc.records.arena_hard import answer_records
from alpaca_lc.records.arena_style import Encode, gpt4o_tokens
from alpaca_lc.records.destinations import check_destinations
from alpaca_lc.records.evalset import EvalItem, load_eval_set, local_eval_set, shuffled_head
from alpaca_lc.records.jsonio import write_atomic, write_json


@dataclass
class GenerateRun:
    """What a run did; `reused` when complete outputs with the same settings were already there."""

    name: str
    output: Path
    generated: int = 0
    resumed: int = 0
    reused: bool = False
    failures: Counter[str] = field(default_factory=Counter)
    failure_samples: dict[str, str] = field(default_factory=dict)  # the first message of each cause
    seconds: float = 0.0
    thoughts: int = 0  # answers with a thought kept apart (`reasoning`)
    unclosed: int = 0  # thoughts that never closed: empty answers
    empty_at_limit: int = 0  # a reasoning model's empty answers: its reasoning used up max_completion_tokens
    notes: list[str] = field(default_factory=list)  # what the user must know of how the outputs were written

    def summary(self) -> str:
        """One line for stderr."""
        if self.reused:
            return f"{self.output}: complete outputs with the same settings exist; nothing generated"
        rate = self.generated / self.seconds if self.seconds > 0 else 0.0
        thinking = "" if not self.thoughts else (
            f"; {self.thoughts} thoughts kept apart in `reasoning`"
            + (f", {self.unclosed} of them never closed (their output is empty)" if self.unclosed else ""))  # fmt: skip
        notes = "".join(f"; {note}" for note in self.notes)
        if self.empty_at_limit:
            notes += (f"; {self.empty_at_limit} answers are empty because the reasoning used up the completion limit "
                      "(finish_reason length): raise --max-completion-tokens and generate them again")  # fmt: skip
        return (f"generated {self.generated} ({rate:.1f}/s), kept {self.resumed} from an interrupted run, "
                f"wrote {self.output}{thinking}{notes}")  # fmt: skip


def resolve_model(config: GenerateConfig) -> ModelConfig:
    """The model config with the command line's overrides applied."""
    model = load_model_config(config.model)
    sampling = {k: v for k, v in {"temperature": config.temperature, "top_p": config.top_p,
                                  "max_new_tokens": config.max_new_tokens, "seed": config.seed,
                                  "reasoning_effort": config.reasoning_effort,
                                  "max_completion_tokens": config.max_completion_tokens}.items()
                if v is not None}  # fmt: skip
    engine = {k: v for k, v in {"tensor_parallel_size": config.tensor_parallel_size,
                                "pipeline_parallel_size": config.pipeline_parallel_size,
                                "data_parallel_size": config.data_parallel_size}.items() if v is not None}  # fmt: skip
    update: dict[str, Any] = {
        "sampling": model.sampling.model_copy(update=sampling),
        "engine": model.engine.model_copy(update=engine),
    }
    if config.backend is not None:
        update["backend"] = config.backend
    if config.system_prompt is not None:
        update["system_prompt"] = config.system_prompt
    if config.base_url is not None:
        update["endpoint"] = Endpoint(base_url=config.base_url, api_key_env=model.endpoint.api_key_env)
    if config.name is not None:
        update["name"] = config.name
    if config.reasoning_parser is not None:
        update["reasoning_parser"] = config.reasoning_parser
    if config.think_tags is not None:
        update["think_tags"] = config.think_tags
    resolved = model.model_copy(update=update)
    s = resolved.sampling
    if resolved.backend != "openai" and (s.reasoning_effort is not None or s.max_completion_tokens is not None):
        raise UsageError(f"{resolved.name}: a reasoning effort and --max-completion-tokens are for a provider's "
                         f"reasoning model on the openai backend, not {resolved.backend} (a thinking model there "
                         "takes --reasoning-parser and --max-new-tokens)")  # fmt: skip
    return resolved


def check_not_retired(model: ModelConfig) -> None:
    """Refuse (exit 2), before any call, a model its provider has retired, asked at that provider's API (a local or
    other server that still serves the name is asked as usual)."""
    if model.backend != "openai":
        return
    facts = retirement(model.model, base_url(model.endpoint))
    if facts is not None:
        raise UsageError(retired_line(facts, "generator"))


def messages_for(model: ModelConfig, instruction: str) -> list[dict[str, str]]:
    """The chat messages for one instruction (the model's chat template renders them)."""
    system = [{"role": "system", "content": model.system_prompt}] if model.system_prompt else []
    return [*system, {"role": "user", "content": instruction}]


def settings_hash(model: ModelConfig, items: list[EvalItem]) -> str:
    """Identifies the settings outputs were made with (resume and reuse only match the same settings)."""
    # What can change the outputs; not where or how the model is served.
    serving = {"server_start_timeout", "data_parallel_size", "tensor_parallel_size", "pipeline_parallel_size",
               "gpu_memory_utilization"}  # fmt: skip
    relevant = model.model_dump(exclude={"endpoint": True, "backend": True, "engine": serving})
    for name, default in (("reasoning_parser", None), ("think_tags", ("<think>", "</think>"))):
        if relevant[name] == default:  # as outputs were made before these settings existed: they reuse and resume
            del relevant[name]
    for name in ("reasoning_effort", "max_completion_tokens"):
        if relevant["sampling"][name] is None:
            del relevant["sampling"][name]
    relevant["instructions"] = hashlib.sha256("\0".join(i.instruction for i in items).encode()).hexdigest()
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class GenerationJob:
    """One model's generation in progress: what is done (kept in its partial file) and what is still to do."""

    config: GenerateConfig
    model: ModelConfig
    items: list[EvalItem]
    digest: str
    run: GenerateRun
    partial: _Partial
    done: dict[str, dict[str, Any]]
    todo: list[GenerationRequest]
    progress: Progress
    started: float = field(default_factory=time.perf_counter)

    def on_result(self, result: Generation | Failure) -> None:
        """Keep one answer the moment it arrives (a failure is counted and generated again next run)."""
        if isinstance(result, Failure):
            self.run.failures[result.cause] += 1
            self.run.failure_samples.setdefault(result.cause, result.message)
            self.progress.update(0, failed=sum(self.run.failures.values()))
            return
        record = _record(result, self.items[result.index], self.model.name)
        self.run.thoughts += result.reasoning is not None
        self.run.unclosed += result.unclosed
        cut = result.finish_reason == "length" and not result.output.strip()
        self.run.empty_at_limit += cut and reasons(self.model)
        self.partial.append(record)
        self.done[record["instruction"]] = record
        self.run.generated += 1
        self.progress.update(1)

    def on_ray(self) -> bool:
        """Whether this job runs on Ray: asked for, or vLLM replicas (data parallelism), which need Ray."""
        vllm = self.model.backend == "vllm"
        return vllm and (self.config.ray is not None or self.model.engine.data_parallel_size > 1)


def _items(config: GenerateConfig) -> list[EvalItem]:
    items = list(load_eval_set(config.eval_set).items)
    if config.category is not None:
        items = [it for it in items if it.dataset == config.category]
        if not items:
            raise InputError(f"the eval set has no item of category '{config.category}'",
                             path=local_eval_set(config.eval_set))  # fmt: skip
    if config.max_instances is not None:  # the instructions `annotate --max-instances` judges (AlpacaEval's N)
        items = [items[i] for i in shuffled_head(len(items), config.max_instances)]
    return items


@dataclass(frozen=True)
class GenerationPlan:
    """What `generate` would do (`--dry-run`): the model, its instructions, and how many are already answered."""

    model: ModelConfig
    items: list[EvalItem]
    done: int

    @property
    def line(self) -> str:
        """One line saying it."""
        todo = len(self.items) - self.done
        return f"would generate {todo} outputs with {self.model.name} ({self.done} of {len(self.items)} already done)"


def plan_generation(config: GenerateConfig) -> GenerationPlan:
    """What generating would do, reading what is there and writing or calling nothing.

    Args:
        config: the generate configuration.
    """
    model = resolve_model(config)
    items = _items(config)
    digest = settings_hash(model, items)
    if _complete_with(config.output, digest):
        return GenerationPlan(model, items, len(items))
    check_not_retired(model)
    partial = _Partial(config.output.with_name(config.output.name + ".partial.jsonl"), digest)
    done = partial.load(create=False)
    return GenerationPlan(model, items, sum(it.instruction in done for it in items))


def prepare_generation(config: GenerateConfig) -> GenerationJob | GenerateRun:
    """The job of generating what is missing, or the finished run when complete outputs with the same settings
    already exist.

    Args:
        config: the generate configuration.
    """
    model = resolve_model(config)
    partial = config.output.with_name(config.output.name + ".partial.jsonl")
    check_destinations([config.output, _sidecar(config.output), partial], [local_eval_set(config.eval_set)])
    items = _items(config)
    digest = settings_hash(model, items)
    run = GenerateRun(model.name, config.output)
    if _complete_with(config.output, digest):
        run.reused = True
        return run
    check_not_retired(model)
    note = reasoning_note(model)
    if note is not None:
        run.notes.append(note)
    partial_file = _Partial(partial, digest)
    done = partial_file.load()
    run.resumed = len(done)
    todo = [GenerationRequest(i, it.instruction, messages_for(model, it.instruction))
            for i, it in enumerate(items) if it.instruction not in done]  # fmt: skip
    progress = Progress(len(todo), f"generating {model.name}", "answer", config.progress)
    return GenerationJob(config, model, items, digest, run, partial_file, done, todo, progress)


def finish_generation(job: GenerationJob) -> GenerateRun:
    """Write `model_outputs.json` and its sidecar atomically once every answer is in; exit 3 otherwise."""
    job.progress.close()
    run = job.run
    run.seconds = time.perf_counter() - job.started
    if run.failures:
        causes = ", ".join(
            f"{k} {v} (first: {run.failure_samples.get(k, '')})" for k, v in sorted(run.failures.items())
        )
        raise IncompleteError(f"{sum(run.failures.values())} of {len(job.items)} generations failed ({causes}); "
                              f"finished ones are kept in {job.partial.path}, re-run to generate the rest")  # fmt: skip
    records = [job.done[it.instruction] for it in job.items]
    write_outputs(job.config, records, [it.uid for it in job.items], run)
    write_json(_sidecar(job.config.output), _metadata(job.model, records, job.digest, run))
    job.partial.path.unlink(missing_ok=True)
    return run


def write_outputs(config: GenerateConfig, records: list[dict[str, Any]], uids: list[str], run: GenerateRun) -> None:
    """Write the outputs in the configured format: AlpacaEval's model_outputs.json, or Arena-Hard-Auto's answer
    lines (with their style metadata when tiktoken's gpt-4o encoding can be had; else without, said)."""
    if config.answer_format == "alpaca_eval":
        write_json(config.output, records)
        return
    if not all(uids):
        raise InputError("Arena-Hard-Auto answers need its eval set (question.jsonl, prompts named by uid)",
                         path=local_eval_set(config.eval_set))  # fmt: skip
    try:
        tokens: Encode | None = gpt4o_tokens()
    except InputError:
        tokens = None
        run.notes.append("answers written without style metadata: tiktoken's gpt-4o encoding cannot be had (offline?); "
                         "`leaderboard --control` computes it given --tiktoken-file")  # fmt: skip
    lines = answer_records(records, uids, tokens, time.time())
    write_atomic(config.output, lambda fh: fh.writelines(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))


def run_generate(config: GenerateConfig) -> GenerateRun:
    """Generate the missing outputs, then write `model_outputs.json` and its sidecar atomically.

    Args:
        config: the generate configuration.
    """
    return run_generate_many([config])[0]


def run_generate_many(
    configs: list[GenerateConfig], on_done: Callable[[GenerateRun], None] = lambda run: None
) -> list[GenerateRun]:
    """Generate several models' outputs: vLLM models on Ray side by side (when asked, or with data
    parallelism), the others one after another here. `on_done` gets each model's finished run as soon as its
    outputs are written, while others may still generate.

    Args:
        configs: one per model (each with its own output path).
        on_done: called with each model's run when its outputs are complete.
    """
    from alpaca_lc.generation.ray_backend import RayJob, generate_on_ray

    prepared = [prepare_generation(c) for c in configs]  # everything read and checked before any work
    runs: dict[int, GenerateRun] = {}

    def finished(i: int, job: GenerationJob) -> None:
        runs[i] = finish_generation(job)
        on_done(runs[i])

    ray_jobs = []
    for i, job in enumerate(prepared):
        if isinstance(job, GenerateRun):
            runs[i] = job
            on_done(job)
        elif job.on_ray():
            ray_jobs.append(RayJob(job.model, job.todo, job.on_result, functools.partial(finished, i, job)))
        else:
            _generate_here(job)
            finished(i, job)
    if ray_jobs:
        address = next((c.ray for c in configs if c.ray is not None), "local")
        generate_on_ray(ray_jobs, address)
    return [runs[i] for i in range(len(configs))]


def _generate_here(job: GenerationJob) -> None:
    config = job.config
    if job.todo:
        client = ClientSettings(
            concurrency=config.concurrency, timeout=config.timeout, max_attempts=config.max_attempts,
            tpm=config.tpm, rpm=config.rpm, stall_timeout=config.stall_timeout,
        )  # fmt: skip
        load_backend(job.model.backend)(job.model, client).generate(job.todo, job.on_result)


def _record(result: Generation, item: EvalItem, name: str) -> dict[str, Any]:
    record = {"instruction": item.instruction, "output": result.output.strip(), "generator": name,
              "dataset": item.dataset, "finish_reason": result.finish_reason,
              "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens}  # fmt: skip
    if result.reasoning is not None:
        record["reasoning"] = result.reasoning
        record["reasoning_unclosed"] = result.unclosed
    return record


def _sidecar(output: Path) -> Path:
    return output.with_name(output.stem + ".meta.json")


def _complete_with(output: Path, digest: str) -> bool:
    try:
        return bool(json.loads(_sidecar(output).read_text())["settings_hash"] == digest) and output.exists()
    except (OSError, ValueError, KeyError):
        return False


def _metadata(model: ModelConfig, records: list[dict[str, Any]], digest: str, run: GenerateRun) -> dict[str, Any]:
    versions = {"alpaca_lc": __version__, "python": platform.python_version()}
    for package in ("openai", "vllm"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "generator": model.name, "backend": model.backend, "model": model.model_dump(), "settings_hash": digest,
        "versions": versions,
        "counts": {"instructions": len(records), "empty": sum(not r["output"] for r in records),
                   "truncated": sum(r["finish_reason"] == "length" for r in records),
                   "thoughts": sum("reasoning" in r for r in records),
                   "unclosed_thoughts": sum(bool(r.get("reasoning_unclosed")) for r in records)},
        "tokens": {"prompt": sum(r["prompt_tokens"] for r in records),
                   "completion": sum(r["completion_tokens"] for r in records)},
        "seconds": run.seconds, "generated_now": run.generated, "resumed": run.resumed,
    }  # fmt: skip


@dataclass
class _Partial:
    """Finished generations of an interrupted run: a JSONL file, one line flushed per generation."""

    path: Path
    digest: str

    def load(self, create: bool = True) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.write_text(json.dumps({"settings_hash": self.digest}) + "\n", encoding="utf-8")
            return {}
        lines = self.path.read_text(encoding="utf-8").split("\n")  # U+2028 in an output is no line end
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("settings_hash") != self.digest:
            if not any(line.strip() for line in lines[1:]) and create:  # nothing kept: nothing to lose
                self.path.write_text(json.dumps({"settings_hash": self.digest}) + "\n", encoding="utf-8")
                return {}
            raise InputError("holds outputs made with other settings: delete it, or re-run with the same settings",
                             path=self.path)  # fmt: skip
        done = {}
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash: that instruction is generated again
            done[record["instruction"]] = record
        return done

    def append(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
