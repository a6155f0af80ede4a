"""Arena-Hard-Auto's judge protocol, read from the benchmark's own files and reproduced request for request.

The benchmark keeps its protocol in two files of its repository: the judge configuration
(`config/arena-hard-v2.0.yaml`: judge model, temperature, `max_tokens`, the verdict regexes, the user-prompt
template) and `utils/judge_utils.py` (each category's baseline and system prompt). alpaca-lc reads them from a
checkout (never imports them: `judge_utils.py` is parsed, its string constants and `JUDGE_SETTINGS` literal
evaluated) and sends what `gen_judgment.py` sends for the same prompt and answers:

- the messages: the category's system prompt, then the template with the question and the two answers (the
  baseline as assistant A in the first game, the model's answer in the second);
- the decoding: the configuration's `temperature` and `max_tokens`, nothing else.

The verdict is read as `gen_judgment.py` reads it: each regex in turn over the upper-cased judgment, the last
non-empty match of the first regex that matches.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alpaca_lc.annotation.judge import Judge, price_of
from alpaca_lc.annotation.parse import Answer, arena_label
from alpaca_lc.config import Endpoint
from alpaca_lc.errors import InputError

ENV_DIR = "ALPACA_LC_ARENA_HARD_DIR"
CONFIG = Path("config") / "arena-hard-v2.0.yaml"
SETTINGS = Path("utils") / "judge_utils.py"


@dataclass(frozen=True)
class Category:
    """A category's baseline model and the judge's system prompt for it."""

    baseline: str
    system_prompt: str


@dataclass(frozen=True)
class ArenaProtocol:
    """The judge protocol of one benchmark configuration."""

    judge_model: str
    temperature: float
    max_tokens: int
    patterns: tuple[str, ...]
    template: str
    categories: dict[str, Category]
    source: Path

    def messages(self, category: str, question: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
        """The chat messages of one game: assistant A's and B's answers to the question, judged for `category`."""
        setting = self.categories.get(category)
        if setting is None:
            raise InputError(f"no judge setting for category '{category}' (known: {', '.join(self.categories)})",
                             path=self.source / SETTINGS)  # fmt: skip
        user = self.template.format(QUESTION=question, ANSWER_A=answer_a, ANSWER_B=answer_b)
        return [{"role": "system", "content": setting.system_prompt}, {"role": "user", "content": user}]

    def request(self, messages: list[dict[str, str]], model: str | None = None) -> dict[str, Any]:
        """The chat-completions body `gen_judgment.py` sends (its OpenAI client: model, messages, decoding)."""
        return {"model": model or self.judge_model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens}  # fmt: skip

    def verdict(self, judgment: str) -> str | None:
        """The verdict label in a judgment's text, or None (a failed game)."""
        return arena_label(judgment, self.patterns)


@dataclass(frozen=True)
class ArenaPrompt:
    """The messages of one category's games (`Prompt`): the first output shown is assistant A."""

    protocol: ArenaProtocol
    category: str

    def render(self, instruction: str, first: str, second: str) -> list[dict[str, str]]:
        """The game's messages, `first` as assistant A."""
        return self.protocol.messages(self.category, instruction, first, second)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the prompt in the judge's protocol hash: the system prompt and the template."""
        return {"render": "arena-hard-v2.0", "system": self.protocol.categories[self.category].system_prompt,
                "template": self.protocol.template}  # fmt: skip


@dataclass(frozen=True)
class BaselineFirst:
    """The benchmark's order (`OrderRule`): the baseline is assistant A in the first game; the second game swaps."""

    def model_first(self, instruction: str) -> bool:
        """Never in the first game."""
        return False

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this rule in a judge's protocol hash."""
        return {"order": "baseline-first-then-swapped"}


def arena_judge(protocol: ArenaProtocol, category: str, model: str | None = None) -> Judge:
    """The judge of one category's games, asked at the openai client's default endpoint (`OPENAI_BASE_URL`).

    Args:
        protocol: the benchmark's judge protocol.
        category: which category's system prompt.
        model: another judge model than the configuration's (another instrument, named `...@model`).
    """
    if category not in protocol.categories:
        raise InputError(f"no judge setting for category '{category}' (known: {', '.join(protocol.categories)})",
                         path=protocol.source / SETTINGS)  # fmt: skip
    chosen = model or protocol.judge_model
    name = f"arena-hard-v2.0:{category}" + ("" if chosen == protocol.judge_model else f"@{chosen}")
    decoding = {"temperature": protocol.temperature, "max_tokens": protocol.max_tokens}
    return Judge(name, chosen, Endpoint(), decoding, price_of(chosen), Answer("arena", protocol.patterns),
                 ArenaPrompt(protocol, category), BaselineFirst(), str(protocol.source / CONFIG))  # fmt: skip


def locate(folder: Path | None = None) -> Path:
    """The benchmark's checkout: `folder`, else `$ALPACA_LC_ARENA_HARD_DIR`; an error says how to give it."""
    found = folder or (Path(os.environ[ENV_DIR]) if os.environ.get(ENV_DIR) else None)
    if found is None:
        raise InputError(f"Arena-Hard-Auto's judge files are read from a checkout of lmarena/arena-hard-auto: pass "
                         f"its folder with --arena-hard-dir or set {ENV_DIR}")  # fmt: skip
    for part in (CONFIG, SETTINGS):
        if not (found / part).is_file():
            raise InputError(f"not a checkout of arena-hard-auto: no {part}", path=found)
    return found


def read_protocol(folder: Path | None = None) -> ArenaProtocol:
    """Read the judge protocol from the benchmark's checkout (`locate`)."""
    root = locate(folder)
    config = _read_config(root / CONFIG)
    return ArenaProtocol(
        judge_model=str(config["judge_model"]),
        temperature=float(config["temperature"]),
        max_tokens=int(config["max_tokens"]),
        patterns=tuple(str(p) for p in config["regex_patterns"]),
        template=str(config["prompt_template"]),
        categories=_read_settings(root / SETTINGS),
        source=root,
    )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the judge configuration: {exc}", path=path) from None
    needed = ("judge_model", "temperature", "max_tokens", "regex_patterns", "prompt_template")
    missing = [k for k in needed if not isinstance(config, dict) or k not in config]
    if missing:
        raise InputError(f"the judge configuration lacks {', '.join(missing)}", path=path)
    if config.get("reference"):
        raise InputError("judging against reference answers ('reference' set) is not supported", path=path)
    return config


def _read_settings(path: Path) -> dict[str, Category]:
    """`JUDGE_SETTINGS` from judge_utils.py, its names resolved to the module's string constants."""
    constants: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = _literal(node.value, constants)
            except ValueError as exc:
                raise InputError(f"cannot read {node.targets[0].id}: {exc}", path=path) from None
    settings = constants.get("JUDGE_SETTINGS")
    if not isinstance(settings, dict):
        raise InputError("no JUDGE_SETTINGS dict", path=path)
    try:
        return {str(k): Category(str(v["baseline"]), str(v["system_prompt"])) for k, v in settings.items()}
    except (KeyError, TypeError):
        raise InputError("each JUDGE_SETTINGS entry needs 'baseline' and 'system_prompt'", path=path) from None


def _literal(node: ast.expr, names: dict[str, Any]) -> Any:
    """A literal expression, where a bare name stands for a constant assigned earlier in the module."""
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(f"'{node.id}' is not a constant of the module")
        return names[node.id]
    if isinstance(node, ast.Dict):
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values, strict=True) if k}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left, names) + _literal(node.right, names)
    return ast.literal_eval(node)
