"""Judges: what is sent for a pair, in which order, and how the answer is read, behind one small interface.

Two kinds: AlpacaEval's own evaluators, read from AlpacaEval's files (`official.py`; the default,
`weighted_alpaca_eval_gpt4_turbo`, is AlpacaEval 2.0's judge), and alpaca-lc's own judges, closed YAML files
in `prompts/` beside their prompt templates. Every judge has a protocol hash over its model, decoding, prompt
template, order rule and answer rule: results carry it, so numbers from different instruments never mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alpaca_lc import package_file
from alpaca_lc.annotation import official
from alpaca_lc.annotation.parse import Answer
from alpaca_lc.annotation.prompt import load_template
from alpaca_lc.config import Endpoint, load_yaml_config
from alpaca_lc.endpoint.models import model_facts
from alpaca_lc.errors import InputError
from alpaca_lc.records.instrument import known_protocols

ENV_PROMPTS = "ALPACA_LC_PROMPTS"
DEFAULT_JUDGE = "weighted_alpaca_eval_gpt4_turbo"
RENAMED = {
    "weighted_gpt4_turbo": "alpaca_lc_pairwise_gpt4_turbo",
    "discrete_gpt4_turbo": "alpaca_lc_discrete_gpt4_turbo",
    "vllm_llama3_70b": "alpaca_lc_pairwise_vllm_llama3_70b",
}


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Decoding(_Closed):
    """Decoding parameters sent with every request."""

    temperature: float = Field(default=0.0, ge=0)
    max_tokens: int = Field(default=1, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)


class Price(_Closed):
    """Price in USD per million input and output tokens (`known` False: no price is documented; costs read 0 and
    are said to be unknown, never $0)."""

    input_per_million: float = Field(default=0.0, ge=0)
    output_per_million: float = Field(default=0.0, ge=0)
    known: bool = True
    batch_input_per_million: float | None = Field(default=None, ge=0)  # None: half the live price
    batch_output_per_million: float | None = Field(default=None, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one call."""
        return (prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million) / 1e6

    def batch_cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one request through the Batch API: the config's batch price, else half the live price."""
        per_in, per_out = self.batch_input_per_million, self.batch_output_per_million
        per_in = self.input_per_million / 2 if per_in is None else per_in
        per_out = self.output_per_million / 2 if per_out is None else per_out
        return (prompt_tokens * per_in + completion_tokens * per_out) / 1e6


class AnswerConfig(_Closed):
    """How the answer is read: `logprob` weighs the two labels' probabilities, `discrete` reads the label."""

    kind: Literal["logprob", "discrete"]
    labels: tuple[str, str] = ("m", "M")


class JudgeConfig(_Closed):
    """One of alpaca-lc's own judges: model, endpoint, decoding, price, answer protocol, prompt template file."""

    name: str
    model: str
    template: str
    endpoint: Endpoint = Endpoint()
    decoding: Decoding
    price: Price = Price(known=False)
    protocol: AnswerConfig


class Prompt(Protocol):
    """Renders the messages for one comparison, outputs in the order shown."""

    def render(self, instruction: str, first: str, second: str) -> list[dict[str, str]]: ...

    def fingerprint(self) -> dict[str, Any]: ...


class OrderRule(Protocol):
    """Decides, per instruction, whether the model's output is shown first."""

    def model_first(self, instruction: str) -> bool: ...

    def fingerprint(self) -> dict[str, Any]: ...


def model_first(instruction: str, seed: int = 0) -> bool:
    """alpaca-lc's order rule: a seeded hash of the instruction, the same for every model."""
    return hashlib.sha256(f"alpaca-lc-order:{seed}:{instruction}".encode()).digest()[0] & 1 == 1


@dataclass(frozen=True)
class SeededOrder:
    """alpaca-lc's own order rule (`model_first`)."""

    seed: int = 0

    def model_first(self, instruction: str) -> bool:
        """Whether the model's output is shown first for this instruction."""
        return model_first(instruction, self.seed)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this rule in a judge's protocol hash."""
        return {"order": "alpaca_lc-sha256-v1", "seed": self.seed}


@dataclass(frozen=True)
class Judge:
    """A loaded judge. `pair_keyed`: its judgments are cached by (name, instruction, outputs), the key that
    judgments imported from AlpacaEval annotations under the same name have, so the two are one judge."""

    name: str
    model: str
    endpoint: Endpoint
    decoding: dict[str, Any]
    price: Price
    answer: Answer
    prompt: Prompt
    order: OrderRule
    source: str
    pair_keyed: bool = False

    @property
    def max_tokens(self) -> int:
        """The completion-token cap of every request (a reasoning model's `max_completion_tokens`)."""
        return int(self.decoding.get("max_tokens") or self.decoding.get("max_completion_tokens") or 1)

    @property
    def reasoning(self) -> bool:
        """Whether it is asked as a reasoning model (hidden reasoning tokens, `max_completion_tokens`)."""
        return "max_completion_tokens" in self.decoding

    def with_model(self, model: str) -> Judge:
        """The same prompt, decoding, order and answer rules with another model: another instrument, named
        `<name>@<model>` (a successor of a retired judge, say), priced at the model's list price where it is
        documented (`endpoint.models`), else at an unknown price."""
        return dataclasses.replace(self, name=f"{self.name}@{model}", model=model, price=price_of(model))

    @cached_property
    def protocol(self) -> str:
        """Short hash of everything that makes this instrument: model, decoding, prompt, order and answer rules."""
        return protocol_hash(self.model, self.decoding, self.prompt, self.order, self.answer)


def price_of(model: str) -> Price:
    """A model's documented list price (`endpoint.models`), else an unknown one."""
    facts = model_facts(model)
    if facts is None or facts.price is None:
        return Price(known=False)
    return Price(input_per_million=facts.price[0], output_per_million=facts.price[1])


def protocol_hash(model: str, decoding: dict[str, Any], prompt: Prompt, order: OrderRule, answer: Answer) -> str:
    """A 12-hex-digit hash of a judge's protocol (its canonical JSON)."""
    payload = {"model": model, "decoding": decoding, "prompt": prompt.fingerprint(), "order": order.fingerprint(),
               "answer": answer.fingerprint()}  # fmt: skip
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def prompts_dir() -> Path:
    """The folder of judge configs: `$ALPACA_LC_PROMPTS`, else the package's (the repository's `prompts/`)."""
    env = os.environ.get(ENV_PROMPTS)
    return Path(env) if env else package_file("prompts")


def load_judge(name_or_path: str, alpaca_eval_dir: Path | None = None, model: str | None = None) -> Judge:
    """Load a judge: a YAML path, one of alpaca-lc's judges by name, or an AlpacaEval evaluator by name.

    Args:
        name_or_path: e.g. "weighted_alpaca_eval_gpt4_turbo", "alpaca_lc_pairwise_gpt4_turbo", "judges/x.yaml".
        alpaca_eval_dir: where AlpacaEval's evaluator files are (default: `official.locate`).
        model: another model in place of the judge's own (`Judge.with_model`).
    """
    judge = _load_judge(name_or_path, alpaca_eval_dir)
    return judge if model is None or model == judge.model else judge.with_model(model)


def _load_judge(name_or_path: str, alpaca_eval_dir: Path | None) -> Judge:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return _load_own(path)
    if (prompts_dir() / f"{name_or_path}.yaml").is_file():
        return _load_own(prompts_dir() / f"{name_or_path}.yaml")
    if name_or_path in RENAMED:
        raise InputError(f"judge {name_or_path} was renamed {RENAMED[name_or_path]} (it is alpaca-lc's own prompt, "
                         f"not AlpacaEval's; AlpacaEval 2.0's judge is {DEFAULT_JUDGE})")  # fmt: skip
    folder = official.locate(alpaca_eval_dir)
    if folder is not None and (folder / name_or_path / "configs.yaml").is_file():
        return _load_official(official.read_evaluator(folder, name_or_path))
    if folder is None and name_or_path in known_protocols():
        where = "are not installed" if alpaca_eval_dir is None and not os.environ.get(official.ENV_DIR) else (
            "are not in the folder given")  # fmt: skip
        raise official.MissingOfficialFiles(official.missing_files_message(name_or_path, where))
    known = sorted(p.stem for p in prompts_dir().glob("*.yaml") if p.stem != "pairwise_logprob")
    raise InputError(f"no such judge (alpaca-lc's judges: {', '.join(known)}; AlpacaEval's: any evaluator name "
                     f"such as {DEFAULT_JUDGE})", path=name_or_path)  # fmt: skip


def _load_own(path: Path) -> Judge:
    if not path.is_file():
        raise InputError("no such judge config", path=path)
    config = load_yaml_config(path, JudgeConfig, "judge config")
    template = load_template(path.parent / config.template)
    return Judge(
        config.name, config.model, config.endpoint, config.decoding.model_dump(exclude_none=True), config.price,
        Answer(config.protocol.kind, config.protocol.labels), template, SeededOrder(), str(path),
    )  # fmt: skip


def _official_judge(evaluator: official.Evaluator) -> Judge:
    price = price_of(evaluator.model) if evaluator.price is None else Price(
        input_per_million=evaluator.price[0], output_per_million=evaluator.price[1])  # fmt: skip
    return Judge(evaluator.name, evaluator.model, evaluator.endpoint, evaluator.decoding, price, evaluator.answer,
                 evaluator.template, official.AlpacaEvalOrder(), str(evaluator.source), pair_keyed=True)  # fmt: skip


def _load_official(evaluator: official.Evaluator) -> Judge:
    judge = _official_judge(evaluator)
    known = known_protocols().get(evaluator.name)
    if known is None or known == judge.protocol:
        return judge
    # Files that differ from AlpacaEval 0.6.6's evaluator of this name are another instrument: another name.
    return dataclasses.replace(judge, name=f"{evaluator.name}@{judge.protocol}")


def official_protocols(folder: Path) -> dict[str, str]:
    """Protocol hashes of every supported evaluator in an AlpacaEval `evaluators_configs` folder.

    `make protocols` writes them (AlpacaEval 0.6.6's) into the package, so that judgments imported under an
    AlpacaEval evaluator's name are known to be that instrument even where AlpacaEval's files are absent.
    """
    hashes = {}
    for config in sorted(folder.glob("*/configs.yaml")):
        try:
            evaluator = official.read_evaluator(folder, config.parent.name)
        except InputError:
            continue  # not an evaluator alpaca-lc can reproduce
        hashes[evaluator.name] = _official_judge(evaluator).protocol
    return hashes
