"""HTTP routes of the strategy service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.strategy_service import service
from services.strategy_service.config import StrategySettingsDep
from services.strategy_service.models import Level
from services.strategy_service.schemas import (
    CheckInCreate,
    CheckInPublic,
    KeyResultCreate,
    KeyResultPublic,
    KeyResultUpdate,
    ObjectiveCreate,
    ObjectivePublic,
    ObjectiveTree,
    ObjectiveUpdate,
)
from shared.auth import CurrentPrincipal, Principal, RequireScope, Scope
from shared.clients import KpiClient
from shared.concurrency import IfMatch, ResponseETag
from shared.contracts.strategy import (
    KpiLinks,
    ObjectiveCopy,
    ObjectiveCopyCreate,
    ObjectiveForest,
    ObjectiveLineage,
    ObjectiveStatus,
)
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams
from shared.schemas import IsoDate

router = APIRouter(prefix="/v1")


def _kpi_client(request: Request, principal: CurrentPrincipal) -> KpiClient | None:
    """The process's KPI client acting for the caller; None where none was started (reads then
    degrade as if the KPI service were down, and links cannot be checked: 503)."""
    client: KpiClient | None = getattr(request.app.state, "kpi_client", None)
    return client.acting_for(principal.key_id) if client is not None else None


Kpi = Annotated[KpiClient | None, Depends(_kpi_client)]
Reader = Annotated[Principal, RequireScope(Scope.strategy_read)]
Writer = Annotated[Principal, RequireScope(Scope.strategy_write)]
_TAGGED: dict[int | str, dict[str, Any]] = {200: {"headers": response_headers("ETag")}}
_CREATED: dict[int | str, dict[str, Any]] = {201: {"headers": response_headers("ETag", "Location")}}


@router.get("/objectives", tags=["objectives"], response_model=Page[ObjectivePublic], summary="List objectives.")
async def list_objectives(
    session: SessionDep,
    page: PageParams,
    settings: StrategySettingsDep,
    kpi: Kpi,
    _: Reader,
    level: Annotated[Level | None, Query(description="Only objectives at this level.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only objectives aligned to this one.")] = None,
    owner_org_unit_id: Annotated[uuid.UUID | None, Query(description="Only objectives this unit owns.")] = None,
    status_filter: Annotated[ObjectiveStatus | None, Query(alias="status", description="Only in this status.")] = None,
    active_on: Annotated[IsoDate | None, Query(description="Only objectives whose period holds this day.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the title or description.")] = None,
    archived: Annotated[bool, Query(description="true: only archived objectives; false: only the others.")] = False,
) -> Page[ObjectivePublic]:
    return await service.list_objectives(
        session, page, settings, kpi,
        level=level, parent_id=parent_id, owner_org_unit_id=owner_org_unit_id, status=status_filter,
        active_on=active_on, text=q, archived=archived,
    )  # fmt: skip


@router.post(
    "/objectives",
    tags=["objectives"],
    status_code=status.HTTP_201_CREATED,
    response_model=ObjectivePublic,
    responses={**_CREATED, **problem_responses(422)},
    summary="Create an objective (retry safely with Idempotency-Key).",
)
async def create_objective(
    body: ObjectiveCreate,
    session: SessionDep,
    idempotency: Idempotency,
    settings: StrategySettingsDep,
    kpi: Kpi,
    response: Response,
    _: Writer,
) -> ObjectivePublic:
    return (await service.create_objective(session, body, idempotency, settings, kpi)).send(response)


@router.get(
    "/objectives/{objective_id}",
    tags=["objectives"],
    response_model=ObjectivePublic,
    responses={**_TAGGED, **problem_responses(404)},
    summary="One objective, with its progress and pace.",
)
async def get_objective(
    objective_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, kpi: Kpi, tag: ResponseETag, _: Reader
) -> ObjectivePublic:
    objective = await service.read_objective(session, objective_id, settings, kpi)
    return tag.tagged(objective, objective.version)


@router.get(
    "/objectives/{objective_id}/tree",
    tags=["objectives"],
    response_model=ObjectiveTree,
    responses=problem_responses(404),
    summary="The objective and every descendant, each with its key results and progress.",
)
async def get_objective_tree(
    objective_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, kpi: Kpi, _: Reader
) -> ObjectiveTree:
    return await service.objective_tree(session, objective_id, settings, kpi)


@router.get(
    "/objectives/{objective_id}/lineage",
    tags=["objectives"],
    response_model=ObjectiveLineage,
    responses=problem_responses(404),
    summary="The objective with its key results, and every objective above it up to the root, with progress.",
)
async def get_objective_lineage(
    objective_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, kpi: Kpi, _: Reader
) -> ObjectiveLineage:
    return await service.objective_lineage(session, objective_id, settings, kpi)


@router.get(
    "/objective-forest",
    tags=["objectives"],
    response_model=ObjectiveForest,
    summary="Every objective active on a day as trees, each with progress, key results and latest check-ins.",
)
async def get_objective_forest(
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    _: Reader,
    active_on: Annotated[IsoDate | None, Query(description="The day (default: today, the organisation's).")] = None,
    level: Annotated[Level | None, Query(description="Only objectives at this level.")] = None,
) -> ObjectiveForest:
    return await service.objective_forest(session, settings, kpi, active_on=active_on, level=level)


@router.post(
    "/objectives/{objective_id}/copy",
    tags=["objectives"],
    status_code=status.HTTP_201_CREATED,
    response_model=ObjectiveCopy,
    responses={**_CREATED, **problem_responses(404, 422, 503)},
    summary="Copy an objective and its key results into another period (retry safely with Idempotency-Key).",
)
async def copy_objective(
    objective_id: uuid.UUID,
    body: ObjectiveCopyCreate,
    session: SessionDep,
    idempotency: Idempotency,
    settings: StrategySettingsDep,
    kpi: Kpi,
    response: Response,
    _: Writer,
) -> ObjectiveCopy:
    return (await service.copy_objective(session, objective_id, body, idempotency, settings, kpi)).send(response)


@router.patch(
    "/objectives/{objective_id}",
    tags=["objectives"],
    response_model=ObjectivePublic,
    responses={**_TAGGED, **problem_responses(404, 412, 422, 428)},
    summary="Change an objective (If-Match required).",
)
async def update_objective(
    objective_id: uuid.UUID,
    body: ObjectiveUpdate,
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> ObjectivePublic:
    objective = await service.update_objective(session, objective_id, body, if_match, settings, kpi)
    return tag.tagged(objective, objective.version)


@router.delete(
    "/objectives/{objective_id}",
    tags=["objectives"],
    response_model=ObjectivePublic,
    responses={**_TAGGED, **problem_responses(404, 412, 428)},
    summary="Archive an objective (If-Match required): it leaves lists and its parent's progress.",
)
async def archive_objective(
    objective_id: uuid.UUID,
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> ObjectivePublic:
    objective = await service.archive_objective(session, objective_id, if_match, settings, kpi)
    return tag.tagged(objective, objective.version)


@router.post(
    "/objectives/{objective_id}/key-results",
    tags=["key-results"],
    status_code=status.HTTP_201_CREATED,
    response_model=KeyResultPublic,
    responses={**_CREATED, **problem_responses(404, 409, 422, 503)},
    summary="Add a key result to an objective (retry safely with Idempotency-Key).",
)
async def create_key_result(
    objective_id: uuid.UUID,
    body: KeyResultCreate,
    session: SessionDep,
    idempotency: Idempotency,
    settings: StrategySettingsDep,
    kpi: Kpi,
    response: Response,
    _: Writer,
) -> KeyResultPublic:
    return (await service.create_key_result(session, objective_id, body, idempotency, settings, kpi)).send(response)


@router.get(
    "/objectives/{objective_id}/key-results",
    tags=["key-results"],
    response_model=Page[KeyResultPublic],
    responses=problem_responses(404),
    summary="The objective's key results, oldest first, with their progress.",
)
async def list_key_results(
    objective_id: uuid.UUID, session: SessionDep, page: PageParams, settings: StrategySettingsDep, kpi: Kpi, _: Reader
) -> Page[KeyResultPublic]:
    return await service.list_key_results(session, objective_id, page, settings, kpi)


@router.get(
    "/key-results",
    tags=["key-results"],
    response_model=Page[KeyResultPublic],
    summary="Key results not archived (of objectives not archived), oldest first; with `kpi`, what that KPI measures.",
)
async def list_measured_key_results(
    session: SessionDep,
    page: PageParams,
    settings: StrategySettingsDep,
    kpi_client: Kpi,
    _: Reader,
    kpi: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Only key results this KPI measures (its key).")
    ] = None,
) -> Page[KeyResultPublic]:
    return await service.list_measured_key_results(session, page, settings, kpi_client, kpi=kpi)


@router.get(
    "/kpi-links",
    tags=["key-results"],
    response_model=KpiLinks,
    summary="Every KPI that measures a key result, with those key results and their objectives: complete, by key.",
)
async def list_kpi_links(
    session: SessionDep,
    _: Reader,
    active_on: Annotated[
        IsoDate | None, Query(description="Only key results of objectives whose period holds this day.")
    ] = None,
) -> KpiLinks:
    return await service.kpi_links(session, active_on=active_on)


@router.get(
    "/key-results/{key_result_id}",
    tags=["key-results"],
    response_model=KeyResultPublic,
    responses={**_TAGGED, **problem_responses(404)},
    summary="One key result, with its current value, progress and forecast.",
)
async def get_key_result(
    key_result_id: uuid.UUID, session: SessionDep, settings: StrategySettingsDep, kpi: Kpi, tag: ResponseETag, _: Reader
) -> KeyResultPublic:
    key_result = await service.read_key_result(session, key_result_id, settings, kpi)
    return tag.tagged(key_result, key_result.version)


@router.patch(
    "/key-results/{key_result_id}",
    tags=["key-results"],
    response_model=KeyResultPublic,
    responses={**_TAGGED, **problem_responses(404, 412, 422, 428, 503)},
    summary="Change a key result (If-Match required; the kind never changes).",
)
async def update_key_result(
    key_result_id: uuid.UUID,
    body: KeyResultUpdate,
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> KeyResultPublic:
    key_result = await service.update_key_result(session, key_result_id, body, if_match, settings, kpi)
    return tag.tagged(key_result, key_result.version)


@router.delete(
    "/key-results/{key_result_id}",
    tags=["key-results"],
    response_model=KeyResultPublic,
    responses={**_TAGGED, **problem_responses(404, 412, 428)},
    summary="Archive a key result (If-Match required): it stops counting; its check-ins stay.",
)
async def archive_key_result(
    key_result_id: uuid.UUID,
    session: SessionDep,
    settings: StrategySettingsDep,
    kpi: Kpi,
    tag: ResponseETag,
    _: Writer,
    if_match: IfMatch = None,
) -> KeyResultPublic:
    key_result = await service.archive_key_result(session, key_result_id, if_match, settings, kpi)
    return tag.tagged(key_result, key_result.version)


@router.post(
    "/key-results/{key_result_id}/check-ins",
    tags=["check-ins"],
    status_code=status.HTTP_201_CREATED,
    response_model=CheckInPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(404, 409, 422)},
    summary="Record a check-in (append-only; retry safely with Idempotency-Key).",
)
async def create_check_in(
    key_result_id: uuid.UUID,
    body: CheckInCreate,
    session: SessionDep,
    idempotency: Idempotency,
    settings: StrategySettingsDep,
    response: Response,
    _: Writer,
) -> CheckInPublic:
    return (await service.create_check_in(session, key_result_id, body, idempotency, settings)).send(response)


@router.get(
    "/key-results/{key_result_id}/check-ins",
    tags=["check-ins"],
    response_model=Page[CheckInPublic],
    responses=problem_responses(404),
    summary="The key result's check-ins, newest first.",
)
async def list_check_ins(
    key_result_id: uuid.UUID, session: SessionDep, page: PageParams, _: Reader
) -> Page[CheckInPublic]:
    return await service.list_check_ins(session, key_result_id, page)
