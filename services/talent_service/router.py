"""HTTP routes of the talent service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from services.talent_service import service
from services.talent_service.config import TalentSettingsDep
from services.talent_service.schemas import (
    AssignmentCreate,
    AssignmentPublic,
    Assignments,
    HrIndicators,
    HrIndicatorSeries,
    OrgUnitCreate,
    OrgUnitKind,
    OrgUnitPublic,
    OrgUnitTree,
    OrgUnitUpdate,
    PersonCreate,
    PersonPublic,
    PersonUpdate,
    Salaries,
    SalaryCreate,
    SalaryPublic,
    SeriesBucket,
    UpsertResult,
)
from shared.auth import CurrentPrincipal, Principal, RequireScope, Scope
from shared.concurrency import ConditionalRead, IfMatch, ResponseETag
from shared.db import SessionDep
from shared.errors import problem_response_object, problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams
from shared.schemas import IsoDate

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, RequireScope(Scope.talent_read)]
Writer = Annotated[Principal, RequireScope(Scope.talent_write)]
UnitIdOrKey = Annotated[str, Path(max_length=40, description="The org unit's id (hyphenated UUID) or key.")]
NOT_MODIFIED = {"description": "The `If-None-Match` ETag is still current.", "headers": response_headers("ETag")}


@router.get(
    "/org-units",
    tags=["org-units"],
    response_model=Page[OrgUnitPublic],
    summary="List org units.",
)
async def list_org_units(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    kind: Annotated[OrgUnitKind | None, Query(description="Only units of this kind.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only the children of this unit.")] = None,
    archived: Annotated[bool | None, Query(description="true: only archived units; false: only active ones.")] = None,
) -> Page[OrgUnitPublic]:
    return await service.list_org_units(session, page, kind=kind, parent_id=parent_id, archived=archived)


@router.post(
    "/org-units",
    tags=["org-units"],
    status_code=status.HTTP_201_CREATED,
    response_model=OrgUnitPublic,
    responses={201: {"headers": response_headers("ETag", "Location")}, **problem_responses(409)},
    summary="Create an org unit (retry safely with Idempotency-Key).",
)
async def create_org_unit(
    body: OrgUnitCreate, session: SessionDep, idempotency: Idempotency, response: Response, _: Writer
) -> OrgUnitPublic:
    return (await service.create_org_unit(session, body, idempotency)).send(response)


@router.get(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    response_model=OrgUnitPublic,
    responses={200: {"headers": response_headers("ETag")}, 304: NOT_MODIFIED, **problem_responses(404)},
    summary="One org unit.",
)
async def get_org_unit(
    id_or_key: UnitIdOrKey, session: SessionDep, conditional: ConditionalRead, _: Reader
) -> OrgUnitPublic | Response:
    unit, version = await service.read_org_unit(session, id_or_key)
    return conditional.not_modified(version) or conditional.tagged(unit, version)


@router.patch(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    response_model=OrgUnitPublic,
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 412, 428)},
    summary="Rename, re-kind, move or archive an org unit (If-Match required; the key never changes).",
)
async def update_org_unit(
    id_or_key: UnitIdOrKey,
    body: OrgUnitUpdate,
    session: SessionDep,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> OrgUnitPublic:
    unit, version = await service.update_org_unit(session, id_or_key, body, if_match)
    return tag.tagged(unit, version)


@router.delete(
    "/org-units/{id_or_key}",
    tags=["org-units"],
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        200: {
            "model": OrgUnitPublic,
            "description": "Something refers to the unit: it is archived, not deleted.",
            "headers": response_headers("ETag"),
        },
        **problem_responses(404, 412, 428),
    },
    summary="Delete an org unit, or archive it when anything refers to it.",
)
async def delete_org_unit(
    id_or_key: UnitIdOrKey, session: SessionDep, tag: ResponseETag, _: Writer, if_match: IfMatch = None
) -> OrgUnitPublic | None:
    archived = await service.delete_org_unit(session, id_or_key, if_match)
    if archived is None:
        return None
    tag.response.status_code = status.HTTP_200_OK
    return tag.tagged(*archived)


@router.get(
    "/org-units/{id_or_key}/tree",
    tags=["org-units"],
    response_model=OrgUnitTree,
    responses=problem_responses(404),
    summary="The unit with every descendant nested in `children` (archived ones included, marked).",
)
async def get_org_unit_tree(id_or_key: UnitIdOrKey, session: SessionDep, _: Reader) -> OrgUnitTree:
    return await service.org_unit_tree(session, id_or_key)


# ---------------------------------------------------------------- people


async def _salary_guard(request: Request, principal: CurrentPrincipal) -> None:
    await service.guard_salary(await request.body(), principal)


SalaryGuard = Depends(_salary_guard)
Sensitive = Annotated[Principal, RequireScope(Scope.talent_sensitive)]
SALARY_403: dict[int | str, dict[str, Any]] = {
    403: {
        **problem_response_object(403),
        "description": "Without the scope; or the body carries a salary and the caller lacks `talent:sensitive`.",
    }
}


@router.get(
    "/people",
    tags=["people"],
    response_model=Page[PersonPublic],
    response_model_exclude_unset=True,
    responses=problem_responses(404),
    summary="List people: with `org_unit`, those in its subtree on `active_on` (default today).",
)
async def list_people(
    session: SessionDep,
    page: PageParams,
    settings: TalentSettingsDep,
    principal: Reader,
    org_unit: Annotated[str | None, Query(max_length=40, description="Id or key: the unit's whole subtree.")] = None,
    active_on: Annotated[
        IsoDate | None, Query(description="Employed on this day (default today with `org_unit`).")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name, email or employee number.")] = None,
) -> Page[PersonPublic]:
    return await service.list_people(
        session, page, settings, principal, org_unit=org_unit, active_on=active_on, text_query=q
    )


@router.post(
    "/people",
    tags=["people"],
    status_code=status.HTTP_201_CREATED,
    response_model=PersonPublic,
    response_model_exclude_unset=True,
    dependencies=[SalaryGuard],
    responses={201: {"headers": response_headers("ETag", "Location")}, **problem_responses(409), **SALARY_403},
    summary="Hire a person: the first assignment starts on the hire date (retry safely with Idempotency-Key).",
)
async def create_person(
    body: PersonCreate, session: SessionDep, idempotency: Idempotency, response: Response, principal: Writer
) -> PersonPublic:
    return (await service.create_person(session, body, idempotency, principal)).send(response)


@router.post(
    "/people/batch",
    tags=["people"],
    response_model=UpsertResult,
    dependencies=[SalaryGuard],
    responses={**problem_responses(400, 413), **SALARY_403},
    summary="Upsert up to 1 000 people by employee number: all or nothing, each bad item by pointer.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PeopleBatch"}}},
        }
    },
)
async def upsert_people(
    request: Request, session: SessionDep, settings: TalentSettingsDep, principal: Writer
) -> UpsertResult:
    # Parsed by the service itself, item by item, so that every bad item is reported by its pointer.
    return await service.upsert_people(session, await request.body(), settings, principal)


@router.get(
    "/people/{person_id:uuid}",
    tags=["people"],
    response_model=PersonPublic,
    response_model_exclude_unset=True,
    responses={200: {"headers": response_headers("ETag")}, 304: NOT_MODIFIED, **problem_responses(404)},
    summary="One person.",
)
async def get_person(
    person_id: uuid.UUID,
    session: SessionDep,
    settings: TalentSettingsDep,
    conditional: ConditionalRead,
    principal: Reader,
) -> PersonPublic | Response:
    person, version = await service.read_person(session, person_id, settings, principal)
    return conditional.not_modified(version) or conditional.tagged(person, version)


@router.patch(
    "/people/{person_id:uuid}",
    tags=["people"],
    response_model=PersonPublic,
    response_model_exclude_unset=True,
    dependencies=[SalaryGuard],
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 409, 412, 428), **SALARY_403},
    summary="Change a person, e.g. `end_date` with `separation_reason` (If-Match required).",
)
async def update_person(
    person_id: uuid.UUID,
    body: PersonUpdate,
    session: SessionDep,
    settings: TalentSettingsDep,
    tag: ResponseETag,
    principal: Writer,
    if_match: IfMatch = None,
) -> PersonPublic:
    person, version = await service.update_person(session, person_id, body, if_match, settings, principal)
    return tag.tagged(person, version)


@router.get(
    "/people/{person_id:uuid}/assignments",
    tags=["people"],
    response_model=Assignments,
    responses=problem_responses(404),
    summary="The person's assignment history, oldest first (the first is effective on the hire date).",
)
async def list_assignments(person_id: uuid.UUID, session: SessionDep, _: Reader) -> Assignments:
    return await service.list_assignments(session, person_id)


@router.post(
    "/people/{person_id:uuid}/assignments",
    tags=["people"],
    status_code=status.HTTP_201_CREATED,
    response_model=AssignmentPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(404, 409)},
    summary="Move a person from `effective_date` on (after the hire date, not after the end date, one per day).",
)
async def create_assignment(
    person_id: uuid.UUID,
    body: AssignmentCreate,
    session: SessionDep,
    idempotency: Idempotency,
    response: Response,
    _: Writer,
) -> AssignmentPublic:
    return (await service.create_assignment(session, person_id, body, idempotency)).send(response)


@router.get(
    "/people/{person_id:uuid}/salaries",
    tags=["people"],
    response_model=Salaries,
    responses=problem_responses(404),
    summary="The person's salary history, oldest first (`talent:sensitive`).",
)
async def list_salaries(person_id: uuid.UUID, session: SessionDep, _: Sensitive) -> Salaries:
    return await service.list_salaries(session, person_id)


@router.post(
    "/people/{person_id:uuid}/salaries",
    tags=["people"],
    status_code=status.HTTP_201_CREATED,
    response_model=SalaryPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(404)},
    summary="Record a salary from `effective_date` on (`talent:sensitive` and `talent:write`).",
)
async def create_salary(
    person_id: uuid.UUID,
    body: SalaryCreate,
    session: SessionDep,
    idempotency: Idempotency,
    response: Response,
    _: Sensitive,
    __: Writer,
) -> SalaryPublic:
    return (await service.create_salary(session, person_id, body, idempotency)).send(response)


# ---------------------------------------------------------------- HR indicators

OrgUnitQuery = Annotated[str, Query(max_length=40, description="The unit (id or key): its whole subtree.")]


@router.get(
    "/hr-indicators",
    tags=["hr-indicators"],
    response_model=HrIndicators,
    responses=problem_responses(404),
    summary="DESIGN §9's HR indicators of a unit's subtree over [from, to] (cut at today).",
)
async def get_hr_indicators(
    session: SessionDep,
    settings: TalentSettingsDep,
    _: Reader,
    org_unit: OrgUnitQuery,
    from_: Annotated[IsoDate, Query(alias="from", description="First day (inclusive).")],
    to: Annotated[IsoDate, Query(description="Last day (inclusive); cut at today.")],
) -> HrIndicators:
    return await service.hr_indicators(session, org_unit, from_, to, settings)


@router.get(
    "/hr-indicators/series",
    tags=["hr-indicators"],
    response_model=HrIndicatorSeries,
    responses=problem_responses(404),
    summary="The HR indicators per calendar month, quarter or year over [from, to] (cut at today).",
)
async def get_hr_indicator_series(
    session: SessionDep,
    settings: TalentSettingsDep,
    _: Reader,
    org_unit: OrgUnitQuery,
    from_: Annotated[IsoDate, Query(alias="from", description="First day (inclusive).")],
    to: Annotated[IsoDate, Query(description="Last day (inclusive); cut at today.")],
    bucket: Annotated[SeriesBucket, Query()] = SeriesBucket.month,
) -> HrIndicatorSeries:
    return await service.hr_indicator_series(session, org_unit, bucket, from_, to, settings)
