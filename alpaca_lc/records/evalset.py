"""The eval set (805 AlpacaEval instructions) with the baseline's outputs.

Resolution order: an explicit path, then `ALPACA_LC_EVAL_SET`, then the public `tatsu-lab/alpaca_eval`
dataset on the Hugging Face hub, whose raw JSON file is downloaded with `huggingface_hub` (and cached by
it). AlpacaEval's own dataset loading script no longer runs under recent `datasets`, so it is not used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alpaca_lc.errors import InputError
from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.records.table import instruction_key

logger = logging.getLogger(__name__)

ENV_EVAL_SET = "ALPACA_LC_EVAL_SET"
HUB_REPO = "tatsu-lab/alpaca_eval"
HUB_EVAL_FILE = "alpaca_eval_gpt4_baseline.json"


@dataclass(frozen=True)
class EvalItem:
    """One instruction of the eval set and the baseline's answer to it."""

    instruction: str
    output: str
    generator: str
    dataset: str
    uid: str = ""  # an Arena-Hard-Auto prompt's uid (its eval set names prompts by uid)


@dataclass(frozen=True)
class EvalSet:
    """The ordered eval set; `source` says where it was read from."""

    items: tuple[EvalItem, ...]
    source: str

    @property
    def instructions(self) -> list[str]:
        """Instruction texts in eval-set order."""
        return [item.instruction for item in self.items]

    @property
    def keys(self) -> list[str]:
        """Instruction keys (`records.table.instruction_key`) in eval-set order."""
        return [instruction_key(item.instruction) for item in self.items]


ALPACA_EVAL_SEED = 123  # AlpacaEval 0.6.6's seed for shuffling both sides before taking `max_instances`


def shuffled_head(n: int, max_instances: int) -> list[int]:
    """The positions AlpacaEval 0.6.6 judges for `--max_instances N` when the model's outputs and the reference
    have the same length `n`: both shuffled with `sample(frac=1, random_state=123)` (one permutation for
    both), then the first N, in that order. (For files of unequal length it takes the first N.)

    Args:
        n: the records on each side.
        max_instances: N.
    """
    import numpy as np  # pandas' sample(frac=1) is RandomState.choice without replacement: this permutation

    return [int(i) for i in np.random.RandomState(ALPACA_EVAL_SEED).permutation(n)[:max_instances]]


def read_eval_set(path: Path) -> EvalSet:
    """Read an eval set from a JSON list or JSONL file: AlpacaEval's (`instruction`, `output`, `generator`,
    `dataset`) or Arena-Hard-Auto's `question.jsonl` (`uid`, `category`, `prompt`: the prompt is the instruction,
    the category its dataset, and there is no baseline output in it).

    Args:
        path: the file; `output` and `generator` may be absent when only instructions are needed.
    """
    records = read_json_records(path)
    arena = "instruction" not in records[0] and {"uid", "prompt"} <= set(records[0])
    items = []
    seen: set[str] = set()
    for i, rec in enumerate(records, start=1):
        item = _arena_item(rec, path, i) if arena else _item(rec, path, i)
        if item.instruction in seen:
            raise InputError("duplicate instruction in the eval set", path=path, record=i)
        seen.add(item.instruction)
        items.append(item)
    return EvalSet(tuple(items), str(path))


def _item(rec: dict[str, Any], path: Path, record: int) -> EvalItem:
    instruction = rec.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        raise InputError("missing field 'instruction' (a non-empty string)", path=path, record=record)
    output = rec.get("output")
    generator, dataset = str(rec.get("generator") or "reference"), str(rec.get("dataset") or "")
    return EvalItem(instruction, output if isinstance(output, str) else "", generator, dataset)


def _arena_item(rec: dict[str, Any], path: Path, record: int) -> EvalItem:
    fields = {k: rec.get(k) for k in ("uid", "category", "prompt")}
    bad = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise InputError(f"missing field '{bad[0]}' (a non-empty string) of an Arena-Hard-Auto question", path=path,
                         record=record)  # fmt: skip
    return EvalItem(instruction=str(fields["prompt"]), output="", generator="", dataset=str(fields["category"]),
                    uid=str(fields["uid"]))  # fmt: skip


def local_eval_set(path: Path | None = None) -> Path | None:
    """The local eval-set file a command reads (the given one, else `$ALPACA_LC_EVAL_SET`), None for the hub's."""
    env = os.environ.get(ENV_EVAL_SET)
    return path if path is not None else Path(env) if env else None


def load_eval_set(path: Path | None = None) -> EvalSet:
    """Load the eval set from `path`, else `$ALPACA_LC_EVAL_SET`, else the Hugging Face hub.

    Args:
        path: an explicit local file.
    """
    local = local_eval_set(path)
    return read_eval_set(local if local is not None else download_from_hub(HUB_EVAL_FILE))


def download_from_hub(filename: str, instead: str = f"--eval-set PATH or ${ENV_EVAL_SET}") -> Path:
    """One file of the public AlpacaEval dataset on the hub: the hub client's cached copy when there is one (the
    files are frozen releases, so a command neither waits on the network nor sees numbers move), else a
    download, refused at once when the hub's host cannot even be resolved (offline) rather than after the hub
    client's retries, which take about 25 s.

    Args:
        filename: path of the file inside the `tatsu-lab/alpaca_eval` dataset repository.
        instead: how to give a local copy instead (said when the file cannot be had).
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    def failed(reason: str) -> InputError:
        return InputError(
            f"cannot fetch {HUB_REPO}/{filename} from the Hugging Face hub ({reason}); "
            f"pass a local copy instead ({instead})",
            path=filename,
        )

    try:
        return Path(hf_hub_download(repo_id=HUB_REPO, filename=filename, repo_type="dataset", local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    host = urlsplit(constants.ENDPOINT).hostname or ""
    if not constants.HF_HUB_OFFLINE and not _resolvable(host):
        raise failed(f"{host} cannot be resolved: offline?")
    try:
        local = hf_hub_download(repo_id=HUB_REPO, filename=filename, repo_type="dataset")
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise failed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    logger.info("downloaded %s from the hub: %s", filename, local)
    return Path(local)


def _resolvable(host: str) -> bool:
    """Whether the host has an address (always assumed behind a proxy, which resolves it itself)."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    try:
        import socket  # here: only a hub lookup needs it

        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True
