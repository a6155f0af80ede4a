"""AlpacaEval's own judges (evaluators), read from AlpacaEval's files, reproduced request for request.

AlpacaEval ships each evaluator as `evaluators_configs/<name>/configs.yaml` plus a ChatML prompt template.
alpaca-lc reads those files (never AlpacaEval's code: the package is located, not imported) and sends what
AlpacaEval 0.6.6 sends for the same pair:

- the prompt: the template's `{placeholder}`s, in order of first appearance, each replaced once by the field's
  text (so, as in AlpacaEval, a placeholder written inside an earlier field is the one replaced), the whole
  stripped, then split into chat messages at `<|im_start|>ROLE` / `<|im_end|>`;
- the decoding parameters of the config, with AlpacaEval's defaults for `top_p` (1.0), `temperature` (0.7) and
  `max_tokens` (2048) where the config leaves them out;
- which output is shown first: AlpacaEval switches the pair when a `random.Random` seeded with the string
  "is_switched_outputs" + instruction + seed draws at least 0.5 (its default seed is 0).

Supported: single-annotator evaluators on the OpenAI chat API whose answer is read from logprobs
(`logprob_parser`), which covers AlpacaEval 2.0's weighted evaluators. Others are refused with one line.
"""

from __future__ import annotations

import os
import random
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from alpaca_lc.annotation.parse import Answer
from alpaca_lc.config import Endpoint
from alpaca_lc.endpoint.models import model_facts
from alpaca_lc.errors import IncompleteError, InputError, ModelNotFound, UsageError

ENV_DIR = "ALPACA_LC_ALPACA_EVAL_DIR"
DISTRIBUTION = "alpaca-eval"
VERSION = "0.6.6"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"
ORDER_SALT = "is_switched_outputs"
FIELDS = {"instruction", "output_1", "output_2"}
_PLACEHOLDER = re.compile(r"\{(\S+?)\}")
_START, _END = "<|im_start|>", "<|im_end|>"
# openai_completions arguments that shape the call but are not request parameters.
_NOT_SENT = {
    "model_name", "requires_chatml", "price_per_token", "client_kwargs", "client_config_path", "num_procs",
    "batch_size", "is_strip", "sleep_time", "n_retries", "openai_organization_ids", "openai_api_keys",
    "openai_api_base", "is_chat", "is_skip_multi_tokens_to_avoid",
}  # fmt: skip
_DEFAULTS = {"max_tokens": 2048, "top_p": 1.0, "temperature": 0.7}
SUCCESSOR_HINT = (
    "to judge new outputs, use a successor judge (e.g. --judge-model gpt-5.4-mini --answer verdict) "
    "and put its numbers on the official scale with --bridge BRIDGE.json (docs/judge-bridge.md)"
)


def retired_or_missing(exc: ModelNotFound, arena: bool = False) -> IncompleteError:
    """The error for a judge model the endpoint does not have: for one its provider has retired (`endpoint.models`),
    what still works and what to do instead, in one line (`arena`: an Arena-Hard-Auto judge, whose scores are the
    judge's own: no bridge)."""
    facts = model_facts(exc.model)
    if facts is None or facts.retired is None:
        return exc
    hint = (f"to judge new answers, use a living judge (e.g. --judge-model {facts.substitute or 'gpt-5.4'}): "
            "its scores are its own, not comparable with this judge's" if arena else SUCCESSOR_HINT)  # fmt: skip
    kept = "cached and imported judgments" if arena else "cached and imported official judgments"
    return IncompleteError(f"judge model {exc.model} was retired by its provider on {facts.retired} "
                           f"(model_not_found): {kept} still work; {hint}")  # fmt: skip


class MissingOfficialFiles(UsageError):
    """AlpacaEval's evaluator files are needed and not installed (exit 2, with the install command)."""


def missing_files_message(name: str, where: str) -> str:
    """One line saying why and how to install AlpacaEval's files."""
    return (
        f"judge {name} is AlpacaEval's own and is read from AlpacaEval's files, which {where}: "
        f"{INSTALL} (or pip install 'alpaca-lc[official]'), or set ${ENV_DIR} to a folder holding its "
        "evaluators_configs"
    )


def locate(folder: Path | None = None, search_path: list[str] | None = None) -> Path | None:
    """AlpacaEval's `evaluators_configs` folder: the given folder, `$ALPACA_LC_ALPACA_EVAL_DIR`, else the
    installed `alpaca-eval` distribution (found from its metadata, without importing it); None if absent.

    Args:
        folder: a folder given on the command line: `evaluators_configs` itself, the `alpaca_eval` package
            folder, or a checkout of the AlpacaEval repository.
        search_path: where to look for the installed distribution (default: `sys.path`).
    """
    given = folder or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if given is not None:
        candidates = [given, given / "evaluators_configs", given / "src" / "alpaca_eval" / "evaluators_configs"]
        return next((c for c in candidates if c.is_dir() and any(c.glob("*/configs.yaml"))), None)
    for dist in metadata.distributions(name=DISTRIBUTION, path=sys.path if search_path is None else search_path):
        found = Path(str(dist.locate_file("alpaca_eval/evaluators_configs")))
        if found.is_dir():
            return found
    return None


class RenderError(ValueError):
    """An output makes AlpacaEval's own prompt unsendable (AlpacaEval itself fails on it)."""


@dataclass(frozen=True)
class ChatMLTemplate:
    """An AlpacaEval prompt template (ChatML text with `{field}` placeholders)."""

    text: str
    strip: bool = True

    @property
    def placeholders(self) -> list[str]:
        """Placeholder names in order of first appearance."""
        return list(dict.fromkeys(_PLACEHOLDER.findall(self.text)))

    def render(self, instruction: str, first: str, second: str) -> list[dict[str, str]]:
        """The chat messages AlpacaEval sends for one comparison (first and second as shown)."""
        values = {"instruction": instruction, "output_1": first, "output_2": second}
        prompt = self.text
        for name in self.placeholders:
            prompt = prompt.replace("{" + name + "}", values[name], 1)
        return chatml_messages(prompt.strip() if self.strip else prompt)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this rendering in a judge's protocol hash."""
        return {"render": "alpaca_eval-chatml-v1", "template": self.text, "strip": self.strip}


def chatml_messages(prompt: str) -> list[dict[str, str]]:
    """Split a ChatML prompt into chat messages as AlpacaEval does (`name=value` pairs after a system role)."""
    if not (prompt.strip().startswith(_START) and prompt.strip().endswith(_END)):
        raise RenderError("the rendered prompt is not ChatML (<|im_start|> ... <|im_end|>)")
    messages = []
    for piece in prompt.strip().split(_START)[1:]:
        head, newline, rest = piece.partition("\n")
        if not newline:
            raise RenderError("an <|im_start|> inside the text has no role line; AlpacaEval cannot send it")
        role = head.strip()
        message = {"content": rest.split(_END, 1)[0].strip(), "role": role}
        if role.startswith("system") and role != "system":
            extra = dict(part.split("=", 1) for part in role[len("system") :].split(" ") if part)
            message = {**message, "role": "system", **extra}
        messages.append(message)
    return messages


@dataclass(frozen=True)
class AlpacaEvalOrder:
    """AlpacaEval's per-pair decision to show the model's output first, seeded by the instruction."""

    seed: int = 0

    def model_first(self, instruction: str) -> bool:
        """True when AlpacaEval switches the pair (the model's output becomes `output_1` in the prompt)."""
        return random.Random(ORDER_SALT + instruction + str(self.seed)).random() >= 0.5

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this rule in a judge's protocol hash."""
        return {"order": "alpaca_eval-seeded-switch-v1", "seed": self.seed}


@dataclass(frozen=True)
class Evaluator:
    """One AlpacaEval evaluator, read and checked: what to send and how to read the answer."""

    name: str
    model: str
    template: ChatMLTemplate
    decoding: dict[str, Any]
    answer: Answer
    endpoint: Endpoint
    price: tuple[float, float] | None  # None: the config gives none (the model's documented price is used)
    source: Path


def read_evaluator(folder: Path, name: str) -> Evaluator:
    """Read AlpacaEval's evaluator `name` from its `evaluators_configs` folder.

    Args:
        folder: the `evaluators_configs` folder (see `locate`).
        name: the evaluator, e.g. "weighted_alpaca_eval_gpt4_turbo".
    """
    path = folder / name / "configs.yaml"
    try:
        configs = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"AlpacaEval has no evaluator {name!r}", path=folder) from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read AlpacaEval's evaluator config: {exc}", path=path) from None
    if not isinstance(configs, dict) or len(configs) != 1:
        raise InputError("not supported: an evaluator with several annotators (AlpacaEval picks one per pair)",
                         path=path)  # fmt: skip
    config = next(iter(configs.values()))
    _check_supported(config, path)
    kwargs = dict(config.get("completions_kwargs") or {})
    model = str(kwargs["model_name"])
    decoding = {k: v for k, v in kwargs.items() if k not in _NOT_SENT}
    for key, default in _DEFAULTS.items():
        decoding.setdefault(key, default)
    template_path = folder / str(config["prompt_template"])
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read AlpacaEval's prompt template: {exc}", path=template_path) from None
    template = ChatMLTemplate(text, bool(kwargs.get("is_strip", True)))
    unknown = set(template.placeholders) - FIELDS
    if unknown:
        raise InputError(f"not supported: template placeholders {sorted(unknown)}", path=template_path)
    return Evaluator(name, model, template, decoding, _answer(config, path), _endpoint(kwargs), _price(kwargs, model),
                     path)  # fmt: skip


def _check_supported(config: Any, path: Path) -> None:
    kwargs = config.get("completions_kwargs") or {} if isinstance(config, dict) else {}
    problems = []
    if not isinstance(config, dict) or "prompt_template" not in config or "model_name" not in kwargs:
        problems.append("no prompt_template or model_name")
    elif config.get("fn_completions") != "openai_completions":
        problems.append(f"fn_completions {config.get('fn_completions')!r} (only openai_completions)")
    elif config.get("fn_completion_parser") != "logprob_parser":
        problems.append(f"parser {config.get('fn_completion_parser')!r} (only logprob_parser)")
    elif int(config.get("batch_size", 1)) != 1:
        problems.append("batch_size > 1")
    elif kwargs.get("tokens_to_avoid") or kwargs.get("tokens_to_favor"):
        problems.append("tokens_to_avoid / tokens_to_favor")
    elif not kwargs.get("requires_chatml", _chat_model(str(kwargs["model_name"]))):
        problems.append("a text-completion model")
    if problems:
        raise InputError(f"not supported by alpaca-lc: {problems[0]}", path=path)


def _chat_model(model: str) -> bool:
    """AlpacaEval's rule for which models take chat messages (the others take a text prompt)."""
    return not ("instruct" in model or ("gpt-3" in model and "turbo" not in model) or model.startswith("text-"))


def _answer(config: dict[str, Any], path: Path) -> Answer:
    parser = config.get("completion_parser_kwargs") or {}
    first, labels = parser.get("numerator_token"), parser.get("denominator_tokens")
    if not isinstance(first, str) or not isinstance(labels, list) or first not in labels:
        raise InputError("not supported: the numerator token must be one of the denominator tokens", path=path)
    index = parser.get("log_prob_index", "batch")
    return Answer(
        "logprob",
        (first, *[t for t in labels if t != first]),
        bool(parser.get("is_binarize", True)),
        None if index == "batch" else int(index),
    )


def _endpoint(kwargs: dict[str, Any]) -> Endpoint:
    base_url = (kwargs.get("client_kwargs") or {}).get("base_url")
    return Endpoint(base_url=base_url) if base_url else Endpoint()


def _price(kwargs: dict[str, Any], model: str) -> tuple[float, float] | None:
    if kwargs.get("price_per_token") is not None:
        per_million = float(kwargs["price_per_token"]) * 1e6
        return per_million, per_million
    return None
