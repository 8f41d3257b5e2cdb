"""HTTP routes of the capability side: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.talent_service.capability import service
from services.talent_service.capability.schemas import (
    EnrolmentCreate,
    EnrolmentPublic,
    EnrolmentStatus,
    EnrolmentUpdate,
    PersonSkills,
    RequiredSkills,
    RequiredSkillsIn,
    SkillAssessmentCreate,
    SkillAssessmentPublic,
    SkillAssessments,
    SkillCreate,
    SkillGaps,
    SkillPublic,
    TrainingCreate,
    TrainingPublic,
)
from services.talent_service.config import TalentSettingsDep
from shared.auth import Principal, RequireScope, Scope
from shared.concurrency import ConditionalRead, IfMatch, ResponseETag
from shared.contracts.talent import OrgUnitHealthList
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams
from shared.schemas import IsoDate

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, RequireScope(Scope.talent_read)]
Writer = Annotated[Principal, RequireScope(Scope.talent_write)]
UnitIdOrKey = Annotated[str, Path(max_length=40, description="The org unit's id (hyphenated UUID) or key.")]
IdOrKey = Annotated[str, Path(max_length=64, description="The id (hyphenated UUID) or key.")]
NOT_MODIFIED = {"description": "The `If-None-Match` ETag is still current.", "headers": response_headers("ETag")}

# ---------------------------------------------------------------- skills


@router.post(
    "/skills",
    tags=["skills"],
    status_code=status.HTTP_201_CREATED,
    response_model=SkillPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(409)},
    summary="Add a skill to the catalogue (retry safely with Idempotency-Key).",
)
async def create_skill(
    body: SkillCreate, session: SessionDep, idempotency: Idempotency, response: Response, _: Writer
) -> SkillPublic:
    return (await service.create_skill(session, body, idempotency)).send(response)


@router.get("/skills", tags=["skills"], response_model=Page[SkillPublic], summary="The skills catalogue, by key.")
async def list_skills(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    category: Annotated[str | None, Query(max_length=100, description="Only skills of this category.")] = None,
) -> Page[SkillPublic]:
    return await service.list_skills(session, page, category=category)


@router.get(
    "/skills/{id_or_key}",
    tags=["skills"],
    response_model=SkillPublic,
    responses=problem_responses(404),
    summary="One skill.",
)
async def get_skill(id_or_key: IdOrKey, session: SessionDep, _: Reader) -> SkillPublic:
    return await service.read_skill(session, id_or_key)


@router.post(
    "/people/{person_id:uuid}/skill-assessments",
    tags=["skills"],
    status_code=status.HTTP_201_CREATED,
    response_model=SkillAssessmentPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(404)},
    summary="Record a skill assessment of a person (history kept; not before the hire date).",
)
async def create_skill_assessment(
    person_id: uuid.UUID,
    body: SkillAssessmentCreate,
    session: SessionDep,
    idempotency: Idempotency,
    response: Response,
    _: Writer,
) -> SkillAssessmentPublic:
    return (await service.create_assessment(session, person_id, body, idempotency)).send(response)


@router.get(
    "/people/{person_id:uuid}/skill-assessments",
    tags=["skills"],
    response_model=SkillAssessments,
    responses=problem_responses(404),
    summary="The person's assessment history, oldest first.",
)
async def list_skill_assessments(
    person_id: uuid.UUID,
    session: SessionDep,
    _: Reader,
    skill: Annotated[str | None, Query(max_length=64, description="Only this skill (its key).")] = None,
) -> SkillAssessments:
    return await service.list_assessments(session, person_id, skill)


@router.get(
    "/people/{person_id:uuid}/skills",
    tags=["skills"],
    response_model=PersonSkills,
    responses=problem_responses(404),
    summary="The person's level in each skill on `on` (default today): the latest assessment on or before it.",
)
async def get_person_skills(
    person_id: uuid.UUID,
    session: SessionDep,
    settings: TalentSettingsDep,
    _: Reader,
    on: Annotated[IsoDate | None, Query(description="The day (default today).")] = None,
) -> PersonSkills:
    return await service.person_skills(session, person_id, on, settings)


# ---------------------------------------------------------------- required skills and gaps


@router.get(
    "/org-units/{id_or_key}/required-skills",
    tags=["skills"],
    response_model=RequiredSkills,
    responses={200: {"headers": response_headers("ETag")}, 304: NOT_MODIFIED, **problem_responses(404)},
    summary='The skills the unit requires (its own list; `ETag` "0" before any).',
)
async def get_required_skills(
    id_or_key: UnitIdOrKey, session: SessionDep, conditional: ConditionalRead, _: Reader
) -> RequiredSkills | Response:
    required, version = await service.read_required_skills(session, id_or_key)
    return conditional.not_modified(version) or conditional.tagged(required, version)


@router.put(
    "/org-units/{id_or_key}/required-skills",
    tags=["skills"],
    response_model=RequiredSkills,
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 412)},
    summary="Replace the unit's whole list of required skills (one item per skill).",
)
async def put_required_skills(
    id_or_key: UnitIdOrKey,
    body: RequiredSkillsIn,
    session: SessionDep,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> RequiredSkills:
    required, version = await service.put_required_skills(session, id_or_key, body, if_match)
    return tag.tagged(required, version)


@router.get(
    "/org-units/{id_or_key}/skill-gaps",
    tags=["skills"],
    response_model=SkillGaps,
    responses=problem_responses(404),
    summary="Every requirement of the unit's subtree at the close of `on`: who meets it, who falls short, "
    "trainings, internal candidates.",
)
async def get_skill_gaps(
    id_or_key: UnitIdOrKey,
    session: SessionDep,
    settings: TalentSettingsDep,
    _: Reader,
    on: Annotated[IsoDate | None, Query(description="The day (default today).")] = None,
) -> SkillGaps:
    return await service.skill_gaps(session, id_or_key, on, settings)


# ---------------------------------------------------------------- trainings and enrolments


@router.post(
    "/trainings",
    tags=["trainings"],
    status_code=status.HTTP_201_CREATED,
    response_model=TrainingPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(409)},
    summary="Add a training and the skills it develops (retry safely with Idempotency-Key).",
)
async def create_training(
    body: TrainingCreate, session: SessionDep, idempotency: Idempotency, response: Response, _: Writer
) -> TrainingPublic:
    return (await service.create_training(session, body, idempotency)).send(response)


@router.get("/trainings", tags=["trainings"], response_model=Page[TrainingPublic], summary="Trainings, by key.")
async def list_trainings(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    skill: Annotated[str | None, Query(max_length=64, description="Only trainings developing this skill.")] = None,
) -> Page[TrainingPublic]:
    return await service.list_trainings(session, page, skill=skill)


@router.get(
    "/trainings/{id_or_key}",
    tags=["trainings"],
    response_model=TrainingPublic,
    responses=problem_responses(404),
    summary="One training.",
)
async def get_training(id_or_key: IdOrKey, session: SessionDep, _: Reader) -> TrainingPublic:
    return await service.read_training(session, id_or_key)


@router.post(
    "/trainings/{id_or_key}/enrolments",
    tags=["trainings"],
    status_code=status.HTTP_201_CREATED,
    response_model=EnrolmentPublic,
    responses={201: {"headers": response_headers("ETag", "Location")}, **problem_responses(404, 409)},
    summary="Enrol a person employed on `enrolled_on` (retry safely with Idempotency-Key).",
)
async def create_enrolment(
    id_or_key: IdOrKey,
    body: EnrolmentCreate,
    session: SessionDep,
    idempotency: Idempotency,
    response: Response,
    _: Writer,
) -> EnrolmentPublic:
    return (await service.create_enrolment(session, id_or_key, body, idempotency)).send(response)


StatusFilter = Annotated[EnrolmentStatus | None, Query(description="Only enrolments in this status.")]
PersonFilter = Annotated[uuid.UUID | None, Query(description="Only this person's enrolments.")]


@router.get(
    "/trainings/{id_or_key}/enrolments",
    tags=["trainings"],
    response_model=Page[EnrolmentPublic],
    responses=problem_responses(404),
    summary="The training's enrolments, oldest first.",
)
async def list_training_enrolments(
    id_or_key: IdOrKey,
    session: SessionDep,
    page: PageParams,
    _: Reader,
    person_id: PersonFilter = None,
    status: StatusFilter = None,
) -> Page[EnrolmentPublic]:
    return await service.list_enrolments(session, page, training=id_or_key, person_id=person_id, status=status)


@router.get(
    "/enrolments",
    tags=["trainings"],
    response_model=Page[EnrolmentPublic],
    responses=problem_responses(404),
    summary="Enrolments, oldest first (filters: training, person, status).",
)
async def list_enrolments(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    training: Annotated[str | None, Query(max_length=64, description="The training's id or key.")] = None,
    person_id: PersonFilter = None,
    status: StatusFilter = None,
) -> Page[EnrolmentPublic]:
    return await service.list_enrolments(session, page, training=training, person_id=person_id, status=status)


@router.get(
    "/enrolments/{enrolment_id}",
    tags=["trainings"],
    response_model=EnrolmentPublic,
    responses={200: {"headers": response_headers("ETag")}, 304: NOT_MODIFIED, **problem_responses(404)},
    summary="One enrolment.",
)
async def get_enrolment(
    enrolment_id: uuid.UUID, session: SessionDep, conditional: ConditionalRead, _: Reader
) -> EnrolmentPublic | Response:
    enrolment, version = await service.read_enrolment(session, enrolment_id)
    return conditional.not_modified(version) or conditional.tagged(enrolment, version)


@router.patch(
    "/enrolments/{enrolment_id}",
    tags=["trainings"],
    response_model=EnrolmentPublic,
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 409, 412)},
    summary="Complete or drop an enrolment (only from `enrolled`).",
)
async def update_enrolment(
    enrolment_id: uuid.UUID,
    body: EnrolmentUpdate,
    session: SessionDep,
    settings: TalentSettingsDep,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> EnrolmentPublic:
    enrolment, version = await service.update_enrolment(session, enrolment_id, body, if_match, settings)
    return tag.tagged(enrolment, version)


# ---------------------------------------------------------------- org-unit health


@router.get(
    "/org-unit-health",
    tags=["org-units"],
    response_model=OrgUnitHealthList,
    summary="The talent health of many units at once (today, over each subtree); unknown ones listed in `unknown`.",
)
async def get_org_unit_health(
    session: SessionDep,
    settings: TalentSettingsDep,
    _: Reader,
    org_unit: Annotated[
        list[str], Query(description="Ids or keys of the units, repeated (`?org_unit=a&org_unit=b`); up to 500.")
    ],
) -> OrgUnitHealthList:
    return await service.org_unit_health(session, org_unit, settings)
