"""Judging through the Batch API: the requests a run pays for go out as batch files, at the batch price.

Every batch is in the cache before anything waits on it: its input file and the keys it covers when the file is
uploaded, its id when it is created. A command killed at any point finds its batches again (by input file, if it
died before recording the id) and collects them; nothing is submitted twice. Each answer is committed under the
same key a live call of the same request would use. Lines a batch did not answer (in its error file, missing from
both files, or left by an `expired` or `cancelled` batch) go out again in a new batch, or live with
`--batch-fallback live`; a batch that fails validation stops the run with one line (exit 3).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING

from alpaca_lc.annotation.cache import BatchRecord, Judgment, JudgmentCache, Owner
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.parse import p_first_from_choice, preference_from_p_first
from alpaca_lc.endpoint.calls import base_url, chat_body, endpoint_identity
from alpaca_lc.errors import IncompleteError, ParseError
from alpaca_lc.progress import Progress

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from alpaca_lc.annotation.plan import AnnotateOptions, Planned, Tally
    from alpaca_lc.endpoint.batches import BatchClient, BatchState, LineAnswer

POLL_FIRST = 0.5  # seconds between polls at first; the wait grows 1.5x per poll up to POLL_MAX
POLL_MAX = 60.0
RESUBMISSIONS = 3  # rounds of resubmitting unanswered lines before they count as failed


class Batches:
    """One run's batches for one judge: submit requests, collect answers."""

    def __init__(self, judge: Judge, cache: JudgmentCache, options: AnnotateOptions, tally: Tally, owner: Owner):
        self.judge, self.cache, self.options, self.tally, self.owner = judge, cache, options, tally, owner
        self._client: BatchClient | None = None

    @property
    def client(self) -> BatchClient:
        if self._client is None:
            from alpaca_lc.endpoint.batches import BatchClient  # only a run that uses batches imports openai

            settings = self.options.client
            self._client = BatchClient(self.judge.endpoint, settings.timeout, settings.stall_timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def judge_requests(self, reqs: list[Planned], claim: float) -> tuple[dict[str, Judgment], list[str]]:
        """Submit the requests (leased by this run) and, unless told not to wait, collect them, resubmitting what a
        batch left unanswered; the judgments and the ids of batches still running.

        Args:
            reqs: the requests to pay for.
            claim: the lease timeout (unanswered lines are leased again before they are resubmitted).
        """
        by_key = {r.key: r for r in reqs}
        results: dict[str, Judgment] = {}
        records = self.submit(reqs)
        for round_ in range(RESUBMISSIONS + 1):
            got, retry, running = self.collect(records, wait=self.options.wait)
            results.update(got)
            retry = [k for k in retry if k in by_key]
            if running or not retry:
                return results, running
            again = [by_key[k] for k in self.cache.claim(retry, self.owner, claim)]
            if self.options.batch_fallback == "live" or round_ == RESUBMISSIONS:
                break
            records = self.submit(again)
        if self.options.batch_fallback == "live" and again:
            from alpaca_lc.annotation.live import judge_live

            results.update(asyncio.run(judge_live(again, self.judge, self.cache, self.options, self.tally)))
        else:
            self.tally.failures["batch_unanswered"] += len(again)
        self.cache.release(self.owner, [r.key for r in again])
        return results, []

    def submit(self, reqs: list[Planned]) -> list[BatchRecord]:
        """Upload and create batches of the requests (split at the API's limits), each recorded as it goes."""
        from alpaca_lc.endpoint.batches import BatchLine, split

        first = {r.key: r.model_first for r in reqs}
        lines = [BatchLine(r.key, chat_body(self.judge.model, r.messages or [], self.judge.decoding)) for r in reqs]
        url = base_url(self.judge.endpoint)
        records = []
        for chunk in split(lines):
            file_id = self.client.upload(chunk)
            uploaded = BatchRecord(endpoint_identity(url), file_id, None, self.judge.name, url, "uploaded")
            self.cache.record_upload(uploaded, [(line.custom_id, first[line.custom_id]) for line in chunk], self.owner)
            state = self.client.create(file_id, {"alpaca_lc_judge": self.judge.name[:500]})
            self.cache.record_batch(uploaded, state.id, state.status)
            records.append(dataclasses.replace(uploaded, id=state.id, status=state.status))
        return records

    def collect(self, records: list[BatchRecord], *, wait: bool) -> tuple[dict[str, Judgment], list[str], list[str]]:
        """Commit the answers of the batches that have ended (polling, with a growing wait, until all have when
        `wait`): the judgments, the keys left unanswered, and the ids of the batches still running."""
        from alpaca_lc.endpoint.batches import BatchGone

        results: dict[str, Judgment] = {}
        retry: list[str] = []
        pending, delay = list(records), POLL_FIRST
        total = sum(len(self.cache.keys_of(r)) for r in records)
        progress = Progress(total, "batch", "request", self.options.progress and wait)
        finished = 0
        while True:
            running = []
            for record in pending:
                try:
                    state = self._state(record)
                except BatchGone as gone:  # deleted, or another endpoint's: its keys are free to judge again
                    logger.warning("%s; its requests are judged again", gone)
                    self.cache.record_batch(record, record.id, "gone", collected=True)
                    retry += list(self.cache.keys_of(record))
                    continue
                if state.done:
                    got, left = self._commit(record, state)
                    results.update(got)
                    retry += left
                    finished += state.total
                else:
                    running.append((record, state))
            answered = finished + sum(s.completed + s.failed for _, s in running)
            status = {"status": ", ".join(sorted({s.status for _, s in running}))} if running else {}
            progress.update(max(0, answered - progress.done), **status)
            if not running or not wait:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)
            pending = [r for r, _ in running]
        progress.close()
        return results, retry, [str(s.id) for _, s in running]

    def _state(self, record: BatchRecord) -> BatchState:
        if record.id is not None:
            return self.client.state(record.id)
        # Killed between uploading the file and recording its batch: the batch is found by its input file, and
        # created only if it never was.
        state = self.client.find(record.input_file_id) or self.client.create(
            record.input_file_id, {"alpaca_lc_judge": self.judge.name[:500]}
        )
        self.cache.record_batch(record, state.id, state.status)
        return state

    def _commit(self, record: BatchRecord, state: BatchState) -> tuple[dict[str, Judgment], list[str]]:
        if state.status == "failed":
            self.cache.record_batch(record, state.id, "failed", collected=True)
            reasons = "; ".join(state.errors) or "no reason given"
            raise IncompleteError(f"batch {state.id} failed validation ({reasons}); nothing of it was paid for")
        keys = self.cache.keys_of(record)
        results: dict[str, Judgment] = {}
        for answer in self.client.answers(state):
            model_first = keys.get(answer.custom_id)
            if model_first is None or answer.custom_id in results:
                continue
            judgment = self._judgment(answer, model_first, record)
            if judgment is not None:
                results[answer.custom_id] = judgment
        self.cache.record_batch(record, state.id, state.status, collected=True)
        return results, [k for k in keys if k not in results]

    def _judgment(self, answer: LineAnswer, model_first: bool, record: BatchRecord) -> Judgment | None:
        """An answered line committed to the cache (None, with the failure logged, for a line to retry)."""
        try:
            if answer.body is None:
                raise ParseError(answer.error or "no answer")
            choice = answer.body["choices"][0]
            p_first = p_first_from_choice(choice, self.judge.answer)
        except (ParseError, KeyError, IndexError, TypeError) as exc:
            self.cache.record_failure(answer.custom_id, self.judge.name, "batch_line", str(exc))
            return None
        usage = answer.body.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        reasoning = int((usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0)
        cost = self.judge.price.batch_cost(prompt, completion)
        judgment = Judgment(answer.custom_id, self.judge.name, preference_from_p_first(p_first, model_first),
                            json.dumps(choice), prompt, completion, cost, None, "batch", record.endpoint or None,
                            reasoning_tokens=reasoning or None)  # fmt: skip
        self.tally.reasoning_tokens += reasoning
        stored = self.cache.put(judgment, p_first=p_first, model_first=model_first)
        self.tally.new += 1
        self.tally.spent += cost
        return stored
