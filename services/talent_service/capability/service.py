"""The capability side's rules: skills and assessments, required skills and gaps, trainings and
enrolments, and the org-unit health the alignment views read. Every route calls one function here."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository as talent_repository
from services.talent_service import service as talent
from services.talent_service.capability import repository
from services.talent_service.capability.models import (
    Enrolment,
    EnrolmentStatus,
    RequiredSkill,
    RequiredSkillList,
    Skill,
    SkillAssessment,
    Training,
    TrainingSkill,
)
from services.talent_service.capability.schemas import (
    EnrolmentCreate,
    EnrolmentPublic,
    EnrolmentUpdate,
    GapMember,
    PersonSkill,
    PersonSkills,
    RequiredSkillOut,
    RequiredSkills,
    RequiredSkillsIn,
    SkillAssessmentCreate,
    SkillAssessmentPublic,
    SkillAssessments,
    SkillCreate,
    SkillGap,
    SkillGaps,
    SkillPublic,
    TrainingCreate,
    TrainingPublic,
    TrainingRef,
)
from services.talent_service.config import TalentSettings
from services.talent_service.models import IdempotencyRecord, OrgUnit
from shared.concurrency import etag, require_if_match
from shared.contracts.talent import InternalCandidate, OrgUnitHealth, OrgUnitHealthList, SkillShortfall
from shared.errors import Conflict, FieldError, NotFound, UnprocessableContent
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.models import utcnow
from shared.pagination import Page, PageRequest

# ---------------------------------------------------------------- skills


async def create_skill(session: AsyncSession, body: SkillCreate, idempotency: IdempotentRequest) -> Answer[SkillPublic]:
    """Add a skill to the catalogue (409 when its key is taken)."""

    async def create() -> Answer[SkillPublic]:
        if await repository.skill_key_exists(session, body.key):
            raise Conflict(
                f"A skill with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        skill = Skill(**body.model_dump())
        session.add(skill)
        await session.flush()
        await session.refresh(skill)
        return Answer(
            SkillPublic.model_validate(skill), status_code=201, headers={"Location": f"/v1/skills/{skill.key}"}
        )

    return await run_once(session, IdempotencyRecord, SkillPublic, idempotency, create)


async def list_skills(session: AsyncSession, page: PageRequest, *, category: str | None) -> Page[SkillPublic]:
    """The catalogue by key."""
    rows = await repository.skills_page(session, page, category=category)
    return Page[SkillPublic](items=[SkillPublic.model_validate(s) for s in rows.items], next_cursor=rows.next_cursor)


async def read_skill(session: AsyncSession, id_or_key: str) -> SkillPublic:
    skill = await repository.get_skill(session, id_or_key)
    if skill is None:
        raise NotFound(f"No skill {id_or_key!r}.")
    return SkillPublic.model_validate(skill)


def _unknown_skill(pointer: str, key: str) -> FieldError:
    return FieldError(pointer=pointer, message=f"No skill {key!r} in the catalogue.", code="unknown")


async def create_assessment(
    session: AsyncSession, person_id: uuid.UUID, body: SkillAssessmentCreate, idempotency: IdempotentRequest
) -> Answer[SkillAssessmentPublic]:
    """Record an assessment (history is kept: the latest on or before a day gives the level then)."""

    async def create() -> Answer[SkillAssessmentPublic]:
        person = await talent.get_person(session, person_id)
        errors = []
        skill = (await repository.skills_by_key(session, [body.skill])).get(body.skill)
        if skill is None:
            errors.append(_unknown_skill("/skill", body.skill))
        if body.assessed_on < person.hire_date:
            errors.append(FieldError(pointer="/assessed_on", message="Before the hire date.", code="before_hire"))
        if errors or skill is None:
            raise UnprocessableContent("The assessment cannot be recorded.", errors=errors)
        assessment = SkillAssessment(
            person_id=person.id, skill_id=skill.id, level=body.level, assessed_on=body.assessed_on, source=body.source
        )
        session.add(assessment)
        await session.flush()
        await session.refresh(assessment)
        public = SkillAssessmentPublic.model_validate({**assessment.model_dump(), "skill": skill.key})
        return Answer(public, status_code=201, headers={"Location": f"/v1/people/{person.id}/skills"})

    return await run_once(session, IdempotencyRecord, SkillAssessmentPublic, idempotency, create)


async def list_assessments(session: AsyncSession, person_id: uuid.UUID, skill: str | None) -> SkillAssessments:
    """The person's assessment history, all skills or one (an unknown skill has none)."""
    person = await talent.get_person(session, person_id)
    skill_id = None
    if skill is not None:
        found = (await repository.skills_by_key(session, [skill])).get(skill)
        if found is None:
            return SkillAssessments(items=[])
        skill_id = found.id
    rows = await repository.assessments(session, person.id, skill_id)
    return SkillAssessments(
        items=[SkillAssessmentPublic.model_validate({**a.model_dump(), "skill": key}) for a, key in rows]
    )


async def person_skills(
    session: AsyncSession, person_id: uuid.UUID, on: dt.date | None, settings: TalentSettings
) -> PersonSkills:
    """The person's current level in each skill on ``on`` (default today)."""
    person = await talent.get_person(session, person_id)
    day = on or settings.today()
    levels = await repository.current_levels(session, person.id, day)
    return PersonSkills(
        person_id=person.id,
        on=day,
        items=[
            PersonSkill(skill=r.skill, name=r.name, level=r.level, assessed_on=r.assessed_on, source=r.source)
            for r in levels
        ],
    )


# ---------------------------------------------------------------- required skills


async def read_required_skills(session: AsyncSession, id_or_key: str) -> tuple[RequiredSkills, int]:
    """The unit's own requirements (not its descendants'), with the list's version (0: never set)."""
    unit = await talent.get_org_unit(session, id_or_key)
    listed = await repository.required_list(session, unit.id)
    return await _required_skills(session, unit), listed.version if listed else 0


async def _required_skills(session: AsyncSession, unit: OrgUnit) -> RequiredSkills:
    rows = await repository.required_skills(session, unit.id)
    items = [RequiredSkillOut(skill=s.key, name=s.name, level=r.level, count=r.count) for r, s in rows]
    return RequiredSkills(org_unit_id=unit.id, org_unit_key=unit.key, items=items)


async def put_required_skills(
    session: AsyncSession, id_or_key: str, body: RequiredSkillsIn, if_match: str | None
) -> tuple[RequiredSkills, int]:
    """Replace the unit's whole list (``If-Match`` honoured when sent; ``"0"`` before any list)."""
    unit = await talent.get_org_unit(session, id_or_key, for_update=True)
    listed = await repository.required_list(session, unit.id, for_update=True)
    if if_match is not None:
        require_if_match(if_match, listed.version if listed else 0)
    known = await repository.skills_by_key(session, [item.skill for item in body.items])
    errors: list[FieldError] = []
    first: dict[str, int] = {}
    for index, item in enumerate(body.items):
        pointer = f"/items/{index}/skill"
        if item.skill not in known:
            errors.append(_unknown_skill(pointer, item.skill))
        elif item.skill in first:
            errors.append(FieldError(pointer=pointer, message=f"Also in /items/{first[item.skill]}.", code="duplicate"))
        else:
            first[item.skill] = index
    if errors:
        raise UnprocessableContent("The list of required skills was not changed.", errors=errors)
    await repository.delete_required_skills(session, unit.id)
    await session.flush()
    for position, item in enumerate(body.items):
        session.add(
            RequiredSkill(
                org_unit_id=unit.id,
                skill_id=known[item.skill].id,
                level=item.level,
                count=item.count,
                position=position,
            )
        )
    if listed is None:
        listed = RequiredSkillList(org_unit_id=unit.id, version=1)
    else:
        listed.version += 1
        listed.updated_at = utcnow()
    session.add(listed)
    await session.flush()
    return await _required_skills(session, unit), listed.version


def coverage(rows: Sequence[repository.GapRow]) -> float | None:
    """§9's skill coverage from a subtree's requirements: Σ min(N, meeting) / Σ N."""
    required = sum(r.required for r in rows)
    return sum(min(r.required, r.meeting) for r in rows) / required if required else None


def _most_missing_first(rows: Sequence[repository.GapRow]) -> list[repository.GapRow]:
    return sorted(rows, key=lambda r: (-(r.required - min(r.required, r.meeting)), r.org_unit_key, r.skill))


async def skill_gaps(session: AsyncSession, id_or_key: str, on: dt.date | None, settings: TalentSettings) -> SkillGaps:
    """Every requirement of the unit's subtree at the close of ``on`` (default today): one statement."""
    unit = await talent.get_org_unit(session, id_or_key)
    day = on or settings.today()
    rows = (await repository.skill_gaps(session, [unit.id], day))[unit.id]
    items = [
        SkillGap(
            org_unit_id=r.org_unit_id,
            org_unit_key=r.org_unit_key,
            skill=r.skill,
            level=r.level,
            required=r.required,
            meeting=min(r.required, r.meeting),
            missing=r.required - min(r.required, r.meeting),
            below=[GapMember.model_validate(m) for m in r.below],
            trainings=[TrainingRef.model_validate(t) for t in r.trainings],
            candidates=[InternalCandidate.model_validate(c) for c in r.candidates],
        )
        for r in _most_missing_first(rows)
    ]
    return SkillGaps(org_unit_id=unit.id, org_unit_key=unit.key, on=day, skill_coverage=coverage(rows), items=items)


# ---------------------------------------------------------------- trainings


def _training_public(training: Training, skills: list[str]) -> TrainingPublic:
    return TrainingPublic.model_validate({**training.model_dump(), "skills": skills})


async def create_training(
    session: AsyncSession, body: TrainingCreate, idempotency: IdempotentRequest
) -> Answer[TrainingPublic]:
    """Add a training and the skills it develops (409 when its key is taken; 422 per unknown skill)."""

    async def create() -> Answer[TrainingPublic]:
        if await repository.training_key_exists(session, body.key):
            raise Conflict(
                f"A training with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        known = await repository.skills_by_key(session, body.skills)
        errors: list[FieldError] = []
        first: dict[str, int] = {}
        for index, key in enumerate(body.skills):
            if key not in known:
                errors.append(_unknown_skill(f"/skills/{index}", key))
            elif key in first:
                errors.append(
                    FieldError(pointer=f"/skills/{index}", message=f"Also in /skills/{first[key]}.", code="duplicate")
                )
            else:
                first[key] = index
        if errors:
            raise UnprocessableContent("The training cannot be created.", errors=errors)
        training = Training(key=body.key, name=body.name, hours=body.hours)
        session.add(training)
        await session.flush()
        for position, key in enumerate(body.skills):
            session.add(TrainingSkill(training_id=training.id, skill_id=known[key].id, position=position))
        await session.flush()
        await session.refresh(training)
        headers = {"Location": f"/v1/trainings/{training.key}"}
        return Answer(_training_public(training, list(body.skills)), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, TrainingPublic, idempotency, create)


async def list_trainings(session: AsyncSession, page: PageRequest, *, skill: str | None) -> Page[TrainingPublic]:
    """Trainings by key; with ``skill``, those that develop it."""
    skill_id = None
    if skill is not None:
        found = await repository.get_skill(session, skill)
        if found is None:
            return Page[TrainingPublic](items=[])
        skill_id = found.id
    rows = await repository.trainings_page(session, page, skill=skill_id)
    skills = await repository.training_skills(session, [t.id for t in rows.items])
    return Page[TrainingPublic](
        items=[_training_public(t, skills[t.id]) for t in rows.items], next_cursor=rows.next_cursor
    )


async def get_training(session: AsyncSession, id_or_key: str) -> Training:
    training = await repository.get_training(session, id_or_key)
    if training is None:
        raise NotFound(f"No training {id_or_key!r}.")
    return training


async def read_training(session: AsyncSession, id_or_key: str) -> TrainingPublic:
    training = await get_training(session, id_or_key)
    skills = await repository.training_skills(session, [training.id])
    return _training_public(training, skills[training.id])


# ---------------------------------------------------------------- enrolments


def _enrolment_public(enrolment: Enrolment, training_key: str) -> EnrolmentPublic:
    return EnrolmentPublic.model_validate({**enrolment.model_dump(), "training": training_key})


async def create_enrolment(
    session: AsyncSession, id_or_key: str, body: EnrolmentCreate, idempotency: IdempotentRequest
) -> Answer[EnrolmentPublic]:
    """Enrol a person employed on ``enrolled_on`` (409 while they hold an open enrolment in it)."""

    async def create() -> Answer[EnrolmentPublic]:
        training = await get_training(session, id_or_key)
        person = await talent_repository.get_person(session, body.person_id, for_update=True)
        if person is None:
            raise UnprocessableContent(
                f"No person {body.person_id}.",
                errors=[FieldError(pointer="/person_id", message="No such person.", code="unknown")],
            )
        if body.enrolled_on < person.hire_date or (person.end_date is not None and body.enrolled_on > person.end_date):
            raise UnprocessableContent(
                "A person is enrolled on a day they are employed.",
                errors=[FieldError(pointer="/enrolled_on", message="Not employed that day.", code="not_employed")],
            )
        if await repository.open_enrolment_exists(session, training.id, person.id):
            raise Conflict(
                "The person is already enrolled in this training.",
                errors=[FieldError(pointer="/person_id", message="Already enrolled.", code="duplicate")],
            )
        enrolment = Enrolment(training_id=training.id, person_id=person.id, enrolled_on=body.enrolled_on)
        session.add(enrolment)
        await session.flush()
        await session.refresh(enrolment)
        headers = {"Location": f"/v1/enrolments/{enrolment.id}", "ETag": etag(enrolment.version)}
        return Answer(_enrolment_public(enrolment, training.key), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, EnrolmentPublic, idempotency, create)


async def list_enrolments(
    session: AsyncSession,
    page: PageRequest,
    *,
    training: str | None = None,
    person_id: uuid.UUID | None = None,
    status: EnrolmentStatus | None = None,
) -> Page[EnrolmentPublic]:
    """Enrolments, oldest first, filtered by training (404 when unknown), person and status."""
    training_id = (await get_training(session, training)).id if training is not None else None
    rows = await repository.enrolments_page(session, page, training=training_id, person=person_id, status=status)
    keys = await repository.training_keys(session, [e.training_id for e in rows.items])
    return Page[EnrolmentPublic](
        items=[_enrolment_public(e, keys[e.training_id]) for e in rows.items], next_cursor=rows.next_cursor
    )


async def _enrolment(session: AsyncSession, enrolment_id: uuid.UUID, *, for_update: bool = False) -> Enrolment:
    enrolment = await repository.get_enrolment(session, enrolment_id, for_update=for_update)
    if enrolment is None:
        raise NotFound(f"No enrolment {enrolment_id}.")
    return enrolment


async def read_enrolment(session: AsyncSession, enrolment_id: uuid.UUID) -> tuple[EnrolmentPublic, int]:
    enrolment = await _enrolment(session, enrolment_id)
    keys = await repository.training_keys(session, [enrolment.training_id])
    return _enrolment_public(enrolment, keys[enrolment.training_id]), enrolment.version


async def update_enrolment(
    session: AsyncSession,
    enrolment_id: uuid.UUID,
    body: EnrolmentUpdate,
    if_match: str | None,
    settings: TalentSettings,
) -> tuple[EnrolmentPublic, int]:
    """``enrolled`` → ``completed`` (on ``completed_on``, default today, between ``enrolled_on`` and
    today, with an optional score) or → ``dropped``; any other change is 409. ``If-Match`` is
    honoured when sent."""
    enrolment = await _enrolment(session, enrolment_id, for_update=True)
    if if_match is not None:
        require_if_match(if_match, enrolment.version)
    if enrolment.status is not EnrolmentStatus.enrolled or body.status is EnrolmentStatus.enrolled:
        raise Conflict(
            f"An enrolment goes only from enrolled to completed or dropped; this one is {enrolment.status.value}.",
            errors=[
                FieldError(
                    pointer="/status",
                    message=f"Cannot go from {enrolment.status.value} to {body.status.value}.",
                    code="transition",
                )
            ],
        )
    today = settings.today()
    errors: list[FieldError] = []
    if body.status is EnrolmentStatus.dropped:
        for name in ("completed_on", "score"):
            if getattr(body, name) is not None:
                errors.append(FieldError(pointer=f"/{name}", message="Only with `completed`.", code="not_completed"))
        completed_on = None
    else:
        completed_on = body.completed_on or today
        if completed_on < enrolment.enrolled_on:
            errors.append(FieldError(pointer="/completed_on", message="Before `enrolled_on`.", code="before_enrolment"))
        elif completed_on > today:
            errors.append(FieldError(pointer="/completed_on", message=f"After today ({today}).", code="future"))
    if errors:
        raise UnprocessableContent("The enrolment was not changed.", errors=errors)
    enrolment.status = body.status
    enrolment.completed_on = completed_on
    enrolment.score = body.score
    enrolment.version += 1
    enrolment.updated_at = utcnow()
    session.add(enrolment)
    await session.flush()
    await session.refresh(enrolment)
    keys = await repository.training_keys(session, [enrolment.training_id])
    return _enrolment_public(enrolment, keys[enrolment.training_id]), enrolment.version


# ---------------------------------------------------------------- org-unit health (the alignment views)

MAX_HEALTH_UNITS = 500
YEAR_DAYS = 365


@dataclass(frozen=True, slots=True)
class LatestEnps:
    """§9's "latest eNPS" of a unit: the latest survey whose period has ended, over its subtree."""

    survey: str  # the survey's key
    enps: float | None  # null when suppressed
    suppressed: bool


async def latest_enps(
    session: AsyncSession,  # noqa: ARG001 - the engagement side reads its surveys through it
    units: Sequence[uuid.UUID],  # noqa: ARG001
    today: dt.date,  # noqa: ARG001
) -> dict[uuid.UUID, LatestEnps]:
    """Each unit's latest eNPS as of ``today`` (units without an ended survey left out).

    The seam the engagement side fills: until engagement surveys are recorded, no unit has one, so
    health reports ``enps`` null, ``enps_survey`` null and ``enps_suppressed`` false."""
    return {}


def _shortfall(row: repository.GapRow) -> SkillShortfall:
    meeting = min(row.required, row.meeting)
    return SkillShortfall(
        org_unit_id=row.org_unit_id,
        skill=row.skill,
        level=row.level,
        required=row.required,
        meeting=meeting,
        missing=row.required - meeting,
        candidates=[InternalCandidate.model_validate(c) for c in row.candidates],
    )


async def org_unit_health(session: AsyncSession, names: Sequence[str], settings: TalentSettings) -> OrgUnitHealthList:
    """Each named unit's talent health today, over its subtree, in the order asked (a unit named
    twice answered once): members at the close of today, the workforce figures of the last 365
    days, skill coverage and shortfalls at the close of today, the latest eNPS. Four statements
    whatever the number of units; names of no unit are listed in ``unknown``."""
    names = list(dict.fromkeys(names))
    if not names:
        raise UnprocessableContent(
            "Name at least one org unit.",
            errors=[FieldError(location="query", parameter="org_unit", message="Required.", code="missing")],
        )
    if len(names) > MAX_HEALTH_UNITS:
        raise UnprocessableContent(
            f"At most {MAX_HEALTH_UNITS} org units at once; {len(names)} were named.",
            errors=[FieldError(location="query", parameter="org_unit", message="Too many.", code="too_many")],
        )
    found = await repository.org_units_named(session, names)
    units = list({u.id: u for u in (found[n] for n in names if n in found)}.values())
    today = settings.today()
    ids = [u.id for u in units]
    year = [(today - dt.timedelta(days=YEAR_DAYS - 1), today)]
    figures = await talent_repository.workforce_of_units(session, ids, year) if ids else {}
    gaps = await repository.skill_gaps(session, ids, today, below=False) if ids else {}
    enps = await latest_enps(session, ids, today)
    items = []
    for unit in units:
        [row] = figures[unit.id]
        average = (row.headcount_start + row.headcount_end) / 2
        shortfalls = [_shortfall(r) for r in _most_missing_first(gaps[unit.id]) if r.meeting < r.required]
        survey = enps.get(unit.id)
        items.append(
            OrgUnitHealth(
                org_unit_id=unit.id,
                org_unit_key=unit.key,
                on=today,
                headcount=row.headcount_end,
                average_headcount=average or None,
                separations=row.separations,
                turnover_rate=row.separations / average if average else None,
                voluntary_turnover_rate=row.voluntary_separations / average if average else None,
                skill_coverage=coverage(gaps[unit.id]),
                open_gaps=len(shortfalls),
                shortfalls=shortfalls,
                enps=survey.enps if survey else None,
                enps_survey=survey.survey if survey else None,
                enps_suppressed=survey.suppressed if survey else False,
            )
        )
    return OrgUnitHealthList(items=items, unknown=[n for n in names if n not in found])
