"""Arena-Hard-Auto scores from judgment and answer files: the battles, the plain score against the baseline,
and the style-controlled score, one category at a time (each category has its own baseline)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alpaca_lc.errors import InputError
from alpaca_lc.records.arena_hard import AnswerStyle, ArenaJudgment
from alpaca_lc.stats.arena import (
    CONTROLS,
    LEVEL,
    ROUNDS,
    STYLE_FEATURES,
    Battles,
    Score,
    StyleControlled,
    game_outcome,
    plain_scores,
    style_controlled,
    style_differences,
)


@dataclass(frozen=True)
class CategoryBattles:
    """The battles of one category, which prompt each came from, and what was dropped."""

    battles: Battles
    uids: list[str]
    baseline: str
    prompts: dict[str, int]  # per model: prompts judged (failed ones included)
    failed: dict[str, int]  # per model: prompts with a failed game; both games are dropped, as the reference does


def category_battles(judgments: Sequence[ArenaJudgment], category: str) -> CategoryBattles:
    """Battles of `category`: each prompt's two games, or neither when one failed.

    Args:
        judgments: judgments of any categories; only `category`'s are used.
        category: e.g. "hard_prompt".
    """
    mine = [j for j in judgments if j.category == category]
    if not mine:
        raise InputError(f"no judgments of category '{category}'")
    baselines = {j.baseline for j in mine}
    if len(baselines) > 1:
        raise InputError(f"category '{category}' was judged against several baselines: {', '.join(sorted(baselines))}")
    names: list[str] = []
    rows: list[tuple[float, int]] = []
    uids: list[str] = []
    prompts, failed = Counter(j.model for j in mine), Counter[str]()
    for j in mine:
        first, second = game_outcome(j.verdicts[0], model_is_a=False), game_outcome(j.verdicts[1], model_is_a=True)
        if first is None or second is None:
            failed[j.model] += 1
            continue
        names += [j.model, j.model]
        rows += [first, second]
        uids += [j.uid, j.uid]
    if not names:
        raise InputError(f"no games left to score in category '{category}': every prompt has a failed game (no "
                         "verdict, or a failed call)")  # fmt: skip
    models = tuple(sorted(set(names)))  # a model whose every prompt failed has no score (said in the notes)
    index = {m: i for i, m in enumerate(models)}
    table = np.array(rows, dtype=float).reshape(-1, 2)
    battles = Battles(models, np.array([index[n] for n in names], dtype=np.int64), table[:, 0], table[:, 1])
    return CategoryBattles(battles, uids, baselines.pop(), dict(prompts), {m: failed[m] for m in prompts})


def _style_of(styles: dict[str, AnswerStyle], model: str, uid: str) -> tuple[float, ...]:
    answers = styles.get(model)
    if answers is None:
        raise InputError(f"no answer file with style metadata for '{model}' (pass it with --answers)")
    if uid not in answers.style:
        raise InputError(f"the answers of '{model}' have no answer to prompt '{uid}'")
    return answers.style[uid]


def style_features(battles: CategoryBattles, styles: dict[str, AnswerStyle]) -> np.ndarray:
    """Each battle's style differences, model against baseline (columns as `STYLE_FEATURES`)."""
    names = [battles.battles.models[m] for m in battles.battles.model]
    model = np.array([_style_of(styles, n, u) for n, u in zip(names, battles.uids, strict=True)])
    baseline = np.array([_style_of(styles, battles.baseline, u) for u in battles.uids])
    return style_differences(model.reshape(-1, 4), baseline.reshape(-1, 4))


def control_columns(control: str) -> tuple[int, ...]:
    """The feature columns a `--control` value names: length, markdown, or both."""
    key = ",".join(sorted(c.strip() for c in control.split(",") if c.strip()))
    if key not in CONTROLS:
        raise InputError(f"unknown style control '{control}': choose length, markdown, or length,markdown")
    return CONTROLS[key]


def score_category(
    battles: CategoryBattles,
    styles: dict[str, AnswerStyle] | None,
    control: str | None,
    *,
    rounds: int = ROUNDS,
    seed: int = 0,
    level: float = LEVEL,
) -> list[Score] | StyleControlled:
    """Plain scores, or style-controlled ones when `control` names features (then `styles` is required)."""
    if not control:
        return plain_scores(battles.battles, rounds=rounds, seed=seed, level=level)
    columns = control_columns(control)
    features = style_features(battles, styles or {})[:, list(columns)]
    names = tuple(STYLE_FEATURES[c] for c in columns)
    return style_controlled(battles.battles, features, names, rounds=rounds, seed=seed, level=level)
