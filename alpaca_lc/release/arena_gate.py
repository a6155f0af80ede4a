"""`gate --benchmark arena-hard-v2.0`: judge a candidate release's and the previous release's answers against the
category baselines, and compare their scores paired by prompt, one check per category."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alpaca_lc.annotation.arena_run import ArenaAnnotateConfig, ArenaAnnotateRun, run_arena_annotate
from alpaca_lc.errors import InputError
from alpaca_lc.records.arena_hard import ArenaJudgment
from alpaca_lc.scoring.arena import CategoryBattles, category_battles
from alpaca_lc.stats.arena import PairedScores, paired_scores


@dataclass(frozen=True)
class ArenaGateConfig:
    """The two releases' answer files, how to judge them, and the decision's rule."""

    candidate: tuple[Path, ...]  # one answer file per sampled answer set of the release (pooled by prompt)
    previous: tuple[Path, ...]
    annotate: ArenaAnnotateConfig  # its `answers` is replaced by each release's
    max_drop: float = 0.0  # points: fail when the score drops significantly more than this
    confidence: float = 0.95
    on_inconclusive: str = "fail"
    rounds: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class CategoryCheck:
    """One category's comparison and its outcome."""

    category: str
    outcome: str  # pass, fail, inconclusive
    paired: PairedScores


@dataclass
class ArenaGateResult:
    """The decision and the checks behind it."""

    outcome: str
    checks: list[CategoryCheck]
    confidence: float
    max_drop: float
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail."""
        return 0 if self.outcome == "pass" else 1

    def markdown(self) -> str:
        """The summary a CI job shows."""
        lines = [f"## Release gate (Arena-Hard-Auto v2.0): **{self.outcome.upper()}**", "",
                 "| category | prompts | candidate | previous | difference | one-sided bounds | outcome |",
                 "|:---|---:|---:|---:|---:|---:|:---|"]  # fmt: skip
        for c in self.checks:
            p = c.paired
            bounds = f"[{100 * p.low:+.1f}, {100 * p.high:+.1f}]"
            lines.append(f"| {c.category} | {p.prompts} | {100 * p.candidate:.1f} | {100 * p.previous:.1f} | "
                         f"{100 * p.difference:+.1f} | {bounds} | {c.outcome} |")  # fmt: skip
        lines += ["", f"Scores against each category's baseline, in percent; the bounds are one-sided at "
                  f"{100 * self.confidence:.0f}%, paired by prompt; a drop significantly beyond {self.max_drop:g} "
                  "points fails.", *[f"- {n}" for n in self.notes]]  # fmt: skip
        return "\n".join(lines) + "\n"

    def to_json(self) -> str:
        """The decision and its figures."""
        return json.dumps({"outcome": self.outcome, "confidence": self.confidence, "max_drop": self.max_drop,
                           "checks": [{"category": c.category, "outcome": c.outcome, **dataclasses.asdict(c.paired)}
                                      for c in self.checks], "notes": self.notes}, indent=2) + "\n"  # fmt: skip


def _judged(config: ArenaGateConfig, samples: tuple[Path, ...], role: str
            ) -> tuple[list[ArenaAnnotateRun], list[ArenaJudgment]]:  # fmt: skip
    """Each sample of a release judged; their judgments under one name (the release), so a prompt's battles pool
    every sample's games."""
    runs, judgments = [], []
    for answers in samples:
        run = run_arena_annotate(dataclasses.replace(config.annotate, answers=answers))
        run.check_complete()
        runs.append(run)
        for r in run.records():
            verdicts = (r["games"][0]["score"], r["games"][1]["score"])
            judgments.append(ArenaJudgment(r["uid"], r["category"], role, r["baseline"], r["judge"], verdicts))
    return runs, judgments


def _check_covers(candidate: list[ArenaJudgment], previous: list[ArenaJudgment], path: Path) -> None:
    """A candidate is compared on every prompt the previous release was judged on: one that answers fewer never
    passes on the rest (exit 2, what it misses)."""
    have = {(j.category, j.uid) for j in candidate}
    needed = {(j.category, j.uid) for j in previous}
    missing = sorted(needed - have)
    if missing:
        raise InputError(f"answers {len(needed) - len(missing)} of the {len(needed)} prompts the previous release was "
                         f"judged on (first missing: {missing[0][1]}): a release is compared on all of them",
                         path=path)  # fmt: skip


def _per_prompt(battles: CategoryBattles) -> dict[str, tuple[float, float]]:
    """Each prompt's (sum of weighted outcomes, sum of weights) over its two games."""
    out: dict[str, tuple[float, float]] = {}
    b = battles.battles
    for uid, outcome, weight in zip(battles.uids, b.outcome, b.weight, strict=True):
        s, w = out.get(uid, (0.0, 0.0))
        out[uid] = (s + float(outcome * weight), w + float(weight))
    return out


def _decide(paired: PairedScores, config: ArenaGateConfig) -> str:
    if paired.high < -config.max_drop / 100:
        return "fail"
    if paired.low >= -config.max_drop / 100:
        return "pass"
    return "inconclusive"


def run_arena_gate(config: ArenaGateConfig) -> ArenaGateResult:
    """Judge both releases (from the cache where it can), then compare each category paired by prompt."""
    candidate_runs, candidate = _judged(config, config.candidate, "candidate")
    _, previous = _judged(config, config.previous, "previous")
    _check_covers(candidate, previous, config.candidate[0])
    checks, notes = [], list(candidate_runs[0].notes)
    for category in sorted({j.category for j in candidate}):
        both = category_battles([*candidate, *previous], category)
        if set(both.battles.models) != {"candidate", "previous"}:
            raise InputError(f"category '{category}': a release has no scored game (every prompt failed)")
        sides = [_per_prompt(_only(both, role)) for role in ("candidate", "previous")]
        shared = sorted(set(sides[0]) & set(sides[1]))
        if len(shared) < len(sides[0]) or len(shared) < len(sides[1]):
            notes.append(f"{category}: compared on the {len(shared)} prompts both releases have scored games on")
        arrays = [np.array([side[u] for u in shared]) for side in sides]
        paired = paired_scores(arrays[0], arrays[1], rounds=config.rounds, seed=config.seed,
                               confidence=config.confidence)  # fmt: skip
        checks.append(CategoryCheck(category, _decide(paired, config), paired))
    outcomes = {c.outcome for c in checks}
    outcome = "fail" if "fail" in outcomes else "pass" if outcomes == {"pass"} else config.on_inconclusive
    return ArenaGateResult(outcome, checks, config.confidence, config.max_drop, notes)


def _only(battles: CategoryBattles, role: str) -> CategoryBattles:
    index = battles.battles.models.index(role)
    keep = battles.battles.model == index
    b = battles.battles
    chosen = dataclasses.replace(b, models=(role,), model=np.zeros(int(keep.sum()), dtype=np.int64),
                                 outcome=b.outcome[keep], weight=b.weight[keep])  # fmt: skip
    uids = [u for u, k in zip(battles.uids, keep.tolist(), strict=True) if k]
    return dataclasses.replace(battles, battles=chosen, uids=uids)
