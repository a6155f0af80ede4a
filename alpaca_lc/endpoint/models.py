"""What providers document of their models: context window, list price, reasoning (no logprobs, hidden reasoning
tokens billed as output), and retirement from the provider's own API, read from the package's
`data/provider_models.json` (each entry names its source).

A model is found by its name, else by its name without a dated snapshot suffix (`gpt-5-2025-08-07` has `gpt-5`'s
facts), else by its family (the gpt-5 family and the o-series are reasoning models). A retirement is the
provider's: it applies only where the endpoint is that provider's own API, never to a local or proxy server, or
another host that still serves the name.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from alpaca_lc import package_file

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ModelFacts:
    """One model's documented facts; None where nothing is documented."""

    name: str
    provider: str
    context: int | None = None  # tokens, prompt and completion together
    price: tuple[float, float] | None = None  # USD per million input, output tokens
    reasoning: bool = False  # hidden reasoning, no logprobs, max_completion_tokens, default temperature only
    retired: str | None = None  # the date the provider shut it down on its API
    substitute: str | None = None
    source: str = ""


@functools.lru_cache(maxsize=1)
def _registry() -> tuple[dict[str, ModelFacts], list[tuple[re.Pattern[str], ModelFacts]], dict[str, tuple[str, ...]]]:
    data = json.loads(package_file("data", "provider_models.json").read_text(encoding="utf-8"))
    models = {m["name"]: _facts(m) for m in data["models"]}
    families = [(re.compile(f["pattern"]), _facts({**f, "name": f["pattern"]})) for f in data["families"]]
    hosts = {name: tuple(p["hosts"]) for name, p in data["providers"].items()}
    return models, families, hosts


def _facts(entry: dict[str, Any]) -> ModelFacts:
    price = entry.get("price")
    return ModelFacts(entry["name"], entry["provider"], entry.get("context"), None if price is None else
                      (float(price[0]), float(price[1])), bool(entry.get("reasoning", False)), entry.get("retired"),
                      entry.get("substitute"), entry.get("source", ""))  # fmt: skip


def model_facts(model: str) -> ModelFacts | None:
    """The documented facts of a model by name (or its alias without a dated snapshot), else its family's (only
    whether it reasons); None for a model alpaca-lc knows nothing of (a local model, another provider's)."""
    models, families, _ = _registry()
    found = models.get(model) or models.get(_SNAPSHOT.sub("", model))
    if found is not None:
        return found
    return next((facts for pattern, facts in families if pattern.match(model)), None)


def is_reasoning(model: str) -> bool:
    """Whether the model is documented as a reasoning model (it gives no logprobs)."""
    facts = model_facts(model)
    return facts is not None and facts.reasoning


# What a reasoning model refuses (400, or 403 for logprobs): it bounds its output with `max_completion_tokens`
_NOT_FOR_REASONING = ("max_tokens", "temperature", "top_p", "logprobs", "top_logprobs")


def reasoning_parameters(decoding: dict[str, Any], max_completion_tokens: int, effort: str | None) -> dict[str, Any]:
    """Request parameters as a reasoning model takes them: without those it refuses, with `max_completion_tokens`
    (its hidden reasoning and its answer together) and `reasoning_effort` when one is given."""
    params = {k: v for k, v in decoding.items() if k not in _NOT_FOR_REASONING}
    params["max_completion_tokens"] = max_completion_tokens
    if effort is not None:
        params["reasoning_effort"] = effort
    return params


def providers_api(base_url: str, provider: str) -> bool:
    """Whether a base URL is the provider's own API (where its retirements apply)."""
    host = (urllib.parse.urlsplit(base_url).hostname or "").lower()
    return host in _registry()[2].get(provider, ())


def retirement(model: str, base_url: str) -> ModelFacts | None:
    """The model's facts when its provider has retired it and the endpoint is that provider's API; else None (a
    model is tried as usual anywhere else)."""
    facts = model_facts(model)
    if facts is None or facts.retired is None or not providers_api(base_url, facts.provider):
        return None
    return facts


def retired_line(facts: ModelFacts, role: str, how: str = "") -> str:
    """One line: which model, retired when, and what to use instead (`how`: what the role asks of the substitute)."""
    instead = f"; use {facts.substitute}{how} instead" if facts.substitute else ""
    return (f"{role} model {facts.name} was retired by its provider on {facts.retired} ({facts.source}){instead}; "
            "a local or other server that still serves it can be used with --base-url / OPENAI_BASE_URL")  # fmt: skip
