"""The service's set-based SQL of §9's workforce, training and skill indicators equals the literal,
person-by-person reading (``hr_reference``) on generated companies, to 1e-9, for a unit alone and
for every bucket of a series; and the headcount identity holds."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncConnection

from services.talent_service import models
from services.talent_service.capability import models as capability
from tests.database import insert_rows
from tests.talent_service import hr_reference as ref

ORIGIN = dt.date(2020, 1, 1)
SPAN = 4 * 365  # every date lies in 2020-2023: long before today, so no period is cut
REASONS = ["voluntary", "involuntary", "retirement", "other"]
SKILLS = ["s0", "s1", "s2"]
TRAININGS = {"t0": ["s0", "s1"], "t1": ["s2"]}


@st.composite
def companies(draw: st.DrawFn) -> ref.Company:
    count = draw(st.integers(1, 7))
    units = [ref.Unit("u0")]
    for index in range(1, count):
        parent = draw(st.one_of(st.none(), st.integers(0, index - 1)))
        units.append(ref.Unit(f"u{index}", None if parent is None else f"u{parent}"))
    people = []
    for index in range(draw(st.integers(0, 14))):
        hire = ORIGIN + dt.timedelta(days=draw(st.integers(0, SPAN - 200)))
        end = None
        if draw(st.booleans()):
            end = hire + dt.timedelta(days=draw(st.integers(0, 500)))
        limit = (end - hire).days if end else 600
        move_days = draw(st.sets(st.integers(1, max(1, limit)), max_size=4)) if limit >= 1 else set()
        days = [hire, *sorted(hire + dt.timedelta(days=d) for d in move_days)]
        assignments = [ref.Assignment(draw(st.sampled_from(units)).id, day, i) for i, day in enumerate(days)]
        salaries = [
            ref.Salary(
                hire + dt.timedelta(days=draw(st.integers(0, 700))),
                float(draw(st.integers(1_000, 9_000))),
                draw(st.sampled_from(["EUR", "EUR", "EUR", "USD"])),
                created,
            )
            for created in range(draw(st.integers(0, 3)))
        ]
        levels = st.sampled_from([0, 1, 2, 3, 4, 5, 5])
        assessments = [
            ref.Assessment(
                draw(st.sampled_from(SKILLS)),
                draw(levels),
                hire + dt.timedelta(days=draw(st.integers(0, 700))),
                created,
            )
            for created in range(draw(st.integers(0, 4)))
        ]
        enrolments = []
        for _ in range(draw(st.integers(0, 2))):
            enrolled = hire + dt.timedelta(days=draw(st.integers(0, limit)))
            status = draw(st.sampled_from(["enrolled", "completed", "completed", "dropped"]))
            completed = enrolled + dt.timedelta(days=draw(st.integers(0, 200))) if status == "completed" else None
            training = draw(st.sampled_from(sorted(TRAININGS)))
            enrolments.append(ref.Enrolment(training, enrolled, status, completed))
            if completed is not None:  # assessed after the training, sometimes twice, sometimes too late
                for _ in range(draw(st.integers(0, 2))):
                    on = completed + dt.timedelta(days=draw(st.sampled_from([0, 1, 90, 180, 181])))
                    skill = draw(st.sampled_from(TRAININGS[training]))
                    assessments.append(ref.Assessment(skill, draw(levels), on, len(assessments)))
        reason = draw(st.sampled_from(REASONS)) if end else None
        people.append(ref.Person(f"p{index}", hire, assignments, end, reason, salaries, assessments, enrolments))
    requirements = [
        ref.Requirement(unit.id, skill, draw(st.integers(1, 4)), draw(st.integers(1, 2)))
        for unit in units
        for skill in draw(st.sets(st.sampled_from(SKILLS), max_size=2))
    ]
    return ref.Company(units, people, requirements, TRAININGS)


@st.composite
def periods(draw: st.DrawFn) -> tuple[dt.date, dt.date]:
    if draw(st.booleans()):  # whole quarters, where salary evolution may show
        first = draw(st.integers(0, 14))
        length = draw(st.integers(1, 4))
        a = dt.date(2020 + first // 4, first % 4 * 3 + 1, 1)
        end_index = first + length
        b = dt.date(2020 + end_index // 4, end_index % 4 * 3 + 1, 1) - dt.timedelta(days=1)
        return a, b
    a = ORIGIN + dt.timedelta(days=draw(st.integers(-30, SPAN)))
    return a, a + dt.timedelta(days=draw(st.integers(0, 500)))


async def store(connection: AsyncConnection, company: ref.Company) -> dict[str, uuid.UUID]:
    ids = {unit.id: uuid.uuid4() for unit in company.units}
    skills = {key: capability.Skill(key=f"{key}-{uuid.uuid4().hex[:8]}", name=key) for key in SKILLS}
    trainings = {key: capability.Training(key=f"{key}-{uuid.uuid4().hex[:8]}", name=key) for key in company.trainings}
    rows: list[Any] = [*skills.values(), *trainings.values()]
    rows += [
        capability.TrainingSkill(training_id=trainings[t].id, skill_id=skills[k].id, position=i)
        for t, keys in company.trainings.items()
        for i, k in enumerate(keys)
    ]
    rows += [
        models.OrgUnit(
            id=ids[u.id],
            key=f"{u.id}_{ids[u.id].hex[:8]}",
            name=u.id,
            kind=models.OrgUnitKind.department,
            parent_id=ids[u.parent_id] if u.parent_id else None,
        )
        for u in company.units
    ]
    for person in company.people:
        pid = uuid.uuid4()
        rows.append(
            models.Person(
                id=pid,
                employee_number=f"{person.id}-{pid.hex[:8]}",
                name=person.id,
                email=f"{person.id}@example.com",
                hire_date=person.hire,
                end_date=person.end,
                separation_reason=models.SeparationReason(person.reason) if person.reason else None,
            )
        )
        rows += [
            models.Assignment(person_id=pid, org_unit_id=ids[a.unit_id], effective_date=a.effective)
            for a in person.assignments
        ]
        rows += [
            models.Salary(person_id=pid, effective_date=s.effective, amount=s.amount, currency=s.currency)
            for s in sorted(person.salaries, key=lambda s: s.created)  # ids follow creation
        ]
        rows += [
            capability.SkillAssessment(
                person_id=pid, skill_id=skills[x.skill].id, level=x.level, assessed_on=x.on,
                source=capability.AssessmentSource.manager,
            )
            for x in sorted(person.assessments, key=lambda x: x.created)
        ]  # fmt: skip
        rows += [
            capability.Enrolment(
                training_id=trainings[e.training].id, person_id=pid, enrolled_on=e.enrolled_on,
                status=capability.EnrolmentStatus(e.status), completed_on=e.completed_on,
            )
            for e in person.enrolments
        ]  # fmt: skip
    rows += [
        capability.RequiredSkill(
            org_unit_id=ids[r.unit_id], skill_id=skills[r.skill].id, level=r.level, count=r.count, position=i
        )
        for i, r in enumerate(company.requirements)
    ]
    await insert_rows(connection, *rows)
    return ids


def edges(company: ref.Company) -> list[dt.date]:
    """Days next to what happens (hires, ends, moves, salary changes): where off-by-one errors show."""
    days: set[dt.date] = set()
    for person in company.people:
        events = [person.hire, *(a.effective for a in person.assignments), *(s.effective for s in person.salaries)]
        events += [person.end] if person.end else []
        events += [x.on for x in person.assessments] + [e.enrolled_on for e in person.enrolments]
        events += [e.completed_on for e in person.enrolments if e.completed_on]
        days.update(day + dt.timedelta(days=shift) for day in events for shift in (-1, 0, 1, 2))
    return sorted(days)


def around_events(
    company: ref.Company, period: tuple[dt.date, dt.date], data: st.DataObject
) -> tuple[dt.date, dt.date]:
    """Half the time, a period starting and ending next to events of the company."""
    days = edges(company)
    if not days or data.draw(st.booleans()):
        return period
    a = data.draw(st.sampled_from(days))
    return a, data.draw(st.sampled_from([d for d in days if d >= a]))


def assert_matches(served: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        if name == "salary_evolution":
            assert served[name]["people"] == value["people"]
            assert served[name]["suppressed"] == value["suppressed"]
            for change in ("mean_change", "median_change"):
                assert (served[name][change] is None) == (value[change] is None), name
                if value[change] is not None:
                    assert math.isclose(served[name][change], value[change], rel_tol=1e-9, abs_tol=1e-9)
        elif isinstance(value, float):
            assert math.isclose(served[name], value, rel_tol=1e-9, abs_tol=1e-9), name
        else:
            assert served[name] == value, (name, served[name], value)
    assert served["headcount_end"] == (
        served["headcount_start"] + served["hires"] + served["transfers_in"]
        - served["separations"] - served["transfers_out"]
    )  # fmt: skip


async def assert_gaps_match(
    client: httpx.AsyncClient, company: ref.Company, ids: dict[str, uuid.UUID], unit: str, day: dt.date
) -> None:
    """The skill-gaps route (its own statement) agrees with the reference requirement by requirement."""
    response = await client.get(f"/v1/org-units/{ids[unit]}/skill-gaps", params={"on": day.isoformat()})
    assert response.status_code == 200, response.text
    served = response.json()
    expected = ref.skill_coverage(company, unit, day)
    assert (served["skill_coverage"] is None) == (expected is None)
    if expected is not None:
        assert math.isclose(served["skill_coverage"], expected, rel_tol=1e-9)
    names = {ids[u.id]: u.id for u in company.units}
    items = {(names[uuid.UUID(g["org_unit_id"])], g["skill"].split("-")[0]): g for g in served["items"]}
    subtree = company.subtree(unit)
    requirements = [r for r in company.requirements if r.unit_id in subtree]
    assert len(items) == len(requirements)
    for requirement in requirements:
        gap = items[(requirement.unit_id, requirement.skill)]
        standing = ref.requirement_standing(company, requirement, day)
        assert gap["meeting"] == standing["meeting"]
        assert gap["missing"] == requirement.count - standing["meeting"]
        assert sorted((m["name"], m["level"]) for m in gap["below"]) == standing["below"]
        best = standing["candidates"][:10]
        assert [c["level"] for c in gap["candidates"]] == [level for level, _, _ in best]
        if len(standing["candidates"]) <= 10:
            assert {c["name"] for c in gap["candidates"]} == {name for _, _, name in standing["candidates"]}
            if len({(level, on) for level, on, _ in best}) == len(best):  # no ties: one order only
                assert [c["name"] for c in gap["candidates"]] == [name for _, _, name in best]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(company=companies(), period=periods(), data=st.data())
async def test_the_sql_equals_the_reference_reading(
    talent_client: httpx.AsyncClient,
    connection: AsyncConnection,
    company: ref.Company,
    period: tuple[dt.date, dt.date],
    data: st.DataObject,
) -> None:
    savepoint = await connection.begin_nested()
    try:
        ids = await store(connection, company)
        unit = data.draw(st.sampled_from(company.units))
        a, b = around_events(company, period, data)
        response = await talent_client.get(
            "/v1/hr-indicators", params={"org_unit": str(ids[unit.id]), "from": a.isoformat(), "to": b.isoformat()}
        )
        assert response.status_code == 200, response.text
        assert_matches(response.json(), ref.workforce(company, unit.id, a, b))
        await assert_gaps_match(talent_client, company, ids, unit.id, b)
    finally:
        await savepoint.rollback()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(company=companies(), bucket=st.sampled_from(["month", "quarter", "year"]), data=st.data())
async def test_every_bucket_of_a_series_equals_the_reference_reading(
    talent_client: httpx.AsyncClient,
    connection: AsyncConnection,
    company: ref.Company,
    bucket: str,
    data: st.DataObject,
) -> None:
    savepoint = await connection.begin_nested()
    try:
        ids = await store(connection, company)
        unit = data.draw(st.sampled_from(company.units))
        a = ORIGIN + dt.timedelta(days=data.draw(st.integers(0, SPAN - 400)))
        b = a + dt.timedelta(days=data.draw(st.integers(0, 400)))
        response = await talent_client.get(
            "/v1/hr-indicators/series",
            params={"org_unit": str(ids[unit.id]), "from": a.isoformat(), "to": b.isoformat(), "bucket": bucket},
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert items[0]["from"] == a.isoformat()
        assert items[-1]["to"] == b.isoformat()
        for item in items:
            first, last = dt.date.fromisoformat(item["from"]), dt.date.fromisoformat(item["to"])
            assert_matches(item, ref.workforce(company, unit.id, first, last))
        for earlier, later in itertools.pairwise(items):  # the buckets tile the range
            assert dt.date.fromisoformat(later["from"]) == dt.date.fromisoformat(earlier["to"]) + dt.timedelta(days=1)
            assert later["headcount_start"] == earlier["headcount_end"]
    finally:
        await savepoint.rollback()
