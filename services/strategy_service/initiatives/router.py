"""HTTP routes of initiatives: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from services.strategy_service.config import StrategySettingsDep
from services.strategy_service.initiatives import service
from services.strategy_service.initiatives.schemas import (
    InitiativeCreate,
    InitiativeEffect,
    InitiativePublic,
    InitiativeUpdate,
    ProgressUpdateCreate,
    ProgressUpdatePublic,
)
from services.strategy_service.router import Kpi, Reader, Writer
from shared.concurrency import IfMatch, ResponseETag
from shared.contracts.strategy import InitiativeBriefs, InitiativeLookup, InitiativeStatus
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams

router = APIRouter(prefix="/v1")

_TAGGED: dict[int | str, dict[str, Any]] = {200: {"headers": response_headers("ETag")}}
_CREATED: dict[int | str, dict[str, Any]] = {201: {"headers": response_headers("ETag", "Location")}}


@router.post(
    "/initiatives",
    tags=["initiatives"],
    status_code=status.HTTP_201_CREATED,
    response_model=InitiativePublic,
    responses={**_CREATED, **problem_responses(422, 503)},
    summary="Create an initiative aimed at an objective, a key result or a KPI (retry safely with Idempotency-Key).",
)
async def create_initiative(
    body: InitiativeCreate,
    session: SessionDep,
    idempotency: Idempotency,
    settings: StrategySettingsDep,
    kpi: Kpi,
    response: Response,
    _: Writer,
) -> InitiativePublic:
    return (await service.create_initiative(session, body, idempotency, settings, kpi)).send(response)


@router.get("/initiatives", tags=["initiatives"], response_model=Page[InitiativePublic], summary="List initiatives.")
async def list_initiatives(
    session: SessionDep,
    page: PageParams,
    settings: StrategySettingsDep,
    _: Reader,
    kpi: Annotated[str | None, Query(max_length=100, description="Only initiatives aimed at this KPI (key).")] = None,
    objective_id: Annotated[uuid.UUID | None, Query(description="Only those aimed at this objective.")] = None,
    key_result_id: Annotated[uuid.UUID | None, Query(description="Only those aimed at this key result.")] = None,
    owner_org_unit_id: Annotated[uuid.UUID | None, Query(description="Only those this unit owns.")] = None,
    status_filter: Annotated[InitiativeStatus | None, Query(alias="status", description="Only in this status.")] = None,
    overdue: Annotated[
        bool, Query(description="true: only open ones (planned, in progress) due before today.")
    ] = False,
    archived: Annotated[bool, Query(description="true: only archived initiatives; false: only the others.")] = False,
) -> Page[InitiativePublic]:
    return await service.list_initiatives(
        session, page, settings,
        kpi=kpi, objective_id=objective_id, key_result_id=key_result_id, owner_org_unit_id=owner_org_unit_id,
        status=status_filter, overdue=overdue, archived=archived,
    )  # fmt: skip


@router.get(
    "/initiatives/{initiative_id}",
    tags=["initiatives"],
    response_model=InitiativePublic,
    responses={**_TAGGED, **problem_responses(404)},
    summary="One initiative.",
)
async def get_initiative(
    initiative_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, tag: ResponseETag, _: Reader
) -> InitiativePublic:
    initiative = await service.read_initiative(session, initiative_id, settings)
    return tag.tagged(initiative, initiative.version)


@router.patch(
    "/initiatives/{initiative_id}",
    tags=["initiatives"],
    response_model=InitiativePublic,
    responses={**_TAGGED, **problem_responses(404, 409, 412, 422, 428, 503)},
    summary="Change an initiative or move its status (If-Match required); "
    "planned → in_progress → done | cancelled, planned → cancelled.",
)
async def update_initiative(
    initiative_id: uuid.UUID,
    body: InitiativeUpdate,
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> InitiativePublic:
    initiative = await service.update_initiative(session, initiative_id, body, if_match, settings, kpi)
    return tag.tagged(initiative, initiative.version)


@router.delete(
    "/initiatives/{initiative_id}",
    tags=["initiatives"],
    response_model=InitiativePublic,
    responses={**_TAGGED, **problem_responses(404, 412, 428)},
    summary="Archive an initiative (If-Match required): it leaves lists; its updates stay.",
)
async def archive_initiative(
    initiative_id: uuid.UUID,
    session: SessionDep,
    settings: StrategySettingsDep,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> InitiativePublic:
    initiative = await service.archive_initiative(session, initiative_id, if_match, settings)
    return tag.tagged(initiative, initiative.version)


@router.post(
    "/initiatives/{initiative_id}/updates",
    tags=["initiatives"],
    status_code=status.HTTP_201_CREATED,
    response_model=ProgressUpdatePublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(404, 409, 422)},
    summary="Post a dated update on the initiative (append-only; retry safely with Idempotency-Key).",
)
async def create_initiative_update(
    initiative_id: uuid.UUID,
    body: ProgressUpdateCreate,
    session: SessionDep,
    idempotency: Idempotency,
    response: Response,
    _: Writer,
) -> ProgressUpdatePublic:
    return (await service.create_update(session, initiative_id, body, idempotency)).send(response)


@router.get(
    "/initiatives/{initiative_id}/updates",
    tags=["initiatives"],
    response_model=Page[ProgressUpdatePublic],
    responses=problem_responses(404),
    summary="The initiative's updates, newest first.",
)
async def list_initiative_updates(
    initiative_id: uuid.UUID, session: SessionDep, page: PageParams, _: Reader
) -> Page[ProgressUpdatePublic]:
    return await service.list_updates(session, initiative_id, page)


@router.get(
    "/initiatives/{initiative_id}/effect",
    tags=["initiatives"],
    response_model=InitiativeEffect,
    responses=problem_responses(404, 409, 503),
    summary="Did the KPI move? Its daily values before the initiative against after it (DESIGN §9).",
)
async def get_initiative_effect(
    initiative_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, kpi: Kpi, _: Reader
) -> InitiativeEffect:
    return await service.initiative_effect(session, initiative_id, settings, kpi)


@router.post(
    "/initiative-lookups",
    tags=["initiatives"],
    response_model=InitiativeBriefs,
    summary="The initiatives aimed at any of many objectives, key results or KPIs, in one read (a read; "
    "safe to retry).",
)
async def lookup_initiatives(
    body: InitiativeLookup, session: SessionDep, settings: StrategySettingsDep, _: Reader
) -> InitiativeBriefs:
    return await service.lookup_initiatives(session, body, settings)
