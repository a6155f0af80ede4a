"""The Files and Batches endpoints of the local OpenAI server: upload a JSONL file of requests, create a batch
over it, and collect its output and error files, as OpenAI's Batch API (and `vllm run-batch`'s format) has it.

A batch is `validating`, then `in_progress` (its `request_counts.completed` growing), then `completed` after
`batch_delay_s`. Each line is answered as `POST /v1/chat/completions` would answer it (same verdict, same usage),
and is counted in `/stats` as `batch_answered` (what a provider bills). Faults, all switchable at run time:

- `batch_error_rate`: a share of lines answered in the error file (status 500), and `batch_missing_rate` a share
  missing from both files; each line fails at most once, like a transient fault, so a resubmission answers it;
- `batch_expire_after`: a batch of more lines than this answers that many and ends `expired`;
- `batch_invalid`: every batch fails validation (`failed`, with this message in `errors`);
- `POST /v1/batches/{id}/cancel` ends a batch `cancelled`, keeping what it answered so far;
- `batch_enqueued_tokens`: creating a batch whose tokens, with those of batches still running, pass this limit
  answers 429 `token_limit_exceeded` (OpenAI's enqueued-token limit).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CHAT = "/v1/chat/completions"
_RUNNING = ("validating", "in_progress", "finalizing", "cancelling")


@dataclass
class _Batch:
    id: str
    input_file_id: str
    lines: list[dict[str, Any]]
    created: float
    metadata: dict[str, Any]
    tokens: int
    status: str = "validating"
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    ended: float | None = None

    def view(self, delay: float) -> dict[str, Any]:
        done = self.completed + self.failed
        if self.status in _RUNNING and self.status != "cancelling":
            done = int(len(self.lines) * min(1.0, (time.time() - self.created) / max(delay, 1e-9)))
        return {
            "id": self.id, "object": "batch", "endpoint": CHAT, "input_file_id": self.input_file_id,
            "completion_window": "24h", "status": self.status, "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "created_at": int(self.created), "metadata": self.metadata,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "request_counts": {"total": len(self.lines), "completed": min(done, len(self.lines)) - self.failed,
                               "failed": self.failed},
        }  # fmt: skip


@dataclass
class BatchStore:
    """Uploaded files and batches of one server."""

    files: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)  # id: content, purpose, filename
    batches: dict[str, _Batch] = field(default_factory=dict)
    failed_once: set[str] = field(default_factory=set)

    def add_file(self, content: bytes, purpose: str, filename: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1:06d}"
        self.files[file_id] = (content, purpose, filename)
        return {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose}  # fmt: skip


def routes(app: web.Application, complete: Callable[[dict[str, Any], Any], dict[str, Any]],
           refuse: Callable[[dict[str, Any], Any], tuple[int, dict[str, Any]] | None]) -> None:  # fmt: skip
    """Add the Files and Batches endpoints to the server's application; `complete(body, settings)` answers one
    request as the chat-completions endpoint does, `refuse(body, settings)` refuses it as that endpoint would
    (status and body; a batch answers such a line in its error file)."""
    app["batches"] = BatchStore()
    app["complete"] = complete
    app["refuse"] = refuse
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/files", _upload)
        app.router.add_get(f"{prefix}/files/{{file_id}}", _file)
        app.router.add_get(f"{prefix}/files/{{file_id}}/content", _content)
        app.router.add_post(f"{prefix}/batches", _create)
        app.router.add_get(f"{prefix}/batches", _list)
        app.router.add_get(f"{prefix}/batches/{{batch_id}}", _retrieve)
        app.router.add_post(f"{prefix}/batches/{{batch_id}}/cancel", _cancel)


def _error(status: int, message: str, code: str) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return web.json_response(body, status=status)


async def _upload(request: web.Request) -> web.Response:
    store: BatchStore = request.app["batches"]
    form = await request.post()
    upload, purpose = form.get("file"), str(form.get("purpose", ""))
    if not isinstance(upload, web.FileField):
        return _error(400, "a multipart 'file' is required", "invalid_file")
    request.app["state"].counts["files"] += 1
    return web.json_response(store.add_file(upload.file.read(), purpose, str(upload.filename)))


async def _file(request: web.Request) -> web.Response:
    store: BatchStore = request.app["batches"]
    found = store.files.get(request.match_info["file_id"])
    if found is None:
        return _error(404, "No such File object", "not_found")
    return web.json_response({"id": request.match_info["file_id"], "object": "file", "bytes": len(found[0]),
                              "purpose": found[1], "filename": found[2]})  # fmt: skip


async def _content(request: web.Request) -> web.Response:
    store: BatchStore = request.app["batches"]
    found = store.files.get(request.match_info["file_id"])
    if found is None:
        return _error(404, "No such File object", "not_found")
    return web.Response(body=found[0], content_type="application/octet-stream")


async def _create(request: web.Request) -> web.Response:
    state = request.app["state"]
    store: BatchStore = request.app["batches"]
    body = json.loads(await request.read() or b"{}")
    found = store.files.get(str(body.get("input_file_id")))
    if found is None:
        return _error(400, f"input file {body.get('input_file_id')} not found", "invalid_request_error")
    if body.get("endpoint") != CHAT or body.get("completion_window") != "24h":
        return _error(400, "endpoint must be /v1/chat/completions and completion_window 24h", "invalid_request_error")
    lines, problems = _parse(found[0])
    tokens = sum(_tokens(line.get("body", {})) for line in lines)
    limit = state.settings.batch_enqueued_tokens
    for other in store.batches.values():
        _advance(request.app, other)
    running = sum(b.tokens for b in store.batches.values() if b.status in _RUNNING)
    if limit and running + tokens > limit:
        state.counts["batch_429"] += 1
        message = (
            f"Enqueued token limit reached for {lines[0]['body'].get('model') if lines else 'local'}: "
            f"Limit {limit}, Enqueued {running}. Try again once some in_progress batches have been completed."
        )
        return web.json_response({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                            "code": "token_limit_exceeded"}}, status=429)  # fmt: skip
    batch = _Batch(f"batch_{len(store.batches) + 1:06d}", str(body["input_file_id"]), lines, time.time(),
                   dict(body.get("metadata") or {}), tokens)  # fmt: skip
    invalid = state.settings.batch_invalid
    if problems or invalid:
        batch.status, batch.ended = "failed", time.time()
        batch.errors = [{"code": "invalid_request", "message": m, "line": None} for m in problems or [invalid]]
    store.batches[batch.id] = batch
    state.counts["batches"] += 1
    return web.json_response(batch.view(state.settings.batch_delay_s))


def _parse(content: bytes) -> tuple[list[dict[str, Any]], list[str]]:
    lines, problems, seen = [], [], set()
    for i, raw in enumerate(content.decode("utf-8").split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            problems.append(f"line {i} is not JSON")
            continue
        if line.get("method") != "POST" or line.get("url") != CHAT or not isinstance(line.get("body"), dict):
            problems.append(f"line {i}: each request must be a POST to {CHAT} with a body")
        elif line.get("custom_id") in seen:
            problems.append(f"line {i}: duplicate custom_id {line.get('custom_id')!r}")
        seen.add(line.get("custom_id"))
        lines.append(line)
    return lines, problems


def _tokens(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1


async def _retrieve(request: web.Request) -> web.Response:
    state = request.app["state"]
    batch = request.app["batches"].batches.get(request.match_info["batch_id"])
    if batch is None:
        return _error(404, "No such Batch object", "not_found")
    _advance(request.app, batch)
    return web.json_response(batch.view(state.settings.batch_delay_s))


def _advance(app: web.Application, batch: _Batch) -> None:
    """Move a batch on as time passes: validating, in progress, then completed after the delay."""
    delay = app["state"].settings.batch_delay_s
    if batch.status == "validating" and time.time() - batch.created > min(0.1, delay / 4):
        batch.status = "in_progress"
    if batch.status == "in_progress" and time.time() - batch.created >= delay:
        _finish(app, batch, "completed", len(batch.lines))


async def _cancel(request: web.Request) -> web.Response:
    state = request.app["state"]
    batch = request.app["batches"].batches.get(request.match_info["batch_id"])
    if batch is None:
        return _error(404, "No such Batch object", "not_found")
    if batch.status in _RUNNING:
        done = batch.view(state.settings.batch_delay_s)["request_counts"]["completed"]
        _finish(request.app, batch, "cancelled", done)
    return web.json_response(batch.view(state.settings.batch_delay_s))


async def _list(request: web.Request) -> web.Response:
    state = request.app["state"]
    for batch in request.app["batches"].batches.values():
        _advance(request.app, batch)
    views = [b.view(state.settings.batch_delay_s) for b in request.app["batches"].batches.values()]
    return web.json_response({"object": "list", "data": views[::-1], "has_more": False})


def _finish(app: web.Application, batch: _Batch, status: str, answered: int) -> None:
    """Answer the batch's first `answered` lines (fewer if it expires), faults drawn per line, and end it."""
    state = app["state"]
    store: BatchStore = app["batches"]
    s = state.settings
    if s.batch_expire_after and len(batch.lines) > s.batch_expire_after and status == "completed":
        status, answered = "expired", s.batch_expire_after
    output: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for line in batch.lines[:answered]:
        custom_id = str(line.get("custom_id"))
        draw = _draw(s.seed, custom_id)
        first_time = custom_id not in store.failed_once
        if first_time and draw < s.batch_error_rate + s.batch_missing_rate:
            store.failed_once.add(custom_id)
            if draw < s.batch_error_rate:
                errors.append({"id": f"batch_req_{len(errors)}", "custom_id": custom_id, "error": None,
                               "response": {"status_code": 500, "request_id": "req-local",
                                            "body": {"error": {"message": "The server had an error while processing "
                                                     "your request.", "type": "server_error"}}}})  # fmt: skip
            continue
        body = line["body"]
        refused = app["refuse"](body, s)
        if refused is not None:
            errors.append(
                {
                    "id": f"batch_req_{len(errors)}",
                    "custom_id": custom_id,
                    "error": None,
                    "response": {"status_code": refused[0], "request_id": "req-local", "body": refused[1]},
                }
            )
            continue
        if s.record:
            with open(s.record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(body, ensure_ascii=False) + "\n")
        output.append({"id": f"batch_req_{len(output)}", "custom_id": custom_id, "error": None,
                       "response": {"status_code": 200, "request_id": "req-local",
                                    "body": app["complete"](body, s)}})  # fmt: skip
        state.counts["batch_answered"] += 1
    if output:
        batch.output_file_id = store.add_file(_jsonl(output), "batch_output", f"{batch.id}_output.jsonl")["id"]
    if errors:
        batch.error_file_id = store.add_file(_jsonl(errors), "batch_output", f"{batch.id}_error.jsonl")["id"]
    batch.status, batch.completed, batch.failed, batch.ended = status, len(output), len(errors), time.time()


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _draw(seed: int, custom_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{custom_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32
