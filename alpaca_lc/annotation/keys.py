"""Cache keys of judgments: versioned hashes of the canonical JSON of everything that determines the answer.

`v2` (a request: judge model, rendered messages, decoding) and `pair-v2` (a pair-keyed judge: its name, the
instruction and the two outputs, as AlpacaEval keys them) include the endpoint (`calls.endpoint_identity`), so one
service's judgments are never served as another's. `import-v1` keys judgments imported from AlpacaEval annotations
(no endpoint: AlpacaEval published them); `v1` and `import-v1` keys of judgments made by a call are those of a cache
made before endpoints were recorded.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alpaca_lc.annotation.cache import Judgment

KEY_VERSION = "v2"  # with the endpoint
PAIR_KEY_VERSION = "pair-v2"  # a pair-keyed judge's, with the endpoint
LEGACY_KEY_VERSION = "v1"  # before endpoints were recorded
IMPORT_KEY_VERSION = "import-v1"  # imported judgments, and pair-keyed ones made before endpoints were recorded


def request_key(model: str, messages: list[dict[str, str]], decoding: dict[str, Any], endpoint: str | None) -> str:
    """Cache key of a judge request: a versioned hash of its canonical JSON and the endpoint that answers it
    (None: the key judgments had before endpoints were recorded).

    Args:
        model: the judge model.
        messages: the rendered messages.
        decoding: the request's parameters.
        endpoint: `calls.endpoint_identity` of the service.
    """
    payload = {"model": model, "messages": messages, "decoding": decoding}
    if endpoint is None:
        return f"{LEGACY_KEY_VERSION}:{_digest(payload)}"
    return f"{KEY_VERSION}:{_digest({**payload, 'endpoint': endpoint})}"


def pair_key(judge: str, instruction: str, output_1: str, output_2: str, *, reversed_order: bool = False,
             endpoint: str | None = None) -> str:  # fmt: skip
    """Cache key of a judgment by judge name, instruction and the two outputs (baseline first).

    Args:
        judge: the judge's name.
        instruction: the instruction.
        output_1: the baseline's output.
        output_2: the model's output.
        reversed_order: the pair shown in the order opposite to the judge's own rule (`--both-orders`).
        endpoint: the service that answers it; None for an imported judgment (and the key live ones had before
            endpoints were recorded).
    """
    fields = [judge, instruction, output_1, output_2, *(["reversed"] if reversed_order else [])]
    if endpoint is None:
        return f"{IMPORT_KEY_VERSION}:{_digest(fields)}"
    return f"{PAIR_KEY_VERSION}:{_digest([endpoint, *fields])}"


def unrecorded_endpoint(judgment: Judgment) -> bool:
    """A judgment made by a call before endpoints were recorded (an imported one is not: it has none)."""
    return judgment.source != "import" and judgment.key.startswith((f"{LEGACY_KEY_VERSION}:", f"{IMPORT_KEY_VERSION}:"))


def _digest(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
