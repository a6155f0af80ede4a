"""Live judging: every request sent at once through the one client, each judgment committed as it arrives."""

from __future__ import annotations

import gc
import json
from typing import TYPE_CHECKING

from alpaca_lc.annotation.cache import Judgment, JudgmentCache
from alpaca_lc.annotation.judge import Judge
from alpaca_lc.annotation.official import retired_or_missing
from alpaca_lc.annotation.parse import p_first_from_choice, preference_from_p_first
from alpaca_lc.endpoint.calls import ChatRequest, base_url, endpoint_identity
from alpaca_lc.endpoint.pacing import TokenEstimator
from alpaca_lc.errors import IncompleteError, ModelNotFound
from alpaca_lc.progress import Progress

if TYPE_CHECKING:
    from alpaca_lc.annotation.plan import AnnotateOptions, Planned, Tally
    from alpaca_lc.endpoint.client import ChatClient


async def judge_live(
    todo: list[Planned], judge: Judge, cache: JudgmentCache, options: AnnotateOptions, tally: Tally
) -> dict[str, Judgment]:
    from alpaca_lc.endpoint.client import ChatClient, describe_failure  # only a run that sends requests
    from alpaca_lc.endpoint.running import gather_or_cancel

    client = ChatClient(judge.endpoint, options.client)
    results: dict[str, Judgment] = {}
    reserved = 0.0
    progress = Progress(len(todo), "judging", "pair", options.progress)
    endpoint = endpoint_identity(base_url(judge.endpoint))
    tokens = TokenEstimator(judge.model)

    async def one(req: Planned) -> None:
        nonlocal reserved
        messages = req.messages
        assert messages is not None
        estimate = judge.price.cost(tokens.estimate(messages), judge.max_tokens)
        if options.max_cost is not None and tally.spent + reserved + estimate > options.max_cost:
            tally.skipped_for_cost += 1
            return
        reserved += estimate
        try:
            done = await client.complete(
                ChatRequest(judge.model, messages, judge.decoding, lambda c: p_first_from_choice(c, judge.answer))
            )
        except ModelNotFound as exc:
            raise retired_or_missing(exc, judge.answer.kind == "arena") from None
        except IncompleteError:
            raise
        except Exception as exc:  # a request that failed for good: logged, left missing, retried next run
            cause, message = describe_failure(exc, client)
            billed = getattr(exc, "billed", None)  # answered without a usable answer: paid for all the same
            cost = judge.price.cost(*billed) if billed else 0.0
            tally.fail(cause, message)
            tally.spent += cost
            cache.record_failure(req.key, judge.name, cause, message, cost)
            progress.update(0, failed=sum(tally.failures.values()))
            return
        finally:
            reserved -= estimate
        progress.update(1, **_pace_status(client, len(todo) - progress.done - 1, tally.spent))
        cost = judge.price.cost(done.prompt_tokens, done.completion_tokens)
        judgment = Judgment(
            req.key, judge.name, preference_from_p_first(done.value, req.model_first), json.dumps(done.choice),
            done.prompt_tokens, done.completion_tokens, cost, done.latency, "api", endpoint,
            reasoning_tokens=done.reasoning_tokens or None,
        )  # fmt: skip
        tally.reasoning_tokens += done.reasoning_tokens
        results[req.key] = cache.put(judgment, p_first=done.value, model_first=req.model_first)
        tally.new += 1
        tally.spent += cost

    # Hundreds of requests in flight allocate many short-lived objects: what exists now lives to the end, and
    # collecting every 700 allocations (Python's default) costs more CPU than it frees here.
    gc.freeze()
    threshold = gc.get_threshold()
    gc.set_threshold(50_000, *threshold[1:])
    try:
        await gather_or_cancel((one(r) for r in todo), client)
    finally:
        gc.set_threshold(*threshold)
        tally.retries.update(client.retries)
        tally.pace = client.report()
        progress.close()
        await client.close()
    return results


def _pace_status(client: ChatClient, remaining: int, spent: float) -> dict[str, str]:
    """What the progress line shows beside the count: spend, pacing, and an ETA from the budget when known."""
    pace = client.report()
    status = {"spent": f"${spent:.3f}", "in_flight": str(pace.concurrency), "tpm": f"{pace.tokens_per_minute:,.0f}"}
    if pace.limit_tokens_per_minute:
        status["tpm"] += f"/{pace.limit_tokens_per_minute:,.0f}"
        per_request = client.tokens_used / max(1, client.limit_successes)
        status["eta"] = f"{remaining * per_request / pace.limit_tokens_per_minute:.1f} min"
    if pace.waiting:
        status["waiting"] = "budget"
    return status
