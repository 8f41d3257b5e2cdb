"""The alignment verdict of one objective (DESIGN §9): pace, KPI status and talent health combined.

The verdict is the worst of what each rule gives; reasons say which rule gave what, with the
figures behind it. Pure: the composition layer gathers the inputs (one call per service) and
this module only judges, so every rule can be tested alone and together::

    judged = judge(ObjectiveFacts(pace=PaceStatus.on_track, ...), owner=OwnerHealth(...), thresholds)
    judged.verdict, [r.code for r in judged.reasons]

Reading of §9 where it is terse: every rule that has data gives a verdict (a green KPI or a team
whose figures are within bounds gives ``on_track``), so ``unknown`` means that nothing — no pace, no
KPI status, no talent figure — could be judged. Informational reasons (``kpi_amber``,
``kpi_no_target``, ``overconfident``, ``no_action_plan``, ``initiative_overdue``) never downgrade.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.contracts.kpi import Status
from shared.contracts.strategy import PaceStatus


class Verdict(StrEnum):
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"
    unknown = "unknown"


_SEVERITY = {Verdict.on_track: 0, Verdict.at_risk: 1, Verdict.off_track: 2}
_PACE_VERDICT = {
    PaceStatus.achieved: Verdict.on_track,
    PaceStatus.on_track: Verdict.on_track,
    PaceStatus.not_started: Verdict.on_track,
    PaceStatus.at_risk: Verdict.at_risk,
    PaceStatus.off_track: Verdict.off_track,
}
_KPI_DOWNGRADES = {Status.red: "kpi_red", Status.stale: "kpi_stale", Status.no_data: "kpi_no_data"}
_KPI_NOTES = {Status.amber: "kpi_amber", Status.no_target: "kpi_no_target"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    skill_coverage: float = 0.8  # below: skill_gap
    turnover: float = 0.15  # above (over the last 365 days): high_turnover
    enps: float = 0.0  # below: low_engagement
    confidence: float = 0.7  # stated at least this while the forecast is below it: overconfident


@dataclass(frozen=True, slots=True)
class KeyResultFacts:
    id: uuid.UUID
    title: str
    kpi: str | None = None  # the linked KPI's key
    kpi_status: Status | None = None  # None: not linked, or the KPI service could not say
    kpi_value: float | None = None
    confidence: float | None = None
    forecast_progress: float | None = None


@dataclass(frozen=True, slots=True)
class InitiativeFacts:
    id: uuid.UUID
    title: str
    open: bool
    overdue: bool
    kpi: str | None = None
    key_result_id: uuid.UUID | None = None
    objective_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ObjectiveFacts:
    id: uuid.UUID
    cancelled: bool
    pace: PaceStatus
    progress: float | None
    expected_progress: float
    key_results: Sequence[KeyResultFacts] = ()
    initiatives: Sequence[InitiativeFacts] = ()  # aimed at it, its key results or their KPIs


@dataclass(frozen=True, slots=True)
class MissingSkill:
    skill: str
    level: int
    missing: int


@dataclass(frozen=True, slots=True)
class OwnerHealth:
    """The owner unit's figures; None where unknown (no requirement, no survey, nobody employed)."""

    skill_coverage: float | None = None
    missing_skills: Sequence[MissingSkill] = ()
    turnover_rate: float | None = None  # over the last 365 days
    enps: float | None = None  # latest survey, unless suppressed


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    source: str  # strategy | kpi | talent
    message: str
    downgrades_to: Verdict | None = None  # None: reported without downgrading
    figures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "source": self.source, "message": self.message, **self.figures}


@dataclass(frozen=True, slots=True)
class Judged:
    verdict: Verdict | None  # None for a cancelled objective
    reasons: list[Reason]


def _pace_reasons(facts: ObjectiveFacts, given: list[Verdict]) -> list[Reason]:
    verdict = _PACE_VERDICT.get(facts.pace)
    if verdict is None:  # no_data: nothing measurable, no verdict of its own
        return []
    given.append(verdict)
    if verdict is Verdict.on_track:
        return []
    return [
        Reason(
            f"pace_{facts.pace.value}",
            "strategy",
            f"Progress {facts.progress:.0%} against {facts.expected_progress:.0%} of the period elapsed.",
            verdict,
            {"progress": facts.progress, "expected_progress": facts.expected_progress},
        )
    ]


def _kpi_reasons(facts: ObjectiveFacts, given: list[Verdict]) -> list[Reason]:
    reasons = []
    for kr in facts.key_results:
        if kr.kpi is None or kr.kpi_status is None:
            continue
        figures = {"key_result_id": str(kr.id), "kpi": kr.kpi, "status": kr.kpi_status.value, "value": kr.kpi_value}
        if code := _KPI_DOWNGRADES.get(kr.kpi_status):
            given.append(Verdict.at_risk)
            reasons.append(
                Reason(code, "kpi", f"KPI {kr.kpi} of “{kr.title}” is {kr.kpi_status.value}.", Verdict.at_risk, figures)
            )
            continue
        given.append(Verdict.on_track)
        if code := _KPI_NOTES.get(kr.kpi_status):
            reasons.append(
                Reason(code, "kpi", f"KPI {kr.kpi} of “{kr.title}” is {kr.kpi_status.value}.", None, figures)
            )
    return reasons


def _talent_reasons(owner: OwnerHealth | None, thresholds: Thresholds, given: list[Verdict]) -> list[Reason]:
    if owner is None:
        return []
    reasons = []
    if owner.skill_coverage is not None:
        short = owner.skill_coverage < thresholds.skill_coverage
        given.append(Verdict.at_risk if short else Verdict.on_track)
        if short:
            missing = [{"skill": m.skill, "level": m.level, "missing": m.missing} for m in owner.missing_skills]
            reasons.append(
                Reason(
                    "skill_gap",
                    "talent",
                    f"The owner team covers {owner.skill_coverage:.0%} of its required skills "
                    f"(below {thresholds.skill_coverage:.0%}).",
                    Verdict.at_risk,
                    {
                        "skill_coverage": owner.skill_coverage,
                        "threshold": thresholds.skill_coverage,
                        "missing": missing,
                    },
                )
            )
    if owner.turnover_rate is not None:
        high = owner.turnover_rate > thresholds.turnover
        given.append(Verdict.at_risk if high else Verdict.on_track)
        if high:
            reasons.append(
                Reason(
                    "high_turnover",
                    "talent",
                    f"The owner team's turnover over the last 365 days is {owner.turnover_rate:.0%} "
                    f"(above {thresholds.turnover:.0%}).",
                    Verdict.at_risk,
                    {"turnover_rate": owner.turnover_rate, "threshold": thresholds.turnover},
                )
            )
    if owner.enps is not None:
        low = owner.enps < thresholds.enps
        given.append(Verdict.at_risk if low else Verdict.on_track)
        if low:
            reasons.append(
                Reason(
                    "low_engagement",
                    "talent",
                    f"The owner team's latest eNPS is {owner.enps:g} (below {thresholds.enps:g}).",
                    Verdict.at_risk,
                    {"enps": owner.enps, "threshold": thresholds.enps},
                )
            )
    return reasons


def _notes(facts: ObjectiveFacts, thresholds: Thresholds) -> list[Reason]:
    reasons = []
    for kr in facts.key_results:
        confident = kr.confidence is not None and kr.confidence >= thresholds.confidence
        if confident and kr.forecast_progress is not None and kr.forecast_progress < thresholds.confidence:
            reasons.append(
                Reason(
                    "overconfident",
                    "strategy",
                    f"“{kr.title}” states {kr.confidence:.0%} confidence, but its forecast reaches "
                    f"{kr.forecast_progress:.0%} of the target.",
                    None,
                    {
                        "key_result_id": str(kr.id),
                        "confidence": kr.confidence,
                        "forecast_progress": kr.forecast_progress,
                    },
                )
            )
    open_plans = [i for i in facts.initiatives if i.open]
    for kr in facts.key_results:
        if kr.kpi is None or kr.kpi_status is not Status.red:
            continue
        covered = any(i.kpi == kr.kpi or i.key_result_id == kr.id or i.objective_id == facts.id for i in open_plans)
        if not covered:
            reasons.append(
                Reason(
                    "no_action_plan",
                    "strategy",
                    f"KPI {kr.kpi} is red and no open initiative is aimed at it, its key result or the objective.",
                    None,
                    {"key_result_id": str(kr.id), "kpi": kr.kpi},
                )
            )
    for initiative in open_plans:
        if initiative.overdue:
            reasons.append(
                Reason(
                    "initiative_overdue",
                    "strategy",
                    f"Initiative “{initiative.title}” is past its due date and still open.",
                    None,
                    {"initiative_id": str(initiative.id)},
                )
            )
    return reasons


def judge(facts: ObjectiveFacts, owner: OwnerHealth | None, thresholds: Thresholds) -> Judged:
    """The objective's own verdict (children do not roll up into it) and its reasons, worst first."""
    if facts.cancelled:
        return Judged(None, [])
    given: list[Verdict] = []
    reasons = [
        *_pace_reasons(facts, given),
        *_kpi_reasons(facts, given),
        *_talent_reasons(owner, thresholds, given),
        *_notes(facts, thresholds),
    ]
    verdict = max(given, key=_SEVERITY.__getitem__) if given else Verdict.unknown
    reasons.sort(key=lambda r: -_SEVERITY[r.downgrades_to] if r.downgrades_to else 1)  # stable: rule order kept
    return Judged(verdict, reasons)
