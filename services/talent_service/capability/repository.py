"""Every SQL statement of the capability side."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, exists, or_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.capability.models import (
    AssessmentSource,
    Enrolment,
    EnrolmentStatus,
    RequiredSkill,
    RequiredSkillList,
    Skill,
    SkillAssessment,
    Training,
    TrainingSkill,
)
from services.talent_service.models import OrgUnit
from services.talent_service.repository import as_id, driver
from shared.pagination import Page, PageRequest, paginate

# ---------------------------------------------------------------- skills


def _skill_by_id_or_key(id_or_key: str) -> Any:
    skill_id = as_id(id_or_key)
    return col(Skill.id) == skill_id if skill_id else col(Skill.key) == id_or_key


async def skill_key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(Skill.key) == key)))).one())


async def get_skill(session: AsyncSession, id_or_key: str) -> Skill | None:
    return (await session.exec(select(Skill).where(_skill_by_id_or_key(id_or_key)))).first()


async def skills_page(session: AsyncSession, page: PageRequest, *, category: str | None) -> Page[Skill]:
    statement = select(Skill)
    if category is not None:
        statement = statement.where(col(Skill.category) == category)
    return await paginate(session, statement, (col(Skill.key),), page, lambda skill: skill)


async def skills_by_key(session: AsyncSession, keys: Sequence[str]) -> dict[str, Skill]:
    rows = await session.exec(select(Skill).where(col(Skill.key).in_(list(set(keys)))))
    return {skill.key: skill for skill in rows.all()}


async def skill_keys(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.exec(select(Skill.id, Skill.key).where(col(Skill.id).in_(list(set(ids)))))
    return dict(rows.all())


@dataclass(frozen=True, slots=True)
class CurrentLevel:
    skill: str
    name: str
    level: int
    assessed_on: dt.date
    source: AssessmentSource


async def current_levels(session: AsyncSession, person_id: uuid.UUID, day: dt.date) -> list[CurrentLevel]:
    """The person's latest assessment on or before ``day`` in each skill (ties: the later created)."""
    latest = (
        select(SkillAssessment)
        .where(col(SkillAssessment.person_id) == person_id, col(SkillAssessment.assessed_on) <= day)
        .ext(distinct_on(col(SkillAssessment.skill_id)))
        .order_by(
            col(SkillAssessment.skill_id), col(SkillAssessment.assessed_on).desc(), col(SkillAssessment.id).desc()
        )
        .subquery("latest")
    )
    statement = (
        select(Skill, latest.c.level, latest.c.assessed_on, latest.c.source)
        .join(latest, latest.c.skill_id == col(Skill.id))
        .order_by(col(Skill.key))
    )
    rows = (await session.exec(statement)).all()
    return [CurrentLevel(skill.key, skill.name, level, on, source) for skill, level, on, source in rows]


async def assessments(
    session: AsyncSession, person_id: uuid.UUID, skill: uuid.UUID | None
) -> list[tuple[SkillAssessment, str]]:
    """The person's assessments with their skill's key, oldest first (in recording order within a day)."""
    statement = (
        select(SkillAssessment, Skill.key)
        .join(Skill, col(Skill.id) == col(SkillAssessment.skill_id))
        .where(col(SkillAssessment.person_id) == person_id)
        .order_by(col(SkillAssessment.assessed_on), col(SkillAssessment.id))
    )
    if skill is not None:
        statement = statement.where(col(SkillAssessment.skill_id) == skill)
    return [(assessment, key) for assessment, key in (await session.exec(statement)).all()]


# ---------------------------------------------------------------- required skills


async def required_list(
    session: AsyncSession, unit: uuid.UUID, *, for_update: bool = False
) -> RequiredSkillList | None:
    statement = select(RequiredSkillList).where(col(RequiredSkillList.org_unit_id) == unit)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def required_skills(session: AsyncSession, unit: uuid.UUID) -> list[tuple[RequiredSkill, Skill]]:
    statement = (
        select(RequiredSkill, Skill)
        .join(Skill, col(Skill.id) == col(RequiredSkill.skill_id))
        .where(col(RequiredSkill.org_unit_id) == unit)
        .order_by(col(RequiredSkill.position))
    )
    return [(requirement, skill) for requirement, skill in (await session.exec(statement)).all()]


async def delete_required_skills(session: AsyncSession, unit: uuid.UUID) -> None:
    await session.exec(delete(RequiredSkill).where(col(RequiredSkill.org_unit_id) == unit))


# Every requirement stated by a unit of each root's subtree, judged at the close of a day ($2):
# the members of the requiring unit's own subtree at or above the level, those below it, the
# trainings that develop the skill, and the best ten people employed elsewhere who meet the level.
# A person's level is their latest assessment on or before the day (0 without one). One statement
# for many roots: a requirement appears once per root whose subtree holds its unit. The members
# below the level are listed only when asked ($4): the health batch needs their count alone.
_GAPS = """
WITH RECURSIVE tree AS (
    SELECT id AS root, id FROM talent.org_units WHERE id = ANY($1::uuid[])
    UNION ALL
    SELECT t.root, c.id FROM talent.org_units c JOIN tree t ON c.parent_id = t.id
),
requirements AS (
    SELECT r.org_unit_id, r.skill_id, r.level, r.count, r.position FROM talent.required_skills r
    WHERE r.org_unit_id IN (SELECT id FROM tree)
),
reach AS (
    SELECT DISTINCT org_unit_id AS requiring, org_unit_id AS unit_id FROM requirements
    UNION ALL
    SELECT r.requiring, c.id FROM talent.org_units c JOIN reach r ON c.parent_id = r.unit_id
),
employed AS (
    SELECT DISTINCT ON (a.person_id) a.person_id, a.org_unit_id, p.name
    FROM talent.assignments a JOIN talent.people p ON p.id = a.person_id
    WHERE a.effective_date <= $2 AND p.hire_date <= $2 AND (p.end_date IS NULL OR p.end_date > $2)
    ORDER BY a.person_id, a.effective_date DESC
),
levels AS (
    SELECT DISTINCT ON (s.person_id, s.skill_id) s.person_id, s.skill_id, s.level, s.assessed_on
    FROM talent.skill_assessments s
    WHERE s.assessed_on <= $2 AND s.skill_id IN (SELECT skill_id FROM requirements)
    ORDER BY s.person_id, s.skill_id, s.assessed_on DESC, s.id DESC
),
standing AS (
    SELECT r.org_unit_id, r.skill_id, e.person_id, e.name, COALESCE(l.level, 0) AS level
    FROM requirements r
    JOIN reach rc ON rc.requiring = r.org_unit_id
    JOIN employed e ON e.org_unit_id = rc.unit_id
    LEFT JOIN levels l ON l.person_id = e.person_id AND l.skill_id = r.skill_id
),
tallies AS (
    SELECT r.org_unit_id, r.skill_id,
           count(s.person_id) FILTER (WHERE s.level >= r.level) AS meeting,
           COALESCE(
               jsonb_agg(
                   jsonb_build_object('person_id', s.person_id, 'name', s.name, 'level', s.level)
                   ORDER BY s.level DESC, s.name, s.person_id
               ) FILTER (WHERE s.level < r.level AND $4),
               '[]'::jsonb
           ) AS below
    FROM requirements r
    LEFT JOIN standing s ON s.org_unit_id = r.org_unit_id AND s.skill_id = r.skill_id
    GROUP BY r.org_unit_id, r.skill_id, r.level
),
ranked AS (
    SELECT r.org_unit_id, r.skill_id, e.person_id, e.name, e.org_unit_id AS works_in, l.level,
           row_number() OVER (
               PARTITION BY r.org_unit_id, r.skill_id ORDER BY l.level DESC, l.assessed_on DESC, e.person_id
           ) AS n
    FROM requirements r
    JOIN levels l ON l.skill_id = r.skill_id AND l.level >= r.level
    JOIN employed e ON e.person_id = l.person_id
    WHERE NOT EXISTS (SELECT 1 FROM reach rc WHERE rc.requiring = r.org_unit_id AND rc.unit_id = e.org_unit_id)
),
candidates AS (
    SELECT org_unit_id, skill_id,
           jsonb_agg(
               jsonb_build_object('person_id', person_id, 'name', name, 'org_unit_id', works_in, 'level', level)
               ORDER BY n
           ) AS candidates
    FROM ranked WHERE n <= $3 GROUP BY org_unit_id, skill_id
),
developing AS (
    SELECT ts.skill_id,
           jsonb_agg(jsonb_build_object('id', t.id, 'key', t.key, 'name', t.name, 'hours', t.hours) ORDER BY t.key)
               AS trainings
    FROM talent.training_skills ts JOIN talent.trainings t ON t.id = ts.training_id
    WHERE ts.skill_id IN (SELECT skill_id FROM requirements)
    GROUP BY ts.skill_id
)
SELECT tr.root, r.org_unit_id, u.key AS org_unit_key, sk.key AS skill, r.level, r.count AS required,
       ta.meeting, ta.below, COALESCE(c.candidates, '[]'::jsonb) AS candidates,
       COALESCE(d.trainings, '[]'::jsonb) AS trainings
FROM tree tr
JOIN requirements r ON r.org_unit_id = tr.id
JOIN tallies ta ON ta.org_unit_id = r.org_unit_id AND ta.skill_id = r.skill_id
JOIN talent.org_units u ON u.id = r.org_unit_id
JOIN talent.skills sk ON sk.id = r.skill_id
LEFT JOIN candidates c ON c.org_unit_id = r.org_unit_id AND c.skill_id = r.skill_id
LEFT JOIN developing d ON d.skill_id = r.skill_id
ORDER BY tr.root, u.key, r.position
"""

MAX_CANDIDATES = 10


def _json(value: Any) -> Any:
    """A jsonb column, whether or not the connection decodes jsonb itself."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True, slots=True)
class GapRow:
    org_unit_id: uuid.UUID
    org_unit_key: str
    skill: str
    level: int
    required: int
    meeting: int  # not capped
    below: list[dict[str, Any]]
    candidates: list[dict[str, Any]]
    trainings: list[dict[str, Any]]


async def skill_gaps(
    session: AsyncSession, roots: Sequence[uuid.UUID], day: dt.date, *, below: bool = True
) -> dict[uuid.UUID, list[GapRow]]:
    """Each root's requirements (those of every unit of its subtree) judged at the close of ``day``;
    ``below``: with the members under the level (else ``below`` is empty)."""
    connection = await driver(session)
    rows = await connection.fetch(_GAPS, list(roots), day, MAX_CANDIDATES, below)
    found: dict[uuid.UUID, list[GapRow]] = {root: [] for root in roots}
    for row in rows:
        found[row["root"]].append(
            GapRow(
                org_unit_id=row["org_unit_id"],
                org_unit_key=row["org_unit_key"],
                skill=row["skill"],
                level=row["level"],
                required=row["required"],
                meeting=row["meeting"],
                below=_json(row["below"]),
                candidates=_json(row["candidates"]),
                trainings=_json(row["trainings"]),
            )
        )
    return found


async def org_units_named(session: AsyncSession, ids_or_keys: Sequence[str]) -> dict[str, OrgUnit]:
    """The units these ids or keys name, by the id or key that named them: one statement."""
    ids = [unit_id for unit_id in (as_id(name) for name in ids_or_keys) if unit_id is not None]
    keys = [name for name in ids_or_keys if as_id(name) is None]
    statement = select(OrgUnit).where(or_(col(OrgUnit.id).in_(ids), col(OrgUnit.key).in_(keys)))
    units = list((await session.exec(statement)).all())
    by_name = {str(u.id): u for u in units} | {u.key: u for u in units}
    return {name: by_name[_canonical(name)] for name in ids_or_keys if _canonical(name) in by_name}


def _canonical(id_or_key: str) -> str:
    unit_id = as_id(id_or_key)
    return str(unit_id) if unit_id is not None else id_or_key


# ---------------------------------------------------------------- trainings


def _training_by_id_or_key(id_or_key: str) -> Any:
    training_id = as_id(id_or_key)
    return col(Training.id) == training_id if training_id else col(Training.key) == id_or_key


async def training_key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(Training.key) == key)))).one())


async def get_training(session: AsyncSession, id_or_key: str) -> Training | None:
    return (await session.exec(select(Training).where(_training_by_id_or_key(id_or_key)))).first()


async def trainings_page(session: AsyncSession, page: PageRequest, *, skill: uuid.UUID | None) -> Page[Training]:
    statement = select(Training)
    if skill is not None:
        statement = statement.where(
            exists().where(col(TrainingSkill.training_id) == col(Training.id), col(TrainingSkill.skill_id) == skill)
        )
    return await paginate(session, statement, (col(Training.key),), page, lambda training: training)


async def training_skills(session: AsyncSession, trainings: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The keys of the skills each training develops, in the order given at creation."""
    statement = (
        select(TrainingSkill.training_id, Skill.key)
        .join(Skill, col(Skill.id) == col(TrainingSkill.skill_id))
        .where(col(TrainingSkill.training_id).in_(list(trainings)))
        .order_by(col(TrainingSkill.training_id), col(TrainingSkill.position))
    )
    found: dict[uuid.UUID, list[str]] = {training: [] for training in trainings}
    for training, key in (await session.exec(statement)).all():
        found[training].append(key)
    return found


async def training_keys(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.exec(select(Training.id, Training.key).where(col(Training.id).in_(list(set(ids)))))
    return dict(rows.all())


# ---------------------------------------------------------------- enrolments


async def get_enrolment(
    session: AsyncSession, enrolment_id: uuid.UUID, *, for_update: bool = False
) -> Enrolment | None:
    statement = select(Enrolment).where(col(Enrolment.id) == enrolment_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def open_enrolment_exists(session: AsyncSession, training: uuid.UUID, person: uuid.UUID) -> bool:
    condition = exists().where(
        col(Enrolment.training_id) == training,
        col(Enrolment.person_id) == person,
        col(Enrolment.status) == EnrolmentStatus.enrolled,
    )
    return bool((await session.exec(select(condition))).one())


async def enrolments_page(
    session: AsyncSession,
    page: PageRequest,
    *,
    training: uuid.UUID | None,
    person: uuid.UUID | None,
    status: EnrolmentStatus | None,
) -> Page[Enrolment]:
    statement = select(Enrolment)
    if training is not None:
        statement = statement.where(col(Enrolment.training_id) == training)
    if person is not None:
        statement = statement.where(col(Enrolment.person_id) == person)
    if status is not None:
        statement = statement.where(col(Enrolment.status) == status)
    order = (col(Enrolment.created_at), col(Enrolment.id))
    return await paginate(session, statement, order, page, lambda enrolment: enrolment)
