"""The reference reading of §9 on hand-built cases, and its identity on generated companies: what
the service's SQL is compared with must itself be right."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.talent_service.hr_reference import (
    Assessment,
    Assignment,
    Company,
    Enrolment,
    Person,
    Requirement,
    Salary,
    Unit,
    whole_quarters,
    workforce,
)

D = dt.date
UNITS = [Unit("co"), Unit("ops", "co"), Unit("t1", "ops"), Unit("t2", "ops"), Unit("sales", "co")]
Q1 = (D(2026, 1, 1), D(2026, 3, 31))


def person(
    pid: str, hire: dt.date, *moves: tuple[str, dt.date], end: dt.date | None = None, reason: str | None = None
) -> Person:
    return Person(pid, hire, [Assignment(u, d, i) for i, (u, d) in enumerate(moves)], end, reason)


def test_hire_and_leave_on_the_same_day_count_both_and_leave_no_one() -> None:
    company = Company(UNITS, [person("p", D(2026, 2, 3), ("t1", D(2026, 2, 3)), end=D(2026, 2, 3), reason="voluntary")])
    figures = workforce(company, "t1", *Q1)
    assert figures["hires"] == figures["separations"] == figures["voluntary_separations"] == 1
    assert figures["headcount_start"] == figures["headcount_end"] == 0
    assert figures["turnover_rate"] is None  # average headcount 0


def test_a_move_inside_a_department_is_internal_there_and_a_transfer_for_each_team() -> None:
    company = Company(UNITS, [person("p", D(2025, 5, 1), ("t1", D(2025, 5, 1)), ("t2", D(2026, 1, 1)))])
    ops, t1, t2 = (workforce(company, u, *Q1) for u in ("ops", "t1", "t2"))
    assert (ops["internal_moves"], ops["transfers_in"], ops["transfers_out"]) == (1, 0, 0)
    assert (t1["transfers_out"], t1["internal_moves"], t1["headcount_start"], t1["headcount_end"]) == (1, 1, 1, 0)
    assert (t2["transfers_in"], t2["internal_moves"], t2["headcount_start"], t2["headcount_end"]) == (1, 0, 0, 1)


def test_leaving_on_the_last_day_counts_and_closes_the_period_without_them() -> None:
    company = Company(
        UNITS, [person("p", D(2024, 1, 1), ("sales", D(2024, 1, 1)), end=D(2026, 3, 31), reason="retirement")]
    )
    figures = workforce(company, "sales", *Q1)
    assert (figures["headcount_start"], figures["headcount_end"], figures["separations"]) == (1, 0, 1)
    assert figures["retention_rate"] == 0.0
    assert figures["turnover_rate"] == pytest.approx(1 / 0.5)


def test_salary_evolution_is_shown_from_five_people_and_whole_quarters_only() -> None:
    people = [
        Person(f"p{i}", D(2024, 1, 1), [Assignment("t1", D(2024, 1, 1))],
               salaries=[Salary(D(2024, 1, 1), 1000, "EUR"), Salary(D(2026, 2, 1), 1000 + 10 * (i + 1), "EUR")])
        for i in range(5)
    ]  # fmt: skip
    five = workforce(Company(UNITS, people), "t1", *Q1)["salary_evolution"]
    assert five == {
        "people": 5,
        "mean_change": pytest.approx(0.03),
        "median_change": pytest.approx(0.03),
        "suppressed": False,
    }
    four = workforce(Company(UNITS, people[:4]), "t1", *Q1)["salary_evolution"]
    assert four == {"people": 4, "mean_change": None, "median_change": None, "suppressed": True}
    not_a_quarter = workforce(Company(UNITS, people), "t1", D(2026, 1, 1), D(2026, 2, 28))["salary_evolution"]
    assert not_a_quarter["suppressed"] is True


def test_whole_quarters() -> None:
    assert whole_quarters(D(2026, 1, 1), D(2026, 3, 31))
    assert whole_quarters(D(2026, 1, 1), D(2026, 12, 31))
    assert not whole_quarters(D(2026, 1, 1), D(2026, 3, 30))
    assert not whole_quarters(D(2026, 2, 1), D(2026, 4, 30))


UNIT_IDS = [u.id for u in UNITS]
ORIGIN = D(2025, 6, 1)
HORIZON = 500  # days after ORIGIN


def _day(offset: int) -> dt.date:
    return ORIGIN + dt.timedelta(days=offset)


@st.composite
def people(draw: st.DrawFn) -> list[Person]:
    result = []
    for index in range(draw(st.integers(0, 12))):
        hire = draw(st.integers(0, HORIZON))
        end = draw(st.none() | st.integers(hire, HORIZON))
        last = HORIZON if end is None else end
        moves = sorted(set(draw(st.lists(st.integers(hire + 1, last), max_size=4)))) if last > hire else []
        assignments = [(draw(st.sampled_from(UNIT_IDS)), _day(d)) for d in [hire, *moves]]
        reason = draw(st.sampled_from(["voluntary", "involuntary", "retirement", "other"])) if end is not None else None
        result.append(
            person(f"p{index}", _day(hire), *assignments, end=None if end is None else _day(end), reason=reason)
        )
    return result


@settings(max_examples=150, deadline=None)
@given(people(), st.sampled_from(UNIT_IDS), st.integers(0, HORIZON), st.integers(0, HORIZON))
def test_headcount_identity_holds_for_every_unit_and_period(staff: list[Person], unit: str, x: int, y: int) -> None:
    a, b = _day(min(x, y)), _day(max(x, y))
    f = workforce(Company(UNITS, staff), unit, a, b)
    assert f["headcount_end"] == (
        f["headcount_start"] + f["hires"] + f["transfers_in"] - f["separations"] - f["transfers_out"]
    )


def test_coverage_counts_a_person_once_per_requirement_capped_at_its_count() -> None:
    p1 = person("p1", D(2025, 1, 1), ("t1", D(2025, 1, 1)))
    p1.assessments = [Assessment("sql", 4, D(2025, 6, 1))]
    p2 = person("p2", D(2025, 1, 1), ("t1", D(2025, 1, 1)))
    p2.assessments = [Assessment("sql", 3, D(2025, 6, 1), 0), Assessment("sql", 2, D(2026, 2, 1), 1)]
    p3 = person("p3", D(2025, 1, 1), ("ops", D(2025, 1, 1)))
    p3.assessments = [Assessment("sql", 5, D(2025, 6, 1))]
    requirements = [Requirement("ops", "sql", 3, 1), Requirement("t1", "sql", 3, 2)]
    company = Company(UNITS, [p1, p2, p3], requirements)
    assert workforce(company, "ops", *Q1)["skill_coverage"] == (1 + 1) / 3  # p2 lowered by the end
    assert workforce(company, "ops", D(2026, 1, 1), D(2026, 1, 31))["skill_coverage"] == (1 + 2) / 3
    assert workforce(company, "sales", *Q1)["skill_coverage"] is None


def test_effectiveness_takes_the_earliest_assessment_within_180_days_against_the_level_at_enrolment() -> None:
    p = person("p", D(2025, 1, 1), ("t1", D(2025, 1, 1)))
    p.assessments = [
        Assessment("sql", 2, D(2025, 6, 1), 0),
        Assessment("sql", 4, D(2026, 2, 1), 1),
        Assessment("sql", 5, D(2026, 3, 1), 2),
        Assessment("python", 1, D(2026, 7, 19), 3),  # 180 days after completion: counts, from 0
        Assessment("css", 5, D(2026, 7, 20), 4),  # 181 days: ignored
    ]
    dropped = person("d", D(2025, 1, 1), ("t1", D(2025, 1, 1)))
    dropped.enrolments = [Enrolment("course", D(2026, 1, 5), "dropped")]
    dropped.assessments = [Assessment("sql", 5, D(2026, 2, 1))]
    p.enrolments = [Enrolment("course", D(2026, 1, 5), "completed", D(2026, 1, 20))]
    company = Company(UNITS, [p, dropped], trainings={"course": ["sql", "python", "css"]})
    figures = workforce(company, "t1", *Q1)
    assert (figures["training_effectiveness_pairs"], figures["training_effectiveness"]) == (2, ((4 - 2) + 1) / 2)
    assert figures["training_completion_rate"] == 1 / 2
    late = Company(UNITS, [person("q", D(2025, 1, 1), ("t1", D(2025, 1, 1)))], trainings={"course": ["sql"]})
    late.people[0].enrolments = [Enrolment("course", D(2026, 3, 1), "completed", D(2026, 4, 2))]
    assert workforce(late, "t1", *Q1)["training_completion_rate"] == 0
