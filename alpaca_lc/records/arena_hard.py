"""Arena-Hard-Auto's files as they are: judgment files (one line per prompt, two games) and answer files (the
answer and its style metadata), as the benchmark's `gen_judgment.py` and `gen_answer.py` write them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_lc.errors import InputError
from alpaca_lc.records.arena_style import Encode, style_metadata
from alpaca_lc.records.jsonio import read_json_records
from alpaca_lc.records.thinking import DEFAULT_TAGS, split_thought
from alpaca_lc.stats.arena import STYLE_FEATURES

Style = tuple[float, float, float, float]


@dataclass(frozen=True)
class ArenaJudgment:
    """One prompt's two games: the baseline as assistant A, then swapped; a verdict is None when it failed."""

    uid: str
    category: str
    model: str
    baseline: str
    judge: str
    verdicts: tuple[str | None, str | None]


def _text(rec: dict[str, Any], field: str, path: Path, record: int) -> str:
    value = rec.get(field)
    if not isinstance(value, str) or not value:
        raise InputError(f"'{field}' is missing or not a string", path=path, record=record)
    return value


def _verdict(game: Any, path: Path, record: int) -> str | None:
    """A game's verdict label; a game the reference recorded as null (its call failed) has none."""
    if game is None:
        return None
    if not isinstance(game, dict) or "score" not in game:
        raise InputError("each game must be null or an object with a 'score'", path=path, record=record)
    score = game["score"]
    if score is not None and not isinstance(score, str):
        raise InputError(f"a game's 'score' must be a verdict label or null, not {score!r}", path=path, record=record)
    return score


def read_judgments(path: Path) -> list[ArenaJudgment]:
    """Read a judgment file in the format `gen_judgment.py` writes (JSONL, one prompt a line)."""
    out = []
    for i, rec in enumerate(read_json_records(path), start=1):
        games = rec.get("games")
        if not isinstance(games, list) or len(games) != 2:
            raise InputError("'games' must hold two games (the baseline as A, then swapped)", path=path, record=i)
        out.append(
            ArenaJudgment(
                uid=_text(rec, "uid", path, i),
                category=_text(rec, "category", path, i),
                model=_text(rec, "model", path, i).split("/")[-1],  # the reference drops a model path too
                baseline=_text(rec, "baseline", path, i),
                judge=str(rec.get("judge") or "unknown"),
                verdicts=(_verdict(games[0], path, i), _verdict(games[1], path, i)),
            )
        )
    return out


def _count(value: Any, field: str, path: Path, record: int) -> float:
    """A style count: a number, or a dict of counts summed (the reference sums h1..h6, list kinds, bold kinds)."""
    parts = list(value.values()) if isinstance(value, dict) else [value]
    if not parts or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in parts):
        raise InputError(f"metadata '{field}' must be a count or a dict of counts", path=path, record=record)
    return float(sum(parts))


@dataclass(frozen=True)
class AnswerStyle:
    """One model's answers' style metadata by prompt uid (columns as `stats.arena.STYLE_FEATURES`)."""

    model: str
    style: dict[str, Style]


def read_answer_style(path: Path, token_length: Callable[[], Encode] | None = None) -> AnswerStyle:
    """Read the style metadata of an answer file in the format `gen_answer.py` writes, as it stands; an answer
    without it gets it computed as the benchmark computes it, when `token_length` can give tiktoken's count.

    Args:
        path: the answer file.
        token_length: gives the gpt-4o token count (called once, when an answer lacks metadata); None: refuse such
            answers.
    """
    model, style = "", {}
    count: Encode | None = None
    for i, rec in enumerate(read_json_records(path), start=1):
        name = _text(rec, "model", path, i)
        if model and name != model:
            raise InputError(f"holds answers of '{model}' and '{name}': one model per file", path=path, record=i)
        model = name
        meta = rec.get("metadata")
        if not isinstance(meta, dict) or any(f not in meta for f in STYLE_FEATURES):
            if token_length is None:
                raise InputError(f"'metadata' must hold {', '.join(STYLE_FEATURES)}", path=path, record=i)
            count = count or token_length()
            meta = style_metadata(split_thought(_answer_text(rec, path, i)).answer, count)  # the answer, no thought
        counts = [_count(meta[f], f, path, i) for f in STYLE_FEATURES]
        style[_text(rec, "uid", path, i)] = (counts[0], counts[1], counts[2], counts[3])
    return AnswerStyle(model, style)


@dataclass(frozen=True)
class Question:
    """One prompt of the benchmark's eval set."""

    uid: str
    category: str
    prompt: str


def read_questions(path: Path) -> dict[str, Question]:
    """Read the eval set (`question.jsonl`: uid, category, subcategory, prompt), by uid."""
    out: dict[str, Question] = {}
    for i, rec in enumerate(read_json_records(path), start=1):
        question = Question(_text(rec, "uid", path, i), _text(rec, "category", path, i), _text(rec, "prompt", path, i))
        if question.uid in out:
            raise InputError(f"uid '{question.uid}' appears twice", path=path, record=i)
        out[question.uid] = question
    return out


@dataclass(frozen=True)
class Answers:
    """One model's answers by uid (the answer apart from any thought), and where each came from."""

    model: str
    answers: dict[str, str]
    records: dict[str, int]
    path: Path


def _answer_text(rec: dict[str, Any], path: Path, record: int) -> str:
    messages = rec.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    content = last.get("content") if isinstance(last, dict) else None
    answer = content.get("answer") if isinstance(content, dict) else content
    if not isinstance(answer, str):
        raise InputError("no answer: expected messages[-1].content.answer (gen_answer.py's format)", path=path,
                         record=record)  # fmt: skip
    return answer


def read_answers(path: Path, tags: tuple[str, str] | None = DEFAULT_TAGS) -> Answers:
    """Read a model's answers in the format `gen_answer.py` writes; a thought between `tags` is split off (None:
    answers kept whole)."""
    model, answers, records = "", {}, {}
    for i, rec in enumerate(read_json_records(path), start=1):
        name = _text(rec, "model", path, i)
        if model and name != model:
            raise InputError(f"holds answers of '{model}' and '{name}': one model per file", path=path, record=i)
        model, uid = name, _text(rec, "uid", path, i)
        if uid in answers:
            raise InputError(f"uid '{uid}' is answered twice", path=path, record=i)
        text = _answer_text(rec, path, i)
        answers[uid] = text if tags is None else split_thought(text, tags).answer
        records[uid] = i
    return Answers(model, answers, records, path)


def answer_records(outputs: list[dict[str, Any]], uids: list[str], token_length: Encode | None,
                   now: float) -> list[dict[str, Any]]:  # fmt: skip
    """Generated outputs (alpaca-lc's records) in the answer format `gen_answer.py` writes, a line per prompt: the
    question and the answer as messages, the thought (when one was split off) beside the answer, and the style
    metadata when the token count can be had (None: without `metadata`; style control computes it later).

    Args:
        outputs: the generation records (`instruction`, `output`, `generator`, maybe `reasoning`).
        uids: each record's prompt uid.
        token_length: tiktoken's gpt-4o token count, or None.
        now: the timestamp written as `tstamp`.
    """
    lines = []
    for record, uid in zip(outputs, uids, strict=True):
        content: dict[str, Any] = {"answer": record["output"]}
        if record.get("reasoning") is not None:
            content["reasoning"] = record["reasoning"]
        ans_id = hashlib.sha256(f"{uid}\0{record['generator']}\0{record['output']}".encode()).hexdigest()[:22]
        line: dict[str, Any] = {
            "uid": uid, "ans_id": ans_id, "model": record["generator"],
            "messages": [{"role": "user", "content": record["instruction"]},
                         {"role": "assistant", "content": content}],
            "tstamp": now,
        }  # fmt: skip
        if token_length is not None:
            line["metadata"] = style_metadata(record["output"], token_length)
        lines.append(line)
    return lines
