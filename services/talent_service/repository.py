"""Every SQL statement of the talent service."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import delete, exists, func, literal, or_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.models import Assignment, OrgUnit, OrgUnitKind, Person, Salary
from shared.pagination import Page, PageRequest, paginate
from shared.sql import LIKE_ESCAPE, like_literal

TREE_LOCK = (8303, 1)  # advisory lock taken by every change of a unit's parent: no two moves race into a cycle

_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def as_id(id_or_key: str) -> uuid.UUID | None:
    """The id in ``id_or_key``, if it is one (keys never hold a hyphen)."""
    return uuid.UUID(id_or_key) if _CANONICAL_UUID.match(id_or_key.lower()) else None


def _by_id_or_key(id_or_key: str) -> Any:
    unit_id = as_id(id_or_key)
    return col(OrgUnit.id) == unit_id if unit_id else col(OrgUnit.key) == id_or_key


# ---------------------------------------------------------------- org units


async def org_units_page(
    session: AsyncSession,
    page: PageRequest,
    *,
    kind: OrgUnitKind | None,
    parent_id: uuid.UUID | None,
    archived: bool | None = None,
) -> Page[OrgUnit]:
    statement = select(OrgUnit)
    if kind is not None:
        statement = statement.where(col(OrgUnit.kind) == kind)
    if parent_id is not None:
        statement = statement.where(col(OrgUnit.parent_id) == parent_id)
    if archived is not None:
        statement = statement.where(
            col(OrgUnit.archived_at).is_not(None) if archived else col(OrgUnit.archived_at).is_(None)
        )
    order = (col(OrgUnit.created_at), col(OrgUnit.id))
    return await paginate(session, statement, order, page, lambda unit: unit)


async def get_org_unit(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> OrgUnit | None:
    statement = select(OrgUnit).where(_by_id_or_key(id_or_key))
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def org_unit_key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(OrgUnit.key) == key)))).one())


async def lock_tree(session: AsyncSession) -> None:
    await session.exec(select(func.pg_advisory_xact_lock(literal(TREE_LOCK[0]), literal(TREE_LOCK[1]))))


def _subtree_cte(root: uuid.UUID) -> Any:
    """``(id, depth)`` of ``root`` and of every descendant."""
    units = OrgUnit.__table__  # type: ignore[attr-defined]
    tree = select(units.c.id, literal(0).label("depth")).where(units.c.id == root).cte("subtree", recursive=True)
    children = select(units.c.id, (tree.c.depth + 1).label("depth")).join(tree, units.c.parent_id == tree.c.id)
    return tree.union_all(children)


async def subtree(session: AsyncSession, root: uuid.UUID) -> list[OrgUnit]:
    """The unit ``root`` and every descendant, parents before children, siblings by key: one query."""
    tree = _subtree_cte(root)
    statement = select(OrgUnit).join(tree, col(OrgUnit.id) == tree.c.id).order_by(tree.c.depth, col(OrgUnit.key))
    return list((await session.exec(statement)).all())


async def in_subtree(session: AsyncSession, root: uuid.UUID, unit: uuid.UUID) -> bool:
    """Whether ``unit`` is ``root`` or one of its descendants."""
    tree = _subtree_cte(root)
    return bool((await session.exec(select(exists().where(tree.c.id == unit)))).one())


async def children_kinds(session: AsyncSession, unit: uuid.UUID) -> set[OrgUnitKind]:
    rows = await session.exec(select(OrgUnit.kind).where(col(OrgUnit.parent_id) == unit).distinct())
    return {OrgUnitKind(kind) for kind in rows.all()}


async def org_unit_referenced(session: AsyncSession, unit: uuid.UUID) -> bool:
    """Whether anything refers to the unit (a child unit, an assignment), so it is archived rather
    than deleted."""
    child = exists().where(col(OrgUnit.parent_id) == unit)
    assigned = exists().where(col(Assignment.org_unit_id) == unit)
    return bool((await session.exec(select(child | assigned))).one())


async def delete_org_unit(session: AsyncSession, unit: uuid.UUID) -> None:
    await session.exec(delete(OrgUnit).where(col(OrgUnit.id) == unit))


async def org_units_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, OrgUnit]:
    rows = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(list(set(ids)))))
    return {unit.id: unit for unit in rows.all()}


# ---------------------------------------------------------------- people


def _unit_on(day: dt.date) -> Any:
    """``(person_id, org_unit_id)`` of every person's latest assignment effective on or before ``day``."""
    return (
        select(col(Assignment.person_id), col(Assignment.org_unit_id))
        .where(col(Assignment.effective_date) <= day)
        .ext(distinct_on(col(Assignment.person_id)))
        .order_by(col(Assignment.person_id), col(Assignment.effective_date).desc())
        .subquery("unit_on")
    )


@dataclass(frozen=True, slots=True)
class PeopleFilters:
    org_unit: uuid.UUID | None  # its subtree
    active_on: dt.date | None  # employed that day (and, with org_unit, in the subtree that day)
    text: str | None


async def people_page(session: AsyncSession, filters: PeopleFilters, page: PageRequest) -> Page[Person]:
    statement = select(Person)
    if filters.active_on is not None:
        day = filters.active_on
        statement = statement.where(
            col(Person.hire_date) <= day, or_(col(Person.end_date).is_(None), col(Person.end_date) >= day)
        )
    if filters.org_unit is not None:
        day = filters.active_on or dt.date.today()
        tree = _subtree_cte(filters.org_unit)
        unit_on = _unit_on(day)
        statement = statement.join(unit_on, unit_on.c.person_id == col(Person.id)).where(
            unit_on.c.org_unit_id.in_(select(tree.c.id))
        )
    if filters.text:
        pattern = f"%{like_literal(filters.text)}%"
        statement = statement.where(
            or_(
                col(Person.name).ilike(pattern, escape=LIKE_ESCAPE),
                col(Person.email).ilike(pattern, escape=LIKE_ESCAPE),
                col(Person.employee_number).ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    return await paginate(session, statement, (col(Person.created_at), col(Person.id)), page, lambda p: p)


async def units_on(session: AsyncSession, people: Sequence[uuid.UUID], day: dt.date) -> dict[uuid.UUID, uuid.UUID]:
    """Each person's unit on ``day`` (people not yet hired have none)."""
    unit_on = _unit_on(day)
    rows = await session.exec(
        select(unit_on.c.person_id, unit_on.c.org_unit_id).where(unit_on.c.person_id.in_(list(people)))
    )
    return dict(rows.all())


async def salaries_on(session: AsyncSession, people: Sequence[uuid.UUID], day: dt.date) -> dict[uuid.UUID, Salary]:
    """Each person's latest salary record effective on or before ``day``."""
    statement = (
        select(Salary)
        .where(col(Salary.person_id).in_(list(people)), col(Salary.effective_date) <= day)
        .ext(distinct_on(col(Salary.person_id)))
        .order_by(col(Salary.person_id), col(Salary.effective_date).desc(), col(Salary.id).desc())
    )
    return {salary.person_id: salary for salary in (await session.exec(statement)).all()}


async def latest_salaries(session: AsyncSession, people: Sequence[uuid.UUID]) -> dict[uuid.UUID, Salary]:
    """Each person's latest salary record, whatever its date."""
    return await salaries_on(session, people, dt.date.max)


async def get_person(session: AsyncSession, person_id: uuid.UUID, *, for_update: bool = False) -> Person | None:
    statement = select(Person).where(col(Person.id) == person_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def people_by_number(session: AsyncSession, numbers: Sequence[str]) -> dict[str, Person]:
    """The people with these employee numbers, locked for the rest of the transaction."""
    statement = select(Person).where(col(Person.employee_number).in_(list(numbers))).with_for_update()
    return {person.employee_number: person for person in (await session.exec(statement)).all()}


async def existing_people(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.exec(select(Person.id).where(col(Person.id).in_(list(set(ids)))))
    return set(rows.all())


async def employee_number_taken(session: AsyncSession, number: str) -> bool:
    return bool((await session.exec(select(exists().where(col(Person.employee_number) == number)))).one())


async def assignments(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Assignment]]:
    """Each person's assignments, oldest first."""
    statement = (
        select(Assignment)
        .where(col(Assignment.person_id).in_(list(person_ids)))
        .order_by(col(Assignment.person_id), col(Assignment.effective_date), col(Assignment.created_at))
    )
    found: dict[uuid.UUID, list[Assignment]] = {person: [] for person in person_ids}
    for assignment in (await session.exec(statement)).all():
        found[assignment.person_id].append(assignment)
    return found


async def salaries(session: AsyncSession, person_id: uuid.UUID) -> list[Salary]:
    statement = (
        select(Salary).where(col(Salary.person_id) == person_id).order_by(col(Salary.effective_date), col(Salary.id))
    )
    return list((await session.exec(statement)).all())


EMPLOYEE_NUMBER_LOCK = 8304  # first key of the advisory locks on an employee number


async def lock_employee_numbers(session: AsyncSession, numbers: Sequence[str]) -> None:
    """Hold, until the transaction ends, a lock on each employee number (in one order: no
    deadlock), so that two writers creating one number run one after the other."""
    for number in sorted(set(numbers)):
        await session.exec(select(func.pg_advisory_xact_lock(literal(EMPLOYEE_NUMBER_LOCK), func.hashtext(number))))


# ---------------------------------------------------------------- HR indicators (DESIGN §9)

# Every workforce indicator of §9 for several units' subtrees over many periods, in one statement.
# A person's assignments become spans [since, until) (the next assignment's date, or open-ended), so
# "the unit on day d" is the span containing d; members at the close of a day join the spans that
# contain it with the people employed after it. Only people ever assigned inside a subtree are
# read. Roots arrive as an array ($1), periods as two arrays (first days, last days), numbered
# from 1; the answer has one row per (root, period). The training and skill figures follow the
# same membership rules: enrolments by members on their day, levels at the close of the last day.
# A requirement's members are counted once per period whatever the roots that include it: each
# stretch of days over which a person holds the level (a level span), works inside the requiring
# unit (an assignment span) and is employed (hire date to end date, a member at the close of a day
# before it) meets the requirement at the close of each of its days; stretches of one person and
# requirement never overlap. Joins on equalities only, then a range test per period: reading
# each member's level per period instead multiplied the work by the periods.
_WORKFORCE = """
WITH RECURSIVE subtree AS (
    SELECT id AS root, id FROM talent.org_units WHERE id = ANY($1::uuid[])
    UNION ALL
    SELECT t.root, c.id FROM talent.org_units c JOIN subtree t ON c.parent_id = t.id
),
roots AS (
    SELECT root, ri FROM unnest($1::uuid[]) WITH ORDINALITY AS x(root, ri)
),
periods AS (
    SELECT k, a, b, a - 1 AS before FROM unnest($2::date[], $3::date[]) WITH ORDINALITY AS x(a, b, k)
),
candidates AS (
    SELECT DISTINCT s.root, a.person_id FROM talent.assignments a JOIN subtree s ON s.id = a.org_unit_id
),
spans AS (
    SELECT a.person_id, a.org_unit_id, a.effective_date AS since,
           lead(a.effective_date) OVER w AS until,
           lag(a.org_unit_id) OVER w AS previous_unit,
           row_number() OVER w AS n
    FROM talent.assignments a
    WHERE a.person_id IN (SELECT person_id FROM candidates)
    WINDOW w AS (PARTITION BY a.person_id ORDER BY a.effective_date)
),
marked AS (
    SELECT c.root, sp.person_id, sp.org_unit_id, sp.since, sp.until, sp.previous_unit, sp.n,
           cur.id IS NOT NULL AS inside, prev.id IS NOT NULL AS previous_inside
    FROM candidates c
    JOIN spans sp ON sp.person_id = c.person_id
    LEFT JOIN subtree cur ON cur.root = c.root AND cur.id = sp.org_unit_id
    LEFT JOIN subtree prev ON prev.root = c.root AND prev.id = sp.previous_unit
),
people AS (
    SELECT p.id, p.hire_date, p.end_date, p.separation_reason
    FROM talent.people p WHERE p.id IN (SELECT person_id FROM candidates)
),
opening AS (
    SELECT pr.k, m.root, p.id FROM periods pr
    JOIN marked m ON m.inside AND m.since <= pr.before AND (m.until IS NULL OR m.until > pr.before)
    JOIN people p ON p.id = m.person_id AND p.hire_date <= pr.before
        AND (p.end_date IS NULL OR p.end_date > pr.before)
),
closing AS (
    SELECT pr.k, m.root, p.id, m.org_unit_id FROM periods pr
    JOIN marked m ON m.inside AND m.since <= pr.b AND (m.until IS NULL OR m.until > pr.b)
    JOIN people p ON p.id = m.person_id AND p.hire_date <= pr.b AND (p.end_date IS NULL OR p.end_date > pr.b)
),
stayed AS (
    SELECT k, root, id FROM opening INTERSECT SELECT k, root, id FROM closing
),
events AS (
    SELECT m.root, p.id, p.hire_date, p.end_date, p.separation_reason,
           COALESCE(bool_or(m.since <= p.hire_date AND (m.until IS NULL OR m.until > p.hire_date)), false)
               AS hired_inside,
           COALESCE(bool_or(m.since <= p.end_date AND (m.until IS NULL OR m.until > p.end_date)), false)
               AS left_inside
    FROM people p JOIN marked m ON m.person_id = p.id AND m.inside
    GROUP BY m.root, p.id, p.hire_date, p.end_date, p.separation_reason
),
flows AS (
    SELECT pr.k, e.root,
           count(*) FILTER (WHERE e.hired_inside AND e.hire_date BETWEEN pr.a AND pr.b) AS hires,
           count(*) FILTER (WHERE e.left_inside AND e.end_date BETWEEN pr.a AND pr.b) AS separations,
           count(*) FILTER (
               WHERE e.left_inside AND e.end_date BETWEEN pr.a AND pr.b AND e.separation_reason = 'voluntary'
           ) AS voluntary_separations
    FROM periods pr
    JOIN events e ON e.hire_date BETWEEN pr.a AND pr.b OR e.end_date BETWEEN pr.a AND pr.b
    GROUP BY pr.k, e.root
),
moves AS (
    SELECT pr.k, m.root,
           count(*) FILTER (WHERE m.inside AND NOT m.previous_inside) AS transfers_in,
           count(*) FILTER (WHERE m.previous_inside AND NOT m.inside) AS transfers_out,
           count(*) FILTER (WHERE m.previous_inside AND m.previous_unit <> m.org_unit_id) AS internal_moves
    FROM periods pr JOIN marked m ON m.n > 1 AND m.since BETWEEN pr.a AND pr.b
    GROUP BY pr.k, m.root
),
salary_spans AS (
    SELECT person_id, amount, currency, effective_date AS since,
           lead(effective_date) OVER (PARTITION BY person_id ORDER BY effective_date) AS until
    FROM (
        SELECT DISTINCT ON (person_id, effective_date) person_id, effective_date, amount, currency
        FROM talent.salaries WHERE person_id IN (SELECT person_id FROM candidates)
        ORDER BY person_id, effective_date, id DESC
    ) latest_of_each_day
),
changes AS (
    SELECT st.k, st.root, last.amount / first.amount - 1 AS change
    FROM stayed st
    JOIN periods pr ON pr.k = st.k
    JOIN salary_spans first ON first.person_id = st.id AND first.since <= pr.before
        AND (first.until IS NULL OR first.until > pr.before)
    JOIN salary_spans last ON last.person_id = st.id AND last.since <= pr.b
        AND (last.until IS NULL OR last.until > pr.b)
    WHERE first.currency = last.currency
),
enrolled AS (
    SELECT pr.k, m.root, e.status, e.completed_on, pr.b
    FROM periods pr
    JOIN talent.enrolments e ON e.enrolled_on BETWEEN pr.a AND pr.b
    JOIN people p ON p.id = e.person_id AND p.hire_date <= e.enrolled_on
        AND (p.end_date IS NULL OR p.end_date >= e.enrolled_on)
    JOIN marked m ON m.person_id = e.person_id AND m.inside AND m.since <= e.enrolled_on
        AND (m.until IS NULL OR m.until > e.enrolled_on)
),
completion AS (
    SELECT k, root, count(*) AS enrolments,
           count(*) FILTER (WHERE status = 'completed' AND completed_on <= b) AS completed
    FROM enrolled GROUP BY k, root
),
completions AS (
    SELECT pr.k, m.root, e.person_id, e.training_id, e.enrolled_on, e.completed_on
    FROM periods pr
    JOIN talent.enrolments e ON e.status = 'completed' AND e.completed_on BETWEEN pr.a AND pr.b
    JOIN people p ON p.id = e.person_id AND p.hire_date <= e.completed_on
        AND (p.end_date IS NULL OR p.end_date >= e.completed_on)
    JOIN marked m ON m.person_id = e.person_id AND m.inside AND m.since <= e.completed_on
        AND (m.until IS NULL OR m.until > e.completed_on)
),
gains AS (
    SELECT c.k, c.root, after.level - COALESCE(before.level, 0) AS gain
    FROM completions c
    JOIN talent.training_skills ts ON ts.training_id = c.training_id
    JOIN LATERAL (
        SELECT s.level FROM talent.skill_assessments s
        WHERE s.person_id = c.person_id AND s.skill_id = ts.skill_id
            AND s.assessed_on BETWEEN c.completed_on AND c.completed_on + 180
        ORDER BY s.assessed_on, s.id DESC LIMIT 1
    ) after ON true
    LEFT JOIN LATERAL (
        SELECT s.level FROM talent.skill_assessments s
        WHERE s.person_id = c.person_id AND s.skill_id = ts.skill_id AND s.assessed_on <= c.enrolled_on
        ORDER BY s.assessed_on DESC, s.id DESC LIMIT 1
    ) before ON true
),
effectiveness AS (
    SELECT k, root, count(*) AS pairs, avg(gain)::float8 AS mean_gain FROM gains GROUP BY k, root
),
requirements AS (
    SELECT r.org_unit_id, r.skill_id, r.level, r.count
    FROM talent.required_skills r WHERE r.org_unit_id IN (SELECT id FROM subtree)
),
ancestry AS (
    SELECT id AS unit_id, id AS ancestor_id FROM (SELECT DISTINCT id FROM subtree) units
    UNION ALL
    SELECT an.unit_id, u.parent_id FROM ancestry an JOIN talent.org_units u ON u.id = an.ancestor_id
    WHERE u.parent_id IS NOT NULL
),
level_spans AS (
    SELECT person_id, skill_id, level, assessed_on AS since,
           lead(assessed_on) OVER (PARTITION BY person_id, skill_id ORDER BY assessed_on) AS until
    FROM (
        SELECT DISTINCT ON (person_id, skill_id, assessed_on) person_id, skill_id, assessed_on, level
        FROM talent.skill_assessments
        WHERE person_id IN (SELECT person_id FROM candidates) AND skill_id IN (SELECT skill_id FROM requirements)
        ORDER BY person_id, skill_id, assessed_on, id DESC
    ) latest_of_each_day
),
holding AS (
    SELECT r.org_unit_id, r.skill_id,
           greatest(ls.since, sp.since, p.hire_date) AS since,
           least(ls.until, sp.until, p.end_date) AS until
    FROM requirements r
    JOIN level_spans ls ON ls.skill_id = r.skill_id AND ls.level >= r.level
    JOIN spans sp ON sp.person_id = ls.person_id
    JOIN ancestry an ON an.unit_id = sp.org_unit_id AND an.ancestor_id = r.org_unit_id
    JOIN people p ON p.id = sp.person_id
),
meeting AS (
    SELECT pr.k, h.org_unit_id, h.skill_id, count(*) AS n
    FROM periods pr
    JOIN holding h ON h.since <= pr.b AND (h.until IS NULL OR h.until > pr.b)
    GROUP BY pr.k, h.org_unit_id, h.skill_id
),
coverage AS (
    SELECT pr.k, s.root, sum(least(r.count, COALESCE(mt.n, 0))) AS met, sum(r.count) AS required
    FROM periods pr
    CROSS JOIN requirements r
    JOIN subtree s ON s.id = r.org_unit_id
    LEFT JOIN meeting mt ON mt.k = pr.k AND mt.org_unit_id = r.org_unit_id AND mt.skill_id = r.skill_id
    GROUP BY pr.k, s.root
)
SELECT rt.root, pr.k,
       COALESCE(o.n, 0) AS headcount_start,
       COALESCE(c.n, 0) AS headcount_end,
       COALESCE(s.n, 0) AS stayed,
       COALESCE(f.hires, 0) AS hires,
       COALESCE(f.separations, 0) AS separations,
       COALESCE(f.voluntary_separations, 0) AS voluntary_separations,
       COALESCE(m.transfers_in, 0) AS transfers_in,
       COALESCE(m.transfers_out, 0) AS transfers_out,
       COALESCE(m.internal_moves, 0) AS internal_moves,
       COALESCE(g.people, 0) AS salary_people,
       g.mean_change,
       g.median_change,
       COALESCE(cp.enrolments, 0) AS enrolments,
       COALESCE(cp.completed, 0) AS completed,
       COALESCE(ef.pairs, 0) AS effectiveness_pairs,
       ef.mean_gain,
       COALESCE(cv.met, 0) AS coverage_met,
       COALESCE(cv.required, 0) AS coverage_required
FROM roots rt
CROSS JOIN periods pr
LEFT JOIN (SELECT k, root, count(*) AS n FROM opening GROUP BY k, root) o ON o.k = pr.k AND o.root = rt.root
LEFT JOIN (SELECT k, root, count(*) AS n FROM closing GROUP BY k, root) c ON c.k = pr.k AND c.root = rt.root
LEFT JOIN (SELECT k, root, count(*) AS n FROM stayed GROUP BY k, root) s ON s.k = pr.k AND s.root = rt.root
LEFT JOIN flows f ON f.k = pr.k AND f.root = rt.root
LEFT JOIN moves m ON m.k = pr.k AND m.root = rt.root
LEFT JOIN (
    SELECT k, root, count(*) AS people, avg(change) AS mean_change,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY change) AS median_change
    FROM changes GROUP BY k, root
) g ON g.k = pr.k AND g.root = rt.root
LEFT JOIN completion cp ON cp.k = pr.k AND cp.root = rt.root
LEFT JOIN effectiveness ef ON ef.k = pr.k AND ef.root = rt.root
LEFT JOIN coverage cv ON cv.k = pr.k AND cv.root = rt.root
ORDER BY rt.ri, pr.k
"""


@dataclass(frozen=True, slots=True)
class WorkforceRow:
    headcount_start: int
    headcount_end: int
    stayed: int
    hires: int
    separations: int
    voluntary_separations: int
    transfers_in: int
    transfers_out: int
    internal_moves: int
    salary_people: int
    mean_change: float | None
    median_change: float | None
    enrolments: int  # by members on their enrolment day, enrolled in the period
    completed: int  # of those, completed by the period's last day
    effectiveness_pairs: int
    mean_gain: float | None
    coverage_met: int  # Σ min(N, members meeting the level)
    coverage_required: int  # Σ N


async def workforce(
    session: AsyncSession, unit: uuid.UUID, periods: Sequence[tuple[dt.date, dt.date]]
) -> list[WorkforceRow]:
    """The workforce figures of ``unit``'s subtree for each ``(first day, last day)``, in order."""
    return (await workforce_of_units(session, [unit], periods))[unit]


async def workforce_of_units(
    session: AsyncSession, units: Sequence[uuid.UUID], periods: Sequence[tuple[dt.date, dt.date]]
) -> dict[uuid.UUID, list[WorkforceRow]]:
    """The workforce figures of each unit's subtree for each period, in order: one statement."""
    units = list(dict.fromkeys(units))  # a root given twice would count its people twice
    connection = await driver(session)
    rows = await connection.fetch(_WORKFORCE, units, [a for a, _ in periods], [b for _, b in periods])
    found: dict[uuid.UUID, list[WorkforceRow]] = {unit: [] for unit in units}
    for row in rows:
        found[row["root"]].append(WorkforceRow(**{k: v for k, v in dict(row).items() if k not in ("root", "k")}))
    return found


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver_connection = cast(asyncpg.Connection, raw.driver_connection)
    if not driver_connection.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")  # so that what runs on the driver joins the transaction
    return driver_connection


# How many people each unit's salary evolution covers (§9: counted in both headcounts, a salary on
# `a - 1` and on `b` in one currency), for every unit of every tree and each period: what
# suppression by difference needs. A person counts in every common ancestor (or self) of their
# units on the two days.
_SALARY_POPULATIONS = """
WITH RECURSIVE closure AS (
    SELECT id AS unit_id, id AS ancestor_id FROM talent.org_units
    UNION ALL
    SELECT c.unit_id, u.parent_id FROM closure c
    JOIN talent.org_units u ON u.id = c.ancestor_id WHERE u.parent_id IS NOT NULL
),
periods AS (
    SELECT k, a, b, a - 1 AS before FROM unnest($1::date[], $2::date[]) WITH ORDINALITY AS x(a, b, k)
),
spans AS (
    SELECT person_id, org_unit_id, effective_date AS since,
           lead(effective_date) OVER (PARTITION BY person_id ORDER BY effective_date) AS until
    FROM talent.assignments
),
salary_spans AS (
    SELECT person_id, currency, effective_date AS since,
           lead(effective_date) OVER (PARTITION BY person_id ORDER BY effective_date) AS until
    FROM (
        SELECT DISTINCT ON (person_id, effective_date) person_id, effective_date, currency
        FROM talent.salaries ORDER BY person_id, effective_date, id DESC
    ) latest_of_each_day
),
eligible AS (
    SELECT pr.k, opening.org_unit_id AS opening_unit, closing.org_unit_id AS closing_unit
    FROM periods pr
    JOIN talent.people p ON p.hire_date <= pr.before AND (p.end_date IS NULL OR p.end_date > pr.b)
    JOIN spans opening ON opening.person_id = p.id AND opening.since <= pr.before
        AND (opening.until IS NULL OR opening.until > pr.before)
    JOIN spans closing ON closing.person_id = p.id AND closing.since <= pr.b
        AND (closing.until IS NULL OR closing.until > pr.b)
    JOIN salary_spans first ON first.person_id = p.id AND first.since <= pr.before
        AND (first.until IS NULL OR first.until > pr.before)
    JOIN salary_spans last ON last.person_id = p.id AND last.since <= pr.b
        AND (last.until IS NULL OR last.until > pr.b)
    WHERE first.currency = last.currency
)
SELECT e.k, c1.ancestor_id AS unit_id, count(*) AS people
FROM eligible e
JOIN closure c1 ON c1.unit_id = e.opening_unit
JOIN closure c2 ON c2.unit_id = e.closing_unit AND c2.ancestor_id = c1.ancestor_id
GROUP BY e.k, c1.ancestor_id
"""


async def salary_populations(
    session: AsyncSession, periods: Sequence[tuple[dt.date, dt.date]]
) -> list[dict[uuid.UUID, int]]:
    """For each period, how many people each unit's salary evolution covers (units with none left out)."""
    connection = await driver(session)
    rows = await connection.fetch(_SALARY_POPULATIONS, [a for a, _ in periods], [b for _, b in periods])
    found: list[dict[uuid.UUID, int]] = [{} for _ in periods]
    for row in rows:
        found[row["k"] - 1][row["unit_id"]] = row["people"]
    return found


async def unit_parents(session: AsyncSession) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every unit of every tree with its parent."""
    rows = await session.exec(select(OrgUnit.id, OrgUnit.parent_id))
    return dict(rows.all())
