"""Judge drift in the gate: is the judge that judged the previous release still the judge that judges this one?

A release is compared with one judged earlier, perhaps months earlier, perhaps under a name the provider can
point at another model (`gpt-4o`, `*-latest`). When the previous release's judgments are older than `DRIFT_DAYS`,
of unknown age (an annotations file), or made under such an alias, the gate re-judges a random sample of them
(`--drift-sample`, 100 by default) and tests whether the judge still agrees with itself (`stats.drift`). The sample
is judged under keys of its own, tagged with the day, so a gate run again the same day pays nothing twice. On drift
the gate stops (exit 3), or with `--rejudge-on-drift` the judgments of both releases made before this run are
superseded (kept in the cache, no longer served) and both releases are judged again.

Why 100: with a tolerated self-disagreement of 2%, 6 flips of 100 signal drift (a false alarm at most 1.6% of the
time when the judge flips exactly 2%), and a judge that flips 10% of verdicts more is caught ~94% of the time
(`benchmarks/drift_check.py`); 50 would catch it ~75% of the time. It costs about an eighth of judging a release.
Why 30 days: pinned snapshots are meant not to change, so a month-old judgment of one is checked at the price of
100 calls, a small insurance against a serving change; an alias is checked whatever its age.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from alpaca_lc.annotation.adapt import is_retired
from alpaca_lc.annotation.plan import Pair
from alpaca_lc.annotation.run import live_judge, run_annotate, supersede_judgments
from alpaca_lc.config import AnnotateConfig, GateConfig
from alpaca_lc.errors import IncompleteError, UsageError
from alpaca_lc.records.table import instruction_keys
from alpaca_lc.stats.drift import DriftTest, flip_test

if TYPE_CHECKING:
    from alpaca_lc.annotation.judge import Judge
    from alpaca_lc.annotation.plan import Tally
    from alpaca_lc.release.releases import PendingSample, Release

DRIFT_DAYS = 30
DETERMINISTIC_TOLERANCE = 0.02  # a judge whose preference is read from logprobs
SAMPLED_TOLERANCE = 0.10  # a judge whose verdict is read from sampled text (a reasoning judge), varying run to run
_PINNED = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{4}(-preview)?$|/")  # a dated snapshot, or weights by path or id


@dataclass(frozen=True)
class DriftCheck:
    """Why the previous release's judgments were checked, and what the check found (None: skipped, see `note`)."""

    reason: str
    test: DriftTest | None
    note: str = ""
    superseded: int = 0  # judgments no longer served, judged again (`--rejudge-on-drift`)

    @property
    def drifted(self) -> bool:
        return self.test is not None and self.test.drifted

    def line(self) -> str:
        """One line for the summary."""
        if self.test is None:
            return f"Judge drift check ({self.reason}): {self.note}."
        t = self.test
        verdict = "the judge **drifted**" if t.drifted else "no drift"
        done = (
            f"; {self.superseded} earlier judgments superseded and both releases judged again"
            if self.superseded
            else ""
        )
        return (f"Judge drift check ({self.reason}): {t.flips} of {t.compared} re-judged verdicts of the previous "
                f"release flipped (tolerance {t.tolerance:.0%}, p = {t.p_value:.3g}): {verdict}{done}.")  # fmt: skip


def alias(model: str) -> bool:
    """A model name the provider can point at another model: no dated snapshot in it (`gpt-4o`, `gpt-5.4-mini`,
    `chatgpt-4o-latest`), where `gpt-4.1-2025-04-14` or `gpt-4-1106-preview` is pinned."""
    return _PINNED.search(model) is None


def drift_due(config: GateConfig, model: str | None, judged_at: float | None, now: float) -> str | None:
    """Why the previous release's judgments must be checked (None: they need not be)."""
    if config.check_drift == "never":
        return None
    reasons = []
    if config.check_drift == "always":
        reasons.append("--check-drift")
    if judged_at is None:
        reasons.append("the previous release's judgments are of unknown age")
    elif now - judged_at > DRIFT_DAYS * 86400:
        reasons.append(f"the previous release was judged {(now - judged_at) / 86400:.0f} days ago")
    if model is not None and alias(model):
        reasons.append(f"{model} is an alias its provider can move")
    return "; ".join(reasons) or None


def tolerance_of(judge: Judge, config: GateConfig) -> float:
    """The flip rate an unchanged judge shows: the user's, else by the judge's decoding."""
    if config.drift_tolerance is not None:
        return config.drift_tolerance
    # A preference read from logprobs does not depend on sampling (temperature shapes the token drawn, not the
    # probabilities returned): only the provider's nondeterminism moves it. A verdict read from text is sampled.
    return DETERMINISTIC_TOLERANCE if judge.answer.kind == "logprob" else SAMPLED_TOLERANCE


def check_drift(candidate: list[PendingSample], pending: list[PendingSample], previous: Release, config: GateConfig,
                now: float) -> DriftCheck | None:  # fmt: skip
    """Re-judge a sample of the previous release's judgments and test the judge's agreement with itself, when due:
    only when the candidate is judged now (a candidate given as annotations was judged whenever it was, and the
    judge of now says nothing of that one).

    Args:
        candidate: the candidate's files, as read.
        pending: the previous release's files, as read.
        previous: the previous release, judged.
        config: the gate configuration.
        now: when this gate run started.
    """
    if all(sample.job is None for sample in candidate) and config.check_drift != "always":
        return None
    judge = live_judge(config.run)
    reason = drift_due(config, None if judge is None else judge.model, previous.judged_at, now)
    if reason is None:
        return None
    if judge is None or is_retired(judge):
        if config.check_drift == "always":
            raise UsageError("--check-drift re-judges the previous release, and this judge cannot be asked (retired, "
                             "or AlpacaEval's files are not installed)")  # fmt: skip
        return DriftCheck(reason, None, "skipped: the judge cannot be asked (retired, or AlpacaEval's files absent)")
    annotate, pairs, old = _sample(pending[0], previous, config, now)
    run = run_annotate(annotate, (previous.name, pairs))
    run.check_complete()
    new = np.array(run.preferences_at(instruction_keys(p.instruction for p in pairs)), dtype=float)
    return DriftCheck(reason, flip_test(old, new, tolerance_of(judge, config)))


def estimate_check(candidate: list[PendingSample], pending: list[PendingSample], config: GateConfig, now: float
                   ) -> Tally | None:  # fmt: skip
    """What the drift check would cost (`--dry-run`) when it is due whatever the judgments' age: under an alias,
    for annotations of unknown age, or with `--check-drift` (the age of cached judgments is known only when they
    are read: a month-old previous release adds its sample then)."""
    if all(sample.job is None for sample in candidate) and config.check_drift != "always":
        return None
    judge = live_judge(config.run)
    judged_at = None if any(p.job is None for p in pending) else now
    if judge is None or is_retired(judge):
        return None
    if drift_due(config, judge.model, judged_at, now) is None:
        return None
    annotate, pairs, _ = _sample(pending[0], None, config, now)
    return run_annotate(annotate.model_copy(update={"dry_run": True}), (pending[0].name, pairs)).estimate


def _sample(sample: PendingSample, previous: Release | None, config: GateConfig, now: float
            ) -> tuple[AnnotateConfig, list[Pair], np.ndarray]:  # fmt: skip
    """The pairs to re-judge (a seeded random sample of those with a verdict), their earlier preferences, and the
    judging job, under keys tagged with the day."""
    pairs = pairs_of(sample)
    old = np.full(len(pairs), np.nan)
    if previous is not None:
        at = {k: i for i, k in enumerate(previous.rows.key[: len(sample.keys)].tolist())}
        old = np.array([previous.rows.preference[at[k]] if k in at else np.nan
                        for k in instruction_keys(p.instruction for p in pairs).tolist()])  # fmt: skip
    usable = [i for i, p in enumerate(pairs) if p.output_1 != p.output_2 and (previous is None or not np.isnan(old[i]))]
    rng = np.random.default_rng(config.seed)
    chosen = sorted(rng.choice(usable, size=min(config.drift_sample, len(usable)), replace=False).tolist())
    tag = "recheck-" + time.strftime("%Y-%m-%d", time.gmtime(now))
    run = config.run.model_copy(update={"fresh": tag})
    annotate = AnnotateConfig(model_outputs=sample.path, reference=config.reference, eval_set=config.eval_set, run=run,
                              allow_partial=True, dry_run=config.dry_run)  # fmt: skip
    return annotate, [pairs[i] for i in chosen], old[chosen]


def pairs_of(sample: PendingSample) -> list[Pair]:
    """A release file's pairs: those its judging job has, else those of its annotations."""
    if sample.job is not None:
        return sample.job[1]
    return [Pair(instruction, out1, out2, "baseline", sample.name) for instruction, out1, out2 in
            zip(sample.instructions, sample.output_1, sample.output_2, strict=True)]  # fmt: skip


def rejudge_after_drift(
    samples: list[PendingSample], config: GateConfig, before: float
) -> tuple[list[PendingSample], int]:
    """Both releases' files to judge again: their cached judgments made before `before` superseded, and files of
    annotations turned into judging jobs of their pairs. The files, and how many judgments were superseded."""
    again, superseded = [], 0
    for sample in samples:
        annotate = AnnotateConfig(model_outputs=sample.path, reference=config.reference, eval_set=config.eval_set,
                                  run=config.run, allow_partial=True)  # fmt: skip
        pairs = pairs_of(sample)
        superseded += supersede_judgments(annotate, pairs, before)
        again.append(dataclasses.replace(sample, preferences=None, job=(annotate, pairs)))
    return again, superseded


def stop_line(check: DriftCheck) -> IncompleteError:
    """The one line a drifted judge stops the gate with (exit 3)."""
    assert check.test is not None
    t = check.test
    return IncompleteError(
        f"judge drift: re-judged, {t.flips} of {t.compared} verdicts of the previous release flipped (an unchanged "
        f"judge flips about {t.tolerance:.0%}, p = {t.p_value:.2g}, checked because {check.reason}): the releases "
        "would be compared by two different judges; re-run with --rejudge-on-drift to judge both again with today's "
        "judge, or --no-check-drift to compare them anyway"
    )
