"""Prompt templates, rendered so that model outputs are data and never prompt structure.

A template is a YAML file with a list of chat messages whose text may hold three placeholders:
`${instruction}`, `${first}` and `${second}` (the two outputs in the order shown to the judge). Each value
is inserted as a JSON string literal, in a single pass: quotes, newlines and brackets inside an output are
escaped, and text in an output that looks like a placeholder, a section header or a closing delimiter
stays inside its literal. The messages sent therefore always have the template's number, roles and text
outside the literals, whatever the outputs contain.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alpaca_lc.config import yaml_message
from alpaca_lc.errors import InputError

PLACEHOLDERS = ("instruction", "first", "second")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Message:
    """One chat message of a template or of a rendered prompt."""

    role: str
    content: str


@dataclass(frozen=True)
class PromptTemplate:
    """Chat messages with placeholders; `render` fills them with JSON string literals."""

    messages: tuple[Message, ...]

    def render(self, instruction: str, first: str, second: str) -> list[dict[str, str]]:
        """The chat messages for one comparison, in the openai client's format."""
        values = {"instruction": instruction, "first": first, "second": second}
        return [
            {"role": m.role, "content": _PLACEHOLDER.sub(lambda mt: json.dumps(values[mt.group(1)]), m.content)}
            for m in self.messages
        ]

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this template in a judge's protocol hash."""
        return {"render": "alpaca_lc-json-literals-v1", "messages": [[m.role, m.content] for m in self.messages]}


def load_template(path: Path) -> PromptTemplate:
    """Read and validate a template: known roles, every placeholder used, no unknown placeholder."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such prompt template", path=path) from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read prompt template: {yaml_message(exc)}", path=path) from None
    if not isinstance(raw, dict) or set(raw) != {"messages"} or not isinstance(raw["messages"], list):
        raise InputError("a template is a mapping with one key, 'messages' (a list)", path=path)
    messages = []
    for i, msg in enumerate(raw["messages"], start=1):
        if not isinstance(msg, dict) or set(msg) != {"role", "content"} or not isinstance(msg["content"], str):
            raise InputError("each message needs exactly 'role' and 'content' (text)", path=path, record=i)
        if msg["role"] not in ("system", "user", "assistant"):
            raise InputError(f"unknown role {msg['role']!r}", path=path, record=i)
        messages.append(Message(msg["role"], msg["content"]))
    used = [name for m in messages for name in _PLACEHOLDER.findall(m.content)]
    unknown = sorted(set(used) - set(PLACEHOLDERS))
    if unknown:
        raise InputError(f"unknown placeholder(s) {', '.join('${' + u + '}' for u in unknown)}", path=path)
    missing = [p for p in PLACEHOLDERS if used.count(p) != 1]
    if missing:
        raise InputError(f"placeholder(s) {', '.join('${' + p + '}' for p in missing)} must appear once", path=path)
    return PromptTemplate(tuple(messages))
