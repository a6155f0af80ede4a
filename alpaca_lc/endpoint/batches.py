"""The Batch API through the `openai` client: requests in a JSONL file, one batch job per file, answers read back
from its output and error files.

OpenAI, Azure OpenAI, Together and others serve this API, at half the live price, within 24 hours, in a pool that
does not count against the live rate limits; `vllm run-batch` reads the same file. Each line's body is the live
request's body (`calls.chat_body`), so a batch judgment and a live one of the same request are one judgment.
A file holds at most 50,000 requests and 200 MB: more is split into several batches.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

import openai

from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.client import api_key, cause_of, server_wait
from alpaca_lc.errors import IncompleteError

MAX_REQUESTS = 50_000
MAX_BYTES = 200 * 1024**2
CHAT: Final[Literal["/v1/chat/completions"]] = "/v1/chat/completions"
TERMINAL = ("completed", "expired", "cancelled", "failed")


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch: its id in the file (the judgment's cache key) and its body."""

    custom_id: str
    body: dict[str, Any]

    def encoded(self) -> bytes:
        line = {"custom_id": self.custom_id, "method": "POST", "url": CHAT, "body": self.body}
        return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass(frozen=True)
class BatchState:
    """A batch as the API reports it."""

    id: str
    status: str
    total: int
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None
    errors: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class LineAnswer:
    """One line's outcome: the response body of an answered request, or why it failed."""

    custom_id: str
    body: dict[str, Any] | None
    error: str | None


def split(lines: Iterable[BatchLine], max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES
          ) -> list[list[BatchLine]]:  # fmt: skip
    """The lines cut into files that the API accepts (at most `max_requests` lines and `max_bytes` each)."""
    files: list[list[BatchLine]] = [[]]
    size = 0
    for line in lines:
        n = len(line.encoded())
        if files[-1] and (len(files[-1]) >= max_requests or size + n > max_bytes):
            files.append([])
            size = 0
        files[-1].append(line)
        size += n
    return [f for f in files if f]


class BatchGone(IncompleteError):
    """The endpoint does not know a batch the cache recorded (deleted, or another endpoint's)."""


@contextlib.contextmanager
def _one_line(what: str) -> Iterator[None]:
    """An API error as one line (exit 3): submitted batches are recorded, so a re-run picks them up."""
    try:
        yield
    except openai.NotFoundError as exc:
        raise BatchGone(f"{what}: not found ({exc.message})") from None
    except openai.APIError as exc:
        raise IncompleteError(f"{what} failed ({cause_of(exc)}): {exc.message}; what was submitted is recorded in "
                              "the cache, re-run to collect it") from None  # fmt: skip


class BatchClient:
    """Uploads, creates, polls and reads batches on one endpoint."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60.0, stall_timeout: float = 300.0) -> None:
        self._openai = openai.OpenAI(api_key=api_key(endpoint), base_url=endpoint.base_url, timeout=timeout,
                                     max_retries=3)  # fmt: skip
        self._stall_timeout = stall_timeout

    def upload(self, lines: list[BatchLine]) -> str:
        """Upload the lines as a batch input file; its id."""
        content = b"".join(line.encoded() for line in lines)
        with _one_line("uploading a batch file"):
            return str(self._openai.files.create(file=("batch.jsonl", content), purpose="batch").id)

    def create(self, input_file_id: str, metadata: dict[str, str]) -> BatchState:
        """Create a batch over an uploaded file; a 429 (the enqueued-token limit) is waited out like a live one,
        up to the stall timeout."""
        start, waited = time.monotonic(), 1.0
        while True:
            with _one_line(f"creating a batch over {input_file_id}"):
                try:
                    return _state(self._openai.batches.create(input_file_id=input_file_id, endpoint=CHAT,
                                                              completion_window="24h", metadata=metadata))  # fmt: skip
                except openai.RateLimitError as exc:  # the enqueued-token limit: waited out as a live 429 is
                    if time.monotonic() - start > self._stall_timeout:
                        raise IncompleteError(f"the endpoint refused new batches for {self._stall_timeout:.0f} s "
                                              f"({cause_of(exc)}): {exc.message}") from None  # fmt: skip
                    time.sleep(server_wait(exc.response.headers, exc.message) or waited)
                    waited = min(waited * 2, 60.0)

    def find(self, input_file_id: str) -> BatchState | None:
        """The batch created over this input file, if one was (a command killed between creating a batch and
        recording it finds it here)."""
        with _one_line("listing batches"):
            for batch in self._openai.batches.list(limit=100):
                if batch.input_file_id == input_file_id:
                    return _state(batch)
        return None

    def state(self, batch_id: str) -> BatchState:
        """The batch's status and counts now."""
        with _one_line(f"batch {batch_id}"):
            return _state(self._openai.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchState:
        """Ask the API to stop the batch (what it answered is kept)."""
        with _one_line(f"cancelling batch {batch_id}"):
            return _state(self._openai.batches.cancel(batch_id))

    def answers(self, state: BatchState) -> list[LineAnswer]:
        """Every line of the output and error files."""
        found = []
        for file_id in (state.output_file_id, state.error_file_id):
            if file_id:
                with _one_line(f"reading batch {state.id}'s results"):
                    text = self._openai.files.content(file_id).text
                # JSONL lines end at "\n" alone: U+2028 inside an answer is not a line end
                found += [_answer(json.loads(raw)) for raw in text.split("\n") if raw.strip()]
        return found

    def close(self) -> None:
        self._openai.close()


def _state(batch: Any) -> BatchState:
    counts = batch.request_counts
    errors = tuple(f"{e.code}: {e.message}" for e in (batch.errors.data if batch.errors and batch.errors.data else []))
    return BatchState(str(batch.id), str(batch.status), int(counts.total if counts else 0),
                      int(counts.completed if counts else 0), int(counts.failed if counts else 0),
                      batch.output_file_id, batch.error_file_id, errors)  # fmt: skip


def _answer(line: dict[str, Any]) -> LineAnswer:
    response, error = line.get("response") or {}, line.get("error")
    if error:
        return LineAnswer(str(line.get("custom_id")), None, f"{error.get('code')}: {error.get('message')}")
    if response.get("status_code") != 200 or not isinstance(response.get("body"), dict):
        detail = ((response.get("body") or {}).get("error") or {}).get("message", "")
        return LineAnswer(str(line.get("custom_id")), None, f"status {response.get('status_code')}: {detail}")
    return LineAnswer(str(line.get("custom_id")), response["body"], None)
