"""HTTP routes of the KPI service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.kpi_service import service
from services.kpi_service.config import KpiSettingsDep
from services.kpi_service.schemas import (
    DomainInfo,
    IngestResult,
    KpiCreate,
    KpiPublic,
    KpiStatus,
    KpiStatuses,
    KpiUpdate,
    MeasurementBatch,
    MeasurementPublic,
    Series,
    StatusEventPublic,
    Targets,
    TargetsPut,
)
from shared.auth import Principal, RequireScope, Scope
from shared.concurrency import ConditionalRead, IfMatch, ResponseETag
from shared.contracts.kpi import (
    MAX_AGGREGATE_REQUESTS,
    Bucket,
    Domain,
    KpiAggregates,
    KpiAggregatesQuery,
    KpiIndex,
    KpiIndexInclude,
    Status,
)
from shared.db import SessionDep, database_from
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams
from shared.schemas import Rfc3339

router = APIRouter(prefix="/v1", tags=["kpis"])
Reader = Annotated[Principal, RequireScope(Scope.kpi_read)]
Writer = Annotated[Principal, RequireScope(Scope.kpi_write)]
Pusher = Annotated[Principal, RequireScope(Scope.measurements_write, Scope.kpi_write)]
IdOrKey = Annotated[str, Path(description="The KPI's id (hyphenated UUID) or key.")]


@router.get("/kpi-domains", response_model=list[DomainInfo], summary="The KPI domains.")
async def list_kpi_domains(_: Reader) -> list[DomainInfo]:
    return service.kpi_domains()


@router.get("/kpis", response_model=Page[KpiPublic], summary="List KPI definitions.")
async def list_kpis(
    session: SessionDep,
    page: PageParams,
    settings: KpiSettingsDep,
    _: Reader,
    domain: Annotated[Domain | None, Query(description="Only KPIs of this domain.")] = None,
    owner: Annotated[uuid.UUID | None, Query(description="Only KPIs owned by this org unit.")] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Only KPIs with this tag.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or key.")] = None,
    status_filter: Annotated[Status | None, Query(alias="status", description="Only KPIs in this status now.")] = None,
    archived: Annotated[bool, Query(description="true: only archived KPIs; false: only active ones.")] = False,
    responsible_person_id: Annotated[
        uuid.UUID | None, Query(description="Only KPIs this person (a talent person id) answers for.")
    ] = None,
) -> Page[KpiPublic]:
    return await service.list_kpis(
        session, page, settings,
        domain=domain, owner=owner, tag=tag, text_query=q, archived=archived, status=status_filter,
        responsible_person_id=responsible_person_id,
    )  # fmt: skip


@router.get(
    "/kpi-index",
    response_model=KpiIndex,
    summary="Every KPI that is not archived, with its owner unit and responsible person: complete, by key.",
)
async def read_kpi_index(
    request: Request,
    settings: KpiSettingsDep,
    _: Reader,
    owner: Annotated[
        list[uuid.UUID] | None, Query(description="Only KPIs owned by one of these units (repeat the parameter).")
    ] = None,
    kpi: Annotated[
        list[str] | None,
        Query(max_length=500, description="And these KPIs, by key, whoever owns them (repeat the parameter)."),
    ] = None,
    include: Annotated[list[KpiIndexInclude] | None, Query(description="`status`: each KPI's status.")] = None,
) -> KpiIndex:
    async with database_from(request).driver_connection() as connection:
        return await service.read_kpi_index(
            connection,
            settings,
            owners=owner or (),
            keys=kpi or (),
            with_status=KpiIndexInclude.status in (include or ()),
        )


@router.post(
    "/kpis",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiPublic,
    responses={201: {"headers": response_headers("ETag", "Location")}, **problem_responses(409)},
    summary="Create a KPI definition (retry safely with Idempotency-Key).",
)
async def create_kpi(
    body: KpiCreate, session: SessionDep, idempotency: Idempotency, response: Response, principal: Writer
) -> KpiPublic:
    return (await service.create_kpi(session, body, idempotency, principal=principal)).send(response)


@router.get(
    "/kpis/{id_or_key}",
    response_model=KpiPublic,
    responses={
        200: {"headers": response_headers("ETag")},
        304: {"description": "The `If-None-Match` ETag is still current.", "headers": response_headers("ETag")},
        **problem_responses(404),
    },
    summary="One KPI.",
)
async def get_kpi(
    id_or_key: IdOrKey, session: SessionDep, conditional: ConditionalRead, _: Reader
) -> KpiPublic | Response:
    kpi = await service.read_kpi(session, id_or_key)
    return conditional.not_modified(kpi.version) or conditional.tagged(kpi, kpi.version)


@router.patch(
    "/kpis/{id_or_key}",
    response_model=KpiPublic,
    responses={200: {"headers": response_headers("ETag")}, **problem_responses(404, 412, 428)},
    summary="Change a KPI definition (If-Match required; the key never changes).",
)
async def update_kpi(
    id_or_key: IdOrKey,
    body: KpiUpdate,
    session: SessionDep,
    settings: KpiSettingsDep,
    tag: ResponseETag,
    principal: Writer,
    if_match: IfMatch = None,
) -> KpiPublic:
    kpi = await service.update_kpi(session, id_or_key, body, if_match, settings, principal=principal)
    return tag.tagged(kpi, kpi.version)


@router.delete(
    "/kpis/{id_or_key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        200: {
            "model": KpiPublic,
            "description": "The KPI had measurements: it is archived, not deleted.",
            "headers": response_headers("ETag"),
        },
        **problem_responses(404, 412, 428),
    },
    summary="Delete a KPI, or archive it when it has measurements (they are never destroyed).",
)
async def delete_kpi(
    id_or_key: IdOrKey, session: SessionDep, tag: ResponseETag, principal: Writer, if_match: IfMatch = None
) -> KpiPublic | None:
    archived = await service.delete_kpi(session, id_or_key, if_match, principal=principal)
    if archived is None:
        return None
    tag.response.status_code = status.HTTP_200_OK
    return tag.tagged(archived, archived.version)


@router.get("/kpis/{id_or_key}/targets", response_model=Targets, responses=problem_responses(404), summary="Targets.")
async def get_targets(id_or_key: IdOrKey, session: SessionDep, _: Reader) -> Targets:
    return await service.read_targets(session, id_or_key)


@router.put(
    "/kpis/{id_or_key}/targets",
    response_model=Targets,
    responses=problem_responses(404, 412),
    summary="Replace the KPI's period targets (non-overlapping).",
)
async def put_targets(
    id_or_key: IdOrKey,
    body: TargetsPut,
    session: SessionDep,
    settings: KpiSettingsDep,
    principal: Writer,
    if_match: IfMatch = None,
) -> Targets:
    return await service.put_targets(session, id_or_key, body.targets, if_match, settings, principal=principal)


@router.post(
    "/measurements",
    response_model=IngestResult,
    responses=problem_responses(413),
    summary="Push measurements: all or nothing, idempotent per (kpi, ts).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MeasurementBatch"}}},
        }
    },
)
async def ingest_measurements(
    request: Request,
    session: SessionDep,
    settings: KpiSettingsDep,
    principal: Pusher,
    dry_run: Annotated[bool, Query(description="Validate and count, write nothing.")] = False,
) -> IngestResult:
    # The body is parsed by the service itself (orjson and one pass: the busiest write path).
    body = await request.body()
    return await service.ingest(session, body, principal=principal, dry_run=dry_run, settings=settings)


@router.get(
    "/kpis/{id_or_key}/measurements",
    response_model=Page[MeasurementPublic],
    responses=problem_responses(404),
    summary="Raw points in [from, to), oldest first; with as_of, as they were known then.",
)
async def list_measurements(
    id_or_key: IdOrKey,
    session: SessionDep,
    page: PageParams,
    _: Reader,
    from_: Annotated[Rfc3339 | None, Query(alias="from")] = None,
    to: Annotated[Rfc3339 | None, Query()] = None,
    as_of: Annotated[Rfc3339 | None, Query(description="What was known at this instant.")] = None,
) -> Page[MeasurementPublic]:
    return await service.list_measurements(session, id_or_key, page, start=from_, end=to, as_of=as_of)


@router.get(
    "/kpis/{id_or_key}/series",
    response_model=Series,
    responses=problem_responses(404),
    summary="The KPI per local day, week, month, quarter or year: its aggregation plus count, sum, min, max.",
)
async def get_series(
    id_or_key: IdOrKey,
    session: SessionDep,
    settings: KpiSettingsDep,
    _: Reader,
    bucket: Annotated[Bucket, Query()] = Bucket.day,
    from_: Annotated[Rfc3339 | None, Query(alias="from", description="Default: a year before `to`.")] = None,
    to: Annotated[Rfc3339 | None, Query(description="Default: now.")] = None,
    tz: Annotated[str | None, Query(description="IANA zone of the calendar (default: the organisation's).")] = None,
) -> Series:
    return await service.read_series(session, id_or_key, bucket, start=from_, end=to, tz=tz, settings=settings)


@router.get(
    "/kpis/{id_or_key}/status", response_model=KpiStatus, responses=problem_responses(404), summary="Status now."
)
async def get_status(id_or_key: IdOrKey, request: Request, settings: KpiSettingsDep, _: Reader) -> KpiStatus:
    # The busiest read of the platform: one query on a bare pooled connection, no ORM session, and no
    # generator dependency (FastAPI's exit stack around one costs more than the query's encoding).
    async with database_from(request).driver_connection() as connection:
        return await service.read_status(connection, id_or_key, settings)


@router.get(
    "/kpi-statuses",
    response_model=KpiStatuses,
    responses=problem_responses(404),
    summary=f"Status of many KPIs at once (up to {service.MAX_STATUSES}), in the order asked.",
)
async def list_kpi_statuses(
    request: Request,
    settings: KpiSettingsDep,
    _: Reader,
    kpi: Annotated[list[str], Query(min_length=1, description="KPI keys (repeat the parameter).")],
) -> KpiStatuses:
    async with database_from(request).driver_connection() as connection:
        return await service.read_statuses(connection, kpi, settings)


@router.post(
    "/kpi-aggregates",
    response_model=KpiAggregates,
    responses=problem_responses(422),
    summary=f"Many KPIs aggregated over local date ranges at once (up to {MAX_AGGREGATE_REQUESTS}); a read.",
)
async def read_kpi_aggregates(
    body: KpiAggregatesQuery, request: Request, settings: KpiSettingsDep, _: Reader
) -> KpiAggregates:
    async with database_from(request).driver_connection() as connection:
        return await service.read_aggregates(connection, body, settings)


@router.get(
    "/kpi-events",
    response_model=Page[StatusEventPublic],
    summary="Status changes (e.g. green → red), oldest first: the basis for alerts.",
)
async def list_kpi_events(
    session: SessionDep,
    page: PageParams,
    _: Reader,
    since: Annotated[Rfc3339 | None, Query(description="Only changes at or after this instant.")] = None,
    kpi: Annotated[list[str] | None, Query(description="Only these KPI keys (repeat the parameter).")] = None,
) -> Page[StatusEventPublic]:
    return await service.list_events(session, page, since=since, kpis=kpi)


__all__ = ["MeasurementBatch", "router"]
