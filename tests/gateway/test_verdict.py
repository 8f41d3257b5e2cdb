"""Each §9 verdict rule alone, at its edges, and combined (the worst wins)."""

from __future__ import annotations

import uuid

import pytest

from services.gateway.verdict import (
    InitiativeFacts,
    Judged,
    KeyResultFacts,
    MissingSkill,
    ObjectiveFacts,
    OwnerHealth,
    Thresholds,
    Verdict,
    judge,
)
from shared.contracts.kpi import Status
from shared.contracts.strategy import PaceStatus

OBJECTIVE = uuid.uuid4()
T = Thresholds()


def facts(
    pace: PaceStatus = PaceStatus.no_data,
    *krs: KeyResultFacts,
    initiatives: tuple[InitiativeFacts, ...] = (),
    cancelled: bool = False,
) -> ObjectiveFacts:
    return ObjectiveFacts(OBJECTIVE, cancelled, pace, 0.4, 0.5, krs, initiatives)


def kr(status: Status | None = None, *, kpi: str | None = "sales.revenue", **more: float) -> KeyResultFacts:
    return KeyResultFacts(uuid.uuid4(), "Grow revenue", kpi, status, 10.0, **more)


def codes(judged: Judged) -> list[str]:
    return [r.code for r in judged.reasons]


@pytest.mark.parametrize(
    ("pace", "verdict"),
    [
        (PaceStatus.achieved, Verdict.on_track),
        (PaceStatus.on_track, Verdict.on_track),
        (PaceStatus.not_started, Verdict.on_track),
        (PaceStatus.at_risk, Verdict.at_risk),
        (PaceStatus.off_track, Verdict.off_track),
        (PaceStatus.no_data, Verdict.unknown),  # no verdict of its own, and nothing else to judge
    ],
)
def test_pace_alone(pace: PaceStatus, verdict: Verdict) -> None:
    assert judge(facts(pace), None, T).verdict is verdict


def test_pace_reason_carries_the_figures() -> None:
    (reason,) = judge(facts(PaceStatus.off_track), None, T).reasons
    assert reason.as_dict() == {
        "code": "pace_off_track",
        "source": "strategy",
        "message": "Progress 40% against 50% of the period elapsed.",
        "progress": 0.4,
        "expected_progress": 0.5,
    }


@pytest.mark.parametrize(
    ("status", "verdict", "reason"),
    [
        (Status.red, Verdict.at_risk, ["kpi_red", "no_action_plan"]),
        (Status.stale, Verdict.at_risk, ["kpi_stale"]),
        (Status.no_data, Verdict.at_risk, ["kpi_no_data"]),
        (Status.amber, Verdict.on_track, ["kpi_amber"]),
        (Status.no_target, Verdict.on_track, ["kpi_no_target"]),
        (Status.green, Verdict.on_track, []),
    ],
)
def test_kpi_status_alone(status: Status, verdict: Verdict, reason: list[str]) -> None:
    judged = judge(facts(PaceStatus.no_data, kr(status)), None, T)
    assert (judged.verdict, codes(judged)) == (verdict, reason)


def test_a_kpi_the_service_could_not_read_gives_no_verdict() -> None:
    assert judge(facts(PaceStatus.no_data, kr(None)), None, T).verdict is Verdict.unknown


@pytest.mark.parametrize(
    ("owner", "verdict", "reason"),
    [
        (OwnerHealth(skill_coverage=0.8), Verdict.on_track, []),  # at the threshold: not below it
        (OwnerHealth(skill_coverage=0.79), Verdict.at_risk, ["skill_gap"]),
        (OwnerHealth(turnover_rate=0.15), Verdict.on_track, []),
        (OwnerHealth(turnover_rate=0.1501), Verdict.at_risk, ["high_turnover"]),
        (OwnerHealth(enps=0), Verdict.on_track, []),
        (OwnerHealth(enps=-1), Verdict.at_risk, ["low_engagement"]),
        (OwnerHealth(), Verdict.unknown, []),  # nothing known about the team
    ],
)
def test_talent_rules_alone_at_their_edges(owner: OwnerHealth, verdict: Verdict, reason: list[str]) -> None:
    judged = judge(facts(), owner, T)
    assert (judged.verdict, codes(judged)) == (verdict, reason)


def test_skill_gap_names_the_missing_skills() -> None:
    owner = OwnerHealth(skill_coverage=0.62, missing_skills=[MissingSkill("sql", 3, 2)])
    (reason,) = judge(facts(), owner, T).reasons
    assert reason.as_dict() | {"message": ""} == {
        "code": "skill_gap",
        "source": "talent",
        "message": "",
        "skill_coverage": 0.62,
        "threshold": 0.8,
        "missing": [{"skill": "sql", "level": 3, "missing": 2}],
    }


def test_on_pace_but_short_of_skills_and_losing_people_is_at_risk() -> None:
    judged = judge(facts(PaceStatus.on_track, kr(Status.green)), OwnerHealth(0.5, (), 0.3, 10), T)
    assert judged.verdict is Verdict.at_risk
    assert codes(judged) == ["skill_gap", "high_turnover"]


def test_the_worst_wins_and_comes_first() -> None:
    judged = judge(facts(PaceStatus.off_track, kr(Status.amber), kr(Status.stale)), OwnerHealth(skill_coverage=0.5), T)
    assert judged.verdict is Verdict.off_track
    assert codes(judged) == ["pace_off_track", "kpi_stale", "skill_gap", "kpi_amber"]


def test_thresholds_are_configurable() -> None:
    lenient = Thresholds(skill_coverage=0.5, turnover=0.5, enps=-50)
    assert judge(facts(), OwnerHealth(0.6, (), 0.4, -20), lenient).verdict is Verdict.on_track


def test_a_cancelled_objective_has_no_verdict() -> None:
    assert judge(facts(PaceStatus.off_track, cancelled=True), OwnerHealth(0.1), T) == Judged(None, [])


def test_overconfident_is_reported_without_downgrading() -> None:
    judged = judge(facts(PaceStatus.on_track, kr(Status.green, confidence=0.7, forecast_progress=0.69)), None, T)
    assert (judged.verdict, codes(judged)) == (Verdict.on_track, ["overconfident"])
    calm = judge(facts(PaceStatus.on_track, kr(Status.green, confidence=0.69, forecast_progress=0.1)), None, T)
    assert codes(calm) == []
    on_course = judge(facts(PaceStatus.on_track, kr(Status.green, confidence=0.9, forecast_progress=0.7)), None, T)
    assert codes(on_course) == []


def _initiative(*, open_: bool = True, overdue: bool = False, **aim: object) -> InitiativeFacts:
    return InitiativeFacts(uuid.uuid4(), "Fix the process", open_, overdue, **aim)  # type: ignore[arg-type]


def test_no_action_plan_only_for_red_kpis_without_an_open_initiative() -> None:
    red = kr(Status.red)
    for aim in ({"kpi": "sales.revenue"}, {"key_result_id": red.id}, {"objective_id": OBJECTIVE}):
        covered = judge(facts(PaceStatus.on_track, red, initiatives=(_initiative(**aim),)), None, T)
        assert "no_action_plan" not in codes(covered), aim
    closed = judge(
        facts(PaceStatus.on_track, red, initiatives=(_initiative(open_=False, kpi="sales.revenue"),)), None, T
    )
    assert "no_action_plan" in codes(closed)
    elsewhere = judge(facts(PaceStatus.on_track, red, initiatives=(_initiative(kpi="other.kpi"),)), None, T)
    assert "no_action_plan" in codes(elsewhere)
    assert judge(facts(PaceStatus.on_track, red), None, T).verdict is Verdict.at_risk  # from kpi_red, not the note


def test_overdue_open_initiatives_are_reported_without_downgrading() -> None:
    judged = judge(
        facts(PaceStatus.on_track, initiatives=(_initiative(overdue=True, objective_id=OBJECTIVE),)), None, T
    )
    assert (judged.verdict, codes(judged)) == (Verdict.on_track, ["initiative_overdue"])
    done = judge(facts(PaceStatus.on_track, initiatives=(_initiative(open_=False, overdue=True),)), None, T)
    assert codes(done) == []
