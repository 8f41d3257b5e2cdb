"""HTTP routes of the KPI service. Thin: validation and wiring only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlmodel import col

from services.kpi_service import repository, service
from services.kpi_service.calendar_units import Unit
from services.kpi_service.config import KpiSettings
from services.kpi_service.models import IdempotencyRecord, Kpi, StatusEvent
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
    SeriesBucket,
    StatusEventPublic,
    TargetPublic,
    Targets,
    TargetsPut,
)
from services.kpi_service.series import BUCKETS, SeriesWindow, bucket_value, series_window
from shared.auth import Principal, RequireScope, Scope
from shared.concurrency import IdempotencyKey, IfMatch, etag, request_fingerprint
from shared.contracts.kpi import Aggregation, Bucket, Domain, Status
from shared.db import SessionDep, database_from
from shared.errors import BadRequest, FieldError, NotFound, UnprocessableContent, problem_responses
from shared.pagination import Page, PageParams, decode_values, encode_cursor, paginate
from shared.schemas import Rfc3339

router = APIRouter(prefix="/v1", tags=["kpis"])
Reader = Annotated[Principal, RequireScope(Scope.kpi_read)]
Writer = Annotated[Principal, RequireScope(Scope.kpi_write)]
Pusher = Annotated[Principal, RequireScope(Scope.measurements_write, Scope.kpi_write)]
IdOrKey = Annotated[str, Path(description="The KPI's id (hyphenated UUID) or key.")]
MAX_STATUSES = 500


async def settings_of(request: Request) -> KpiSettings:  # async: a plain def would run in a thread
    settings: KpiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[KpiSettings, Depends(settings_of)]


def _with_etag(body: KpiPublic, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status_code, headers={"ETag": etag(body.version), **(headers or {})}
    )


@router.get("/kpi-domains", response_model=list[DomainInfo], summary="The KPI domains.")
async def list_kpi_domains(_: Reader) -> list[DomainInfo]:
    return [DomainInfo(key=d, label=d.value.replace("_", " ").capitalize()) for d in Domain]


@router.get("/kpis", response_model=Page[KpiPublic], summary="List KPI definitions.")
async def list_kpis(
    session: SessionDep,
    page: PageParams,
    settings: SettingsDep,
    _: Reader,
    domain: Annotated[Domain | None, Query(description="Only KPIs of this domain.")] = None,
    owner: Annotated[uuid.UUID | None, Query(description="Only KPIs owned by this org unit.")] = None,
    tag: Annotated[str | None, Query(max_length=50, description="Only KPIs with this tag.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name or key.")] = None,
    status_filter: Annotated[Status | None, Query(alias="status", description="Only KPIs in this status now.")] = None,
    archived: Annotated[bool, Query(description="true: only archived KPIs; false: only active ones.")] = False,
) -> Page[KpiPublic]:
    status_ids = None
    if status_filter is not None:
        grace = dt.timedelta(hours=settings.stale_grace_hours)
        status_ids = repository.ids_with_status(status_filter, settings.org_timezone, grace)
    statement = repository.kpis_query(
        domain=domain, owner=owner, tag=tag, text_query=q, archived=archived, status_ids=status_ids
    )
    return await paginate(session, statement, (col(Kpi.created_at), col(Kpi.id)), page, service.kpi_public)


@router.post(
    "/kpis",
    status_code=status.HTTP_201_CREATED,
    response_model=KpiPublic,
    responses=problem_responses(409),
    summary="Create a KPI definition (retry safely with Idempotency-Key).",
)
async def create_kpi(
    body: KpiCreate, request: Request, session: SessionDep, principal: Writer, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    fingerprint = request_fingerprint("POST", request.url.path, await request.body())
    if idempotency_key is not None:
        previous = await repository.idempotency_record(session, principal.key_id, idempotency_key)
        if previous is not None:
            if previous.request_hash != fingerprint:
                raise UnprocessableContent(
                    "This Idempotency-Key was used with another request.",
                    errors=[
                        FieldError(location="header", parameter="Idempotency-Key", message="Reused.", code="reused")
                    ],
                )
            return JSONResponse(previous.response, status_code=previous.status_code, headers=previous.headers)
    kpi = await service.create_kpi(session, body, principal=principal)
    public = service.kpi_public(kpi)
    headers = {"Location": f"/v1/kpis/{kpi.key}"}
    response = _with_etag(public, 201, headers)
    if idempotency_key is not None:
        await repository.save_idempotency_record(
            session,
            IdempotencyRecord(
                principal=principal.key_id,
                key=idempotency_key,
                request_hash=fingerprint,
                status_code=201,
                response=public.model_dump(mode="json"),
                headers={**headers, "ETag": etag(public.version)},
            ),
        )
    return response


@router.get("/kpis/{id_or_key}", response_model=KpiPublic, responses=problem_responses(404), summary="One KPI.")
async def get_kpi(
    id_or_key: IdOrKey,
    session: SessionDep,
    _: Reader,
    if_none_match: Annotated[str | None, Header(description="304 when the ETag is still current.")] = None,
) -> Response:
    kpi = await service.get_kpi(session, id_or_key)
    if if_none_match is not None and etag(kpi.version) in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag(kpi.version)})
    return _with_etag(service.kpi_public(kpi))


@router.patch(
    "/kpis/{id_or_key}",
    response_model=KpiPublic,
    responses=problem_responses(404, 412, 428),
    summary="Change a KPI definition (If-Match required; the key never changes).",
)
async def update_kpi(
    id_or_key: IdOrKey,
    body: KpiUpdate,
    session: SessionDep,
    settings: SettingsDep,
    principal: Writer,
    if_match: IfMatch = None,
) -> JSONResponse:
    kpi = await service.update_kpi(session, id_or_key, body, if_match, settings, principal=principal)
    return _with_etag(service.kpi_public(kpi))


@router.delete(
    "/kpis/{id_or_key}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        200: {"model": KpiPublic, "description": "The KPI had measurements: it is archived, not deleted."},
        **problem_responses(404, 412, 428),
    },
    summary="Delete a KPI, or archive it when it has measurements (they are never destroyed).",
)
async def delete_kpi(id_or_key: IdOrKey, session: SessionDep, principal: Writer, if_match: IfMatch = None) -> Response:
    archived = await service.delete_kpi(session, id_or_key, if_match, principal=principal)
    if archived is None:
        return Response(status_code=204)
    return _with_etag(service.kpi_public(archived))


@router.get("/kpis/{id_or_key}/targets", response_model=Targets, responses=problem_responses(404), summary="Targets.")
async def get_targets(id_or_key: IdOrKey, session: SessionDep, _: Reader) -> Targets:
    kpi = await service.get_kpi(session, id_or_key)
    rows = await repository.targets(session, kpi.id)
    return Targets(kpi=kpi.key, targets=[TargetPublic.model_validate(r) for r in rows])


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
    settings: SettingsDep,
    principal: Writer,
    if_match: IfMatch = None,
) -> Targets:
    kpi = await service.get_kpi(session, id_or_key, for_update=True)
    rows = await service.put_targets(session, kpi, body.targets, if_match, settings, principal=principal)
    return Targets(kpi=kpi.key, targets=[TargetPublic.model_validate(r) for r in rows])


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
    settings: SettingsDep,
    principal: Pusher,
    dry_run: Annotated[bool, Query(description="Validate and count, write nothing.")] = False,
) -> IngestResult:
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
    kpi = await service.get_kpi(session, id_or_key)
    after = None
    if page.cursor is not None:
        try:
            after = dt.datetime.fromisoformat(str(decode_values(page.cursor, 1)[0]))
        except ValueError:
            raise BadRequest(
                "The cursor is not one this API issued.",
                errors=[
                    FieldError(location="query", parameter="cursor", message="Invalid cursor.", code="invalid_cursor")
                ],
            ) from None
    rows = await repository.measurements_page(
        await repository.driver(session),
        kpi.id,
        from_,
        to,
        as_of,
        after,
        page.limit + 1,
    )
    items = [MeasurementPublic(ts=r["ts"], value=r["value"]) for r in rows[: page.limit]]
    next_cursor = encode_cursor([items[-1].ts]) if len(rows) > page.limit else None
    return Page[MeasurementPublic](items=items, next_cursor=next_cursor)


def _zone(name: str | None, settings: KpiSettings) -> ZoneInfo:
    if name is None:
        return settings.zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnprocessableContent(
            f"Unknown time zone {name!r}.",
            errors=[FieldError(location="query", parameter="tz", message="Not an IANA time zone.", code="unknown_tz")],
        ) from None


@router.get(
    "/kpis/{id_or_key}/series",
    response_model=Series,
    responses=problem_responses(404),
    summary="The KPI per local day, week, month, quarter or year: its aggregation plus count, sum, min, max.",
)
async def get_series(
    id_or_key: IdOrKey,
    session: SessionDep,
    settings: SettingsDep,
    _: Reader,
    bucket: Annotated[Bucket, Query()] = Bucket.day,
    from_: Annotated[Rfc3339 | None, Query(alias="from", description="Default: a year before `to`.")] = None,
    to: Annotated[Rfc3339 | None, Query(description="Default: now.")] = None,
    tz: Annotated[str | None, Query(description="IANA zone of the calendar (default: the organisation's).")] = None,
) -> Series:
    kpi = await service.get_kpi(session, id_or_key)
    zone = _zone(tz, settings)
    unit: Unit = bucket.value
    window: SeriesWindow = series_window(unit, from_, to, zone)
    rows = await repository.series(
        await repository.driver(session), kpi.id, window.start, window.end, unit, zone.key, BUCKETS[unit]
    )
    return Series(
        kpi=kpi.key,
        bucket=bucket,
        tz=zone.key,
        aggregation=Aggregation(kpi.aggregation),
        buckets=[
            SeriesBucket(
                start=r["start"],
                end=r["end"],
                value=bucket_value(kpi.aggregation, r),
                count=r["count"],
                sum=r["sum"],
                min=r["min"],
                max=r["max"],
                first_ts=r["first_ts"],
                last_ts=r["last_ts"],
            )
            for r in rows
        ],
    )


@router.get(
    "/kpis/{id_or_key}/status", response_model=KpiStatus, responses=problem_responses(404), summary="Status now."
)
async def get_status(id_or_key: IdOrKey, request: Request, settings: SettingsDep, _: Reader) -> KpiStatus:
    # The busiest read of the platform: one query on a bare pooled connection, no ORM session, and no
    # generator dependency (FastAPI's exit stack around one costs more than the query's encoding).
    async with database_from(request).driver_connection() as connection:
        statuses = await service.read_statuses(connection, [id_or_key], settings)
    if not statuses:
        raise NotFound(f"No KPI {id_or_key!r}.")
    return statuses[0]


@router.get(
    "/kpi-statuses",
    response_model=KpiStatuses,
    responses=problem_responses(404),
    summary=f"Status of many KPIs at once (up to {MAX_STATUSES}), in the order asked.",
)
async def list_kpi_statuses(
    request: Request,
    settings: SettingsDep,
    _: Reader,
    kpi: Annotated[list[str], Query(min_length=1, description="KPI keys (repeat the parameter).")],
) -> KpiStatuses:
    keys = list(dict.fromkeys(kpi))
    if len(keys) > MAX_STATUSES:
        raise UnprocessableContent(
            f"At most {MAX_STATUSES} KPIs per call.",
            errors=[FieldError(location="query", parameter="kpi", message="Too many.", code="too_many")],
        )
    async with database_from(request).driver_connection() as connection:
        statuses = await service.read_statuses(connection, keys, settings)
    found = {s.kpi for s in statuses} | {str(s.kpi_id) for s in statuses}
    unknown = [k for k in keys if k not in found and k.lower() not in found]
    if unknown:
        raise NotFound(
            f"No KPI with key {', '.join(map(repr, unknown[:10]))}.",
            errors=[
                FieldError(location="query", parameter="kpi", message=f"Unknown KPI {k!r}.", code="unknown_kpi")
                for k in unknown
            ],
        )
    return KpiStatuses(items=statuses)


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
    kpi_ids = None
    if kpi:
        kpi_ids = list((await repository.ids_for_keys(await repository.driver(session), kpi)).values())
    statement = repository.events_query(since=since, kpi_ids=kpi_ids)
    events = await paginate(session, statement, (col(StatusEvent.occurred_at), col(StatusEvent.id)), page, lambda e: e)
    keys = await repository.keys_of(session, list({e.kpi_id for e in events.items}))
    return Page[StatusEventPublic](
        items=[StatusEventPublic.model_validate({**e.model_dump(), "kpi": keys[e.kpi_id]}) for e in events.items],
        next_cursor=events.next_cursor,
    )


__all__ = ["MeasurementBatch", "router"]
