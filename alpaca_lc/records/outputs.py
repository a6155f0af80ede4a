"""Model outputs: `model_outputs.json` (or JSONL), what `generate` writes and `annotate` reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alpaca_lc.errors import InputError
from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.records.table import require_str


@dataclass(frozen=True)
class Coverage:
    """How many of the eval set's instructions a model's outputs cover, and what allowed a partial run (an option
    the user gave: `--max-instances N`, `--subset NAME`, `--allow-partial`; "" when none was needed)."""

    covered: int
    total: int
    allowed_by: str = ""

    @property
    def partial(self) -> bool:
        return self.covered < self.total

    def describe(self) -> str:
        """E.g. "50 of 805 instructions of the eval set (--max-instances 50)"."""
        why = f" ({self.allowed_by})" if self.allowed_by else ""
        return f"{self.covered} of {self.total} instructions of the eval set{why}"


@dataclass(frozen=True)
class ModelOutput:
    """One line of `model_outputs.json`."""

    instruction: str
    output: str
    generator: str
    dataset: str | None = None


def read_model_outputs(path: Path, *, name: str | None = None) -> list[ModelOutput]:
    """Read `model_outputs.json` (or JSONL): `instruction`, `output`, optional `generator`, `dataset`.

    Args:
        path: the file.
        name: the generator name to use; defaults to the records' `generator`, else the file's stem.
    """
    records = read_json_records(path)
    outputs: list[ModelOutput] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(records, start=1):
        instruction = require_str(rec, "instruction", path, i)
        output = rec.get("output")
        if not isinstance(output, str):
            raise InputError("missing field 'output' (a string)", path=path, record=i)
        if instruction in seen:
            raise InputError(f"duplicate instruction (first at record {seen[instruction]})", path=path, record=i)
        seen[instruction] = i
        generator = name or rec.get("generator") or path.stem
        dataset = rec.get("dataset")
        outputs.append(ModelOutput(instruction, output, str(generator), dataset if isinstance(dataset, str) else None))
    return outputs


def read_outputs_by_model(paths: Sequence[Path]) -> dict[str, tuple[Path, list[ModelOutput]]]:
    """Several models' outputs files, by model name (the records' `generator`, else the file's stem), each with
    its file; two files of one model are an error."""
    found: dict[str, tuple[Path, list[ModelOutput]]] = {}
    for path in paths:
        outputs = read_model_outputs(path)
        name = outputs[0].generator if outputs else path.stem
        if name in found:
            raise InputError(f"model {name!r} is also in {found[name][0]}", path=path)
        found[name] = (path, outputs)
    return found
