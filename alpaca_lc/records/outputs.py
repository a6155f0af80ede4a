"""Model outputs: `model_outputs.json` (or JSONL), what `generate` writes and `annotate` reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alpaca_lc.errors import InputError
from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.records.table import require_str
from alpaca_lc.records.thinking import DEFAULT_TAGS, Split, split_thought


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
    """One line of `model_outputs.json`: `output` is the answer, any thought apart (`records.thinking`)."""

    instruction: str
    output: str
    generator: str
    dataset: str | None = None
    thought: str | None = None  # split off the output read (its `reasoning` field holds one written apart)
    unclosed: bool = False  # the thought never closed: no answer


@dataclass(frozen=True)
class Thinking:
    """How many outputs of a file held a thought that was split off, and how many thoughts never closed."""

    stripped: int
    unclosed: int

    def notes(self, path: Path) -> list[str]:
        """What the user must be told."""
        notes = []
        if self.stripped:
            notes.append(f"{path}: {self.stripped} outputs held a thought (think tags): only the answer after it is "
                         "judged and length-controlled (--keep-thinking judges the whole text)")  # fmt: skip
        if self.unclosed:
            notes.append(f"{path}: {self.unclosed} outputs' thought never closed: no answer came, they are judged "
                         "as empty answers")  # fmt: skip
        return notes


def thinking_of(outputs: Sequence[ModelOutput]) -> Thinking:
    """The thoughts split off a file's outputs as it was read."""
    return Thinking(sum(o.thought is not None for o in outputs), sum(o.unclosed for o in outputs))


def read_model_outputs(path: Path, *, name: str | None = None, tags: tuple[str, str] | None = DEFAULT_TAGS
                       ) -> list[ModelOutput]:  # fmt: skip
    """Read `model_outputs.json` (or JSONL): `instruction`, `output`, optional `generator`, `dataset`; an output that
    holds a thought between `tags` is read as its answer, the thought apart.

    Args:
        path: the file.
        name: the generator name to use; defaults to the records' `generator`, else the file's stem.
        tags: the think tags (None: outputs are taken whole, `--keep-thinking`).
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
        split = split_thought(output, tags) if tags is not None else Split(output, None)
        outputs.append(ModelOutput(instruction, split.answer, str(generator), dataset if isinstance(dataset, str)
                                   else None, split.thought, split.unclosed))  # fmt: skip
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
