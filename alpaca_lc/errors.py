"""One exception hierarchy; the CLI maps each to a one-line message and an exit code."""

from __future__ import annotations

from pathlib import Path


class AlpacaLCError(Exception):
    """Base of every error a user can cause or meet. Exit code 2 unless a subclass says otherwise."""

    exit_code = 2


class InputError(AlpacaLCError):
    """A bad input file or record: names the file and, where there is one, the record (1-based)."""

    def __init__(self, message: str, *, path: Path | str | None = None, record: int | None = None) -> None:
        self.path = path
        self.record = record
        message = " ".join(message.split())  # always one line, whatever a library's message looked like
        where = []
        if path is not None:
            where.append(str(path))
        if record is not None:
            where.append(f"record {record}")
        self.detail = message
        super().__init__(": ".join([*where, message]))


class ParseError(AlpacaLCError):
    """A model's response has no usable answer (missing logprobs, neither label, not JSON); retried as a fault.
    `billed`: the prompt and completion tokens the answer reported (it is paid for all the same)."""

    billed: tuple[int, int] | None = None


class LengthCut(ParseError):
    """No answer: the completion limit was used up (by a reasoning model's hidden reasoning, usually) before it.
    Asking again with the same limit gets the same: not retried."""


class UsageError(AlpacaLCError):
    """A bad combination of options or settings."""


class IncompleteError(AlpacaLCError):
    """Work that could not be finished because of the judge or the endpoint (exit 3)."""

    exit_code = 3


class ModelNotFound(IncompleteError):
    """The endpoint has no such model (404 `model_not_found`): retired, misspelled, or not served there."""

    def __init__(self, message: str, model: str) -> None:
        super().__init__(message)
        self.model = model


class BatchSubmitted(AlpacaLCError):
    """Judgments were submitted as batches and are not all answered yet (`--no-wait`): exit 4. Re-running the
    same command collects what has finished."""

    exit_code = 4

    def __init__(self, message: str, batch_ids: list[str]) -> None:
        super().__init__(message)
        self.batch_ids = batch_ids
