"""Renderings of a gate decision: Markdown (decision first), JSON for machines, JUnit XML for CI dashboards."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET
from statistics import NormalDist
from typing import Any

from alpaca_lc.release.gate import Check, GateResult
from alpaca_lc.release.releases import Release

_BADGE = {"pass": "✅ PASS", "fail": "❌ FAIL", "inconclusive": "⚠️ INCONCLUSIVE"}


def to_markdown(result: GateResult) -> str:
    """The summary for a pull request or `$GITHUB_STEP_SUMMARY`."""
    level = 2 * result.confidence - 1
    lines = [f"## alpaca-lc release gate: {_BADGE[result.outcome]}", ""]
    lines += ["| check | outcome | detail |", "|:---|:---|:---|"]
    for c in result.checks:
        more = _settle(c)
        lines.append(f"| {c.name} | {c.outcome} | {c.detail}.{more} |")
    lines += ["", f"LC intervals: {level:.0%} two-sided (their ends are {result.confidence:.0%} one-sided bounds).", ""]
    lines += ["| release | LC win rate | win rate | avg length | judgments |", "|:---|---:|---:|---:|---:|"]
    lines.append(_row("candidate", result.candidate, result.lc_candidate, result.lc_candidate_interval))
    if result.previous is not None and result.paired is not None:
        p = result.paired
        lines.append(_row("previous", result.previous, p.lc_previous, p.previous_interval))
        change = result.candidate.avg_length - result.previous.avg_length
        low, high = p.difference_interval
        lines += [
            "",
            f"LC change (paired, {p.n_instructions} shared instructions): {p.difference:+.2f} "
            f"[{low:+.2f}, {high:+.2f}];"
            f" average length change: {change:+d} characters. At this precision a true LC drop of"
            f" {detectable_drop(result):.1f} points beyond `--max-drop` would be caught 80% of the time.",
        ]
    coverage = result.candidate.coverage
    if coverage is not None and coverage.partial:
        lines += ["", f"**Partial**: judged on {coverage.describe()}; a smoke test, not a decision on the eval set."]
    flags = result.candidate.flags
    lines += ["", "Screening: " + ("no flags." if not flags else "; ".join(f"**{f.name}**: {f.reason}" for f in flags))]
    lines += ["", result.drift.line()] if result.drift is not None else []
    lines += ["", *(f"Note: {note}." for note in result.notes)] if result.notes else []
    return "\n".join(lines) + "\n"


def detectable_drop(result: GateResult) -> float:
    """The true drop beyond the threshold the paired test would catch 80% of the time, from the difference's SE."""
    assert result.paired is not None
    normal = NormalDist()
    return float((normal.inv_cdf(result.confidence) + normal.inv_cdf(0.80)) * result.paired.difference_se)


def _settle(check: Check) -> str:
    if not check.more_instructions:
        return ""
    return (f" About {check.more_instructions:,} more instructions would settle it, or {check.samples_needed} sampled"
            " outputs per instruction if the difference is mostly judgment noise.")  # fmt: skip


def _row(label: str, release: Release, lc: float, interval: tuple[float, float]) -> str:
    se, wr = release.raw.standard_error, release.raw.win_rate
    lc_cell = f"{lc:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]"
    wr_cell = f"{wr:.1f} [{wr - 1.96 * se:.1f}, {wr + 1.96 * se:.1f}]"
    judged = f"{release.raw.n_total}" + (f" ({release.samples} per instruction)" if release.samples > 1 else "")
    return f"| {label} ({release.name}) | {lc_cell} | {wr_cell} | {release.avg_length} | {judged} |"


def _release(r: Release, lc: float, interval: tuple[float, float]) -> dict[str, Any]:
    return {
        "name": r.name,
        "lc": lc,
        "lc_interval": interval,
        "win_rate": r.raw.win_rate,
        "standard_error": r.raw.standard_error,
        "n_total": r.raw.n_total,
        "samples": r.samples,
        "avg_length": r.avg_length,
        "flags": [{"name": f.name, "reason": f.reason} for f in r.flags],
        "coverage": None if r.coverage is None else {"instructions": r.coverage.covered, "eval_set": r.coverage.total,
                                                     "partial_by": r.coverage.allowed_by or None},
    }  # fmt: skip


def to_json(result: GateResult) -> str:
    """Everything the decision rests on."""
    out: dict[str, Any] = {
        "outcome": result.outcome,
        "exit_code": result.exit_code,
        "confidence": result.confidence,
        "checks": [c.__dict__ for c in result.checks],
        "notes": result.notes,
        "candidate": _release(result.candidate, result.lc_candidate, result.lc_candidate_interval),
        "previous": None,
        "paired": None,
        "drift": None if result.drift is None else {
            "reason": result.drift.reason, "note": result.drift.note, "superseded": result.drift.superseded,
            "test": None if result.drift.test is None else dataclasses.asdict(result.drift.test),
        },
    }  # fmt: skip
    p = result.paired
    if result.previous is not None and p is not None:
        out["previous"] = _release(result.previous, p.lc_previous, p.previous_interval)
        out["paired"] = {
            "n_instructions": p.n_instructions,
            "lc_difference": p.difference,
            "lc_difference_interval": p.difference_interval,
            "lc_difference_se": p.difference_se,
            "detectable_drop_80": detectable_drop(result),
        }
    return json.dumps(out, indent=2) + "\n"


def to_junit(result: GateResult) -> str:
    """One test case per check; a failing check is a failure, an inconclusive one when it decides the exit."""

    def failed(outcome: str) -> bool:
        return outcome == "fail" or (outcome == "inconclusive" and result.exit_code != 0)

    n_failed = sum(failed(c.outcome) for c in result.checks)
    suite = ET.Element("testsuite", name="alpaca-lc gate", tests=str(len(result.checks)), failures=str(n_failed))
    for c in result.checks:
        case = ET.SubElement(suite, "testcase", classname="alpaca_lc.release.gate", name=c.name)
        if failed(c.outcome):
            ET.SubElement(case, "failure", message=f"{c.outcome}: {c.detail}")
        ET.SubElement(case, "system-out").text = f"{c.outcome}: {c.detail}"
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
