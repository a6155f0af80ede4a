"""Generation on Ray: vLLM replicas as Ray actors, placed on GPUs by Ray, fed chunks by the driver.

Each (model, replica) is an actor reserving its model's `tensor_parallel_size` GPUs (Ray sets its
CUDA_VISIBLE_DEVICES); an engine bigger than one GPU group (`pipeline_parallel_size` > 1) gets a placement
group of tensor x pipeline GPU bundles and vLLM's own Ray executor, which may span nodes. The driver keeps a
queue of chunks per model and one chunk in flight per replica; results stream back to it and only it writes
files (the partial file, then the outputs), so a replica that dies can never leave a half-written file. A
dead replica is restarted by Ray and its chunk retried (`max_restarts`, `max_task_retries`): it loses at most
that chunk. A model's replicas are released as soon as its last chunk is back, so the next model's can start.

`local` starts a private Ray instance for this run and stops only it (`ray.shutdown`; never `ray stop`); on a
machine without GPUs `ALPACA_LC_RAY_NUM_GPUS=N` declares N logical GPUs to it. `auto` or an address joins an
existing cluster and leaves it running. This module imports ray only when called; vLLM itself is imported only
by `vllm_backend`, inside the actors.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from alpaca_lc.errors import IncompleteError, UsageError
from alpaca_lc.generation.base import Generation, GenerationRequest, OnResult
from alpaca_lc.generation.models import ModelConfig

logger = logging.getLogger(__name__)

ENV_NUM_GPUS = "ALPACA_LC_RAY_NUM_GPUS"
INSTALL = "pip install 'alpaca-lc[ray]'"
CHUNK = 128  # prompts per chunk: enough for vLLM to batch, small enough that a dead replica loses little
RETRIES = 3


def import_ray() -> Any:
    """The ray module, or a one-line usage error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(f"--ray (and --data-parallel-size above 1) needs Ray: {INSTALL}") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Ray for the duration of the block: a private local instance (`local`), or an existing cluster.

    Args:
        address: "local", "auto", or a cluster address ("ray://head:10001", "head:6379").
    """
    ray = import_ray()
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address == "local":
        gpus = os.environ.get(ENV_NUM_GPUS)
        try:
            options["num_gpus"] = int(gpus) if gpus else None
        except ValueError:
            raise UsageError(f"${ENV_NUM_GPUS} must be a whole number of GPUs, got {gpus!r}") from None
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UsageError(f"cannot reach the Ray cluster at {address!r}: {str(exc).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()  # a local instance started here is stopped; a cluster is only disconnected from


class Replica:
    """One vLLM engine inside a Ray actor."""

    def __init__(self, config_json: str, engine_extra: dict[str, Any]) -> None:
        from alpaca_lc.generation.vllm_backend import VLLMEngine

        self.engine = VLLMEngine(ModelConfig.model_validate_json(config_json), engine_extra)

    def generate(self, chunk: list[GenerationRequest]) -> list[Generation]:
        """Answers to one chunk."""
        return self.engine.generate(chunk)


@dataclass
class RayJob:
    """One model's generation: its config, the requests still to answer, and where answers go."""

    config: ModelConfig
    requests: list[GenerationRequest]
    on_result: OnResult
    on_done: Callable[[], None] = lambda: None
    chunks: collections.deque[list[GenerationRequest]] = field(default_factory=collections.deque)
    replicas: list[Any] = field(default_factory=list)
    placement_groups: list[Any] = field(default_factory=list)
    in_flight: int = 0


def generate_on_ray(jobs: list[RayJob], address: str) -> None:
    """Generate every job's requests on Ray, models side by side as GPUs allow; each job's `on_done` runs when
    its last answer is back (so its judging can start while others still generate).

    Args:
        jobs: one per model.
        address: see `ray_session`.
    """
    with ray_session(address) as ray:
        pending: dict[Any, tuple[RayJob, Any]] = {}

        def submit(job: RayJob, replica: Any) -> None:
            if job.chunks:
                job.in_flight += 1
                pending[replica.generate.remote(job.chunks.popleft())] = (job, replica)

        for job in jobs:
            job.chunks.extend(job.requests[i : i + CHUNK] for i in range(0, len(job.requests), CHUNK))
            if not job.chunks:
                job.on_done()
                continue
            for _ in range(min(job.config.engine.data_parallel_size, len(job.chunks))):
                job.replicas.append(_start_replica(ray, job))
                submit(job, job.replicas[-1])
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job, replica = pending.pop(ref)
            job.in_flight -= 1
            try:
                answers = ray.get(ref)
            except ray.exceptions.RayError as exc:  # retried RETRIES times already: give up, keep what is saved
                _release(ray, jobs)
                message = str(exc).strip().splitlines()[-1][:300]
                raise IncompleteError(
                    f"a vLLM replica of {job.config.name} failed {RETRIES + 1} times: {message}; finished "
                    "generations are saved, re-run to generate the rest"
                ) from None
            for answer in answers:
                job.on_result(answer)
            submit(job, replica)
            if not job.chunks and not job.in_flight:
                _release(ray, [job])
                job.on_done()


def _start_replica(ray: Any, job: RayJob) -> Any:
    """An actor for one replica of the job's model, with the GPUs its engine needs."""
    engine = job.config.engine
    tp, pp = engine.tensor_parallel_size, engine.pipeline_parallel_size
    options: dict[str, Any] = {"num_cpus": 0, "max_restarts": RETRIES, "max_task_retries": RETRIES}
    extra: dict[str, Any] = {}
    if pp == 1:
        options["num_gpus"] = tp  # one node's GPUs: Ray sets CUDA_VISIBLE_DEVICES, vLLM's own workers use them
    else:  # tensor x pipeline parallel, possibly across nodes: vLLM's Ray executor inside a placement group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = ray.util.placement_group([{"GPU": 1, "CPU": 0.01}] * (tp * pp), strategy="PACK")
        job.placement_groups.append(group)
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
            group, placement_group_capture_child_tasks=True
        )
        options["num_gpus"] = 0
        extra["distributed_executor_backend"] = "ray"
    actor = ray.remote(Replica).options(**options)
    return actor.remote(job.config.model_dump_json(), extra)


def _release(ray: Any, jobs: list[RayJob]) -> None:
    """Stop the jobs' replicas and free their GPUs."""
    for job in jobs:
        for replica in job.replicas:
            with contextlib.suppress(Exception):
                ray.kill(replica)
        for group in job.placement_groups:
            with contextlib.suppress(Exception):
                ray.util.remove_placement_group(group)
        job.replicas, job.placement_groups = [], []
