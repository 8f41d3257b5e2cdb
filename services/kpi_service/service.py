"""The KPI service's rules: definitions, targets, ingestion, status and its changes, series. Every
route calls one function here; every SQL statement they need is in ``repository``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kpi_service import repository
from services.kpi_service.calendar_units import Unit
from services.kpi_service.config import KpiSettings
from services.kpi_service.ingestion import parse_points, validate_points
from services.kpi_service.models import IdempotencyRecord, Kpi, KpiTarget
from services.kpi_service.repository import KpiFilters
from services.kpi_service.schemas import (
    DomainInfo,
    IngestResult,
    KpiCreate,
    KpiPublic,
    KpiStatus,
    KpiStatuses,
    KpiUpdate,
    MeasurementPublic,
    Series,
    SeriesBucket,
    StatusEventPublic,
    TargetIn,
    TargetJudged,
    TargetPublic,
    Targets,
    Thresholds,
    Trend,
)
from services.kpi_service.series import series_window
from services.kpi_service.status import (
    PeriodAggregate,
    Target,
    ThresholdRule,
    aggregate,
    judge,
    period_last_day,
    stale_since,
    trend,
)
from shared.auth import Principal
from shared.calendar import local_midnight, period_bounds
from shared.concurrency import etag, require_if_match
from shared.contracts.kpi import (
    AggregateInclude,
    Aggregation,
    Bucket,
    Cadence,
    DailyValue,
    Direction,
    Domain,
    KpiAggregate,
    KpiAggregates,
    KpiAggregatesQuery,
    KpiFit,
    KpiIndex,
    KpiIndexEntry,
    LeastSquares,
    Status,
    ThresholdMode,
)
from shared.db import Database
from shared.errors import Conflict, FieldError, NotFound, UnprocessableContent
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.metrics import POINTS_INGESTED, STATUS_EVENTS
from shared.models import utcnow
from shared.pagination import Page, PageRequest, decode_typed, encode_cursor
from shared.schemas import time_zone

logger = logging.getLogger("pilotage.kpi")

DEADLOCK_RETRIES = 3
MAX_STATUSES = 500


def kpi_domains() -> list[DomainInfo]:
    return [DomainInfo(key=d, label=d.value.replace("_", " ").capitalize()) for d in Domain]


ID_OR_KEY = "id_or_key"  # the path parameter naming the KPI a write is about


def kpi_public(kpi: Kpi) -> KpiPublic:
    thresholds = None
    if kpi.threshold_mode is not None and kpi.threshold_amber is not None and kpi.threshold_red is not None:
        thresholds = Thresholds(mode=kpi.threshold_mode, amber=kpi.threshold_amber, red=kpi.threshold_red)
    return KpiPublic.model_validate({**kpi.model_dump(), "thresholds": thresholds})


def _set_thresholds(kpi: Kpi, thresholds: Thresholds | None) -> None:
    kpi.threshold_mode = thresholds.mode if thresholds else None
    kpi.threshold_amber = thresholds.amber if thresholds else None
    kpi.threshold_red = thresholds.red if thresholds else None


async def get_kpi(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> Kpi:
    kpi = await repository.get_kpi(session, id_or_key, for_update=for_update)
    if kpi is None:
        raise NotFound(f"No KPI {id_or_key!r}.")
    return kpi


async def read_kpi(session: AsyncSession, id_or_key: str) -> KpiPublic:
    return kpi_public(await get_kpi(session, id_or_key))


async def list_kpis(
    session: AsyncSession,
    page: PageRequest,
    settings: KpiSettings,
    *,
    domain: Domain | None = None,
    owner: uuid.UUID | None = None,
    tag: str | None = None,
    text_query: str | None = None,
    archived: bool | None = None,
    status: Status | None = None,
    responsible_person_id: uuid.UUID | None = None,
) -> Page[KpiPublic]:
    """KPIs matching every filter given; ``status`` is the status now (time may have made it stale)."""
    filters = KpiFilters(domain, owner, tag, text_query, archived, status, responsible_person_id)
    grace = dt.timedelta(hours=settings.stale_grace_hours)
    rows = await repository.kpis_page(session, filters, page, zone=settings.org_timezone, grace=grace)
    return Page[KpiPublic](items=[kpi_public(k) for k in rows.items], next_cursor=rows.next_cursor)


async def read_kpi_index(
    connection: asyncpg.Connection,
    settings: KpiSettings,
    *,
    owners: Sequence[uuid.UUID] = (),
    keys: Sequence[str] = (),
    with_status: bool = False,
) -> KpiIndex:
    """Every KPI that is not archived with its owner unit and responsible person, ordered by key: the
    complete list the alignment views join on (a few hundred rows, one query). With ``owners`` or
    ``keys``, only the KPIs owned by one of those units or named (either); ``with_status`` adds
    each one's status (one more query for all of them), so one call says what a unit owns and how
    it stands."""
    rows = await repository.kpi_index(connection)
    entries = [KpiIndexEntry.model_validate(dict(row)) for row in rows]
    if owners or keys:
        wanted_owners, wanted_keys = set(owners), set(keys)
        entries = [e for e in entries if e.owner_org_unit_id in wanted_owners or e.key in wanted_keys]
    if with_status and entries:
        evaluated = {e.key: e.public() for e in await compute_statuses(connection, [e.key for e in entries], settings)}
        entries = [e.model_copy(update={"status": evaluated.get(e.key)}) for e in entries]
    return KpiIndex(items=entries)


async def create_kpi(
    session: AsyncSession, body: KpiCreate, idempotency: IdempotentRequest, *, principal: Principal
) -> Answer[KpiPublic]:
    """Create a KPI (201, with its ``Location`` and ``ETag``); a retry with the same
    ``Idempotency-Key`` gets the first answer again."""

    principal.require_kpi_keys([("/key", body.key)], location="body")

    async def create() -> Answer[KpiPublic]:
        if await repository.key_exists(session, body.key):
            raise Conflict(
                f"A KPI with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        kpi = Kpi(**body.model_dump(exclude={"thresholds"}))
        _set_thresholds(kpi, body.thresholds)
        session.add(kpi)
        await session.flush()
        await session.refresh(kpi)
        headers = {"Location": f"/v1/kpis/{kpi.key}", "ETag": etag(kpi.version)}
        return Answer(kpi_public(kpi), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, KpiPublic, idempotency, create)


async def update_kpi(
    session: AsyncSession,
    id_or_key: str,
    body: KpiUpdate,
    if_match: str | None,
    settings: KpiSettings,
    *,
    principal: Principal,
) -> KpiPublic:
    kpi = await get_kpi(session, id_or_key, for_update=True)
    principal.require_kpi_keys([(ID_OR_KEY, kpi.key)], location="path")
    require_if_match(if_match, kpi.version)
    changes = body.model_dump(exclude_unset=True)
    archived = changes.pop("archived", None)
    if "thresholds" in changes:
        _set_thresholds(kpi, body.thresholds)
        del changes["thresholds"]
    # The nullable references: `null` clears them (every other field refuses null).
    for name in ("owner_org_unit_id", "responsible_person_id"):
        if name in changes:
            setattr(kpi, name, getattr(body, name))
            del changes[name]
    cadence_changed = "cadence" in changes and changes["cadence"] != kpi.cadence
    if "direction" in changes and changes["direction"] != kpi.direction:
        current = [TargetIn.model_validate(t, from_attributes=True) for t in await repository.targets(session, kpi.id)]
        if check_targets(changes["direction"], current):
            raise UnprocessableContent(
                "The KPI's targets do not fit the new direction: clear them first (PUT /targets with an "
                "empty list), change the direction, then set targets of the new shape.",
                errors=[
                    FieldError(pointer="/direction", message="Incompatible with the targets.", code="targets_mismatch")
                ],
            )
    for name, value in changes.items():
        setattr(kpi, name, value)
    if archived is not None:
        kpi.archived_at = (kpi.archived_at or utcnow()) if archived else None
    kpi.version += 1
    kpi.updated_at = utcnow()
    session.add(kpi)
    await session.flush()
    connection = await repository.driver(session)
    if cadence_changed:
        await repository.rebuild_period_rollups(connection, [kpi.id], settings.org_timezone)
    await record_status_changes(connection, [kpi.id], "definition", settings)
    await session.refresh(kpi)
    return kpi_public(kpi)


async def delete_kpi(
    session: AsyncSession, id_or_key: str, if_match: str | None, *, principal: Principal
) -> KpiPublic | None:
    """Archive a KPI that has measurements (they are never destroyed by the API); delete one that has
    none. Returns the archived KPI, or None when deleted."""
    kpi = await get_kpi(session, id_or_key, for_update=True)
    principal.require_kpi_keys([(ID_OR_KEY, kpi.key)], location="path")
    require_if_match(if_match, kpi.version)
    if await repository.has_measurements(session, kpi.id):
        if kpi.archived_at is None:
            kpi.archived_at = utcnow()
            kpi.version += 1
            session.add(kpi)
            await session.flush()
            await session.refresh(kpi)
        return kpi_public(kpi)
    await repository.delete_kpi(session, kpi)
    return None


def check_targets(direction: Direction, targets: Sequence[TargetIn]) -> list[FieldError]:
    """Every reason ``targets`` cannot belong to a KPI of ``direction``: the wrong shape (a value or
    a band), or a period overlapping one that starts earlier."""
    errors: list[FieldError] = []
    for index, target in enumerate(targets):
        if direction is Direction.target_range:
            if target.min is None or target.max is None or target.value is not None:
                errors.append(
                    FieldError(
                        pointer=f"/targets/{index}",
                        message="A target_range KPI takes `min` and `max`, not `value`.",
                        code="band_required",
                    )
                )
        elif target.value is None or target.min is not None or target.max is not None:
            errors.append(
                FieldError(
                    pointer=f"/targets/{index}",
                    message=f"An {direction.value} KPI takes `value`, not `min`/`max`.",
                    code="value_required",
                )
            )
    order = sorted(range(len(targets)), key=lambda i: (targets[i].period_start, i))
    reach: int | None = None  # the target reaching furthest so far
    for index in order:
        if reach is not None and targets[index].period_start <= targets[reach].period_end:
            errors.append(
                FieldError(
                    pointer=f"/targets/{index}/period_start",
                    message=f"Overlaps target {reach} ({targets[reach].period_start} to {targets[reach].period_end}).",
                    code="overlap",
                )
            )
        if reach is None or targets[index].period_end > targets[reach].period_end:
            reach = index
    return errors


def _targets(kpi: Kpi, rows: Sequence[KpiTarget]) -> Targets:
    return Targets(kpi=kpi.key, targets=[TargetPublic.model_validate(r) for r in rows])


async def read_targets(session: AsyncSession, id_or_key: str) -> Targets:
    kpi = await get_kpi(session, id_or_key)
    return _targets(kpi, await repository.targets(session, kpi.id))


async def put_targets(
    session: AsyncSession,
    id_or_key: str,
    targets: Sequence[TargetIn],
    if_match: str | None,
    settings: KpiSettings,
    *,
    principal: Principal,
) -> Targets:
    """Replace the KPI's targets as a whole (``If-Match`` optional here: 412 only when stale)."""
    kpi = await get_kpi(session, id_or_key, for_update=True)
    principal.require_kpi_keys([(ID_OR_KEY, kpi.key)], location="path")
    if if_match is not None:
        require_if_match(if_match, kpi.version)
    errors = check_targets(kpi.direction, targets)
    if errors:
        raise UnprocessableContent("The targets are not valid; nothing was changed.", errors=errors)
    rows = [KpiTarget(kpi_id=kpi.id, **t.model_dump()) for t in targets]
    await repository.replace_targets(session, kpi.id, rows)
    kpi.version += 1
    session.add(kpi)
    await session.flush()
    await record_status_changes(await repository.driver(session), [kpi.id], "definition", settings)
    return _targets(kpi, await repository.targets(session, kpi.id))


# ---------------------------------------------------------------- ingestion


async def ingest(
    session: AsyncSession, body: bytes, *, principal: Principal, dry_run: bool, settings: KpiSettings
) -> IngestResult:
    points = parse_points(body, settings.max_batch_points)
    principal.require_kpi_keys(
        (
            (f"/points/{i}/kpi", p["kpi"])
            for i, p in enumerate(points)
            if isinstance(p, dict) and isinstance(p.get("kpi"), str)
        ),
        location="body",
    )
    connection = await repository.driver(session)
    keys = {k for p in points if isinstance(p, dict) and isinstance(k := p.get("kpi"), str) and "\x00" not in k}
    rows = await repository.resolve_keys(connection, list(keys), lock=not dry_run)
    known = {key: (row["id"], row["archived_at"] is not None) for key, row in rows.items()}
    batch = validate_points(
        points, known, now=utcnow(), future_tolerance=dt.timedelta(seconds=settings.future_tolerance_seconds)
    )
    if dry_run:
        existing = await repository.existing_values(connection, batch.kpi_ids, batch.timestamps)
        inserted = updated = 0
        for kpi_id, ts, value in zip(batch.kpi_ids, batch.timestamps, batch.values, strict=True):
            old = existing.get((kpi_id, ts))
            inserted += old is None
            updated += old is not None and old != value
        return IngestResult(
            inserted=inserted, updated=updated, unchanged=batch.received - inserted - updated, dry_run=True
        )
    for attempt in range(DEADLOCK_RETRIES):
        try:
            async with connection.transaction():  # a savepoint: a deadlock victim retries alone
                outcome = await repository.upsert_measurements(
                    connection,
                    batch.kpi_ids,
                    batch.timestamps,
                    batch.values,
                    recorded_by=principal.recorded_as,  # `talent for k3f9a1b2` when a service acts
                    zone=settings.org_timezone,
                )
            break
        except asyncpg.DeadlockDetectedError:
            if attempt == DEADLOCK_RETRIES - 1:
                raise
    await record_status_changes(connection, outcome.touched, "ingestion", settings)
    updated = outcome.replaced
    result = IngestResult(
        inserted=outcome.inserted, updated=updated, unchanged=batch.received - outcome.inserted - updated
    )
    for outcome_name in ("inserted", "updated", "unchanged"):
        POINTS_INGESTED.labels(outcome_name).inc(getattr(result, outcome_name))
    return result


# ---------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A KPI judged now: what recording needs (cheap), and what the public status is built from."""

    kpi_id: uuid.UUID
    key: str
    status: Status
    recorded: str | None  # the status last recorded for it
    cadence: Cadence
    aggregation: Aggregation
    rule: ThresholdRule | None
    current: PeriodAggregate | None = None
    previous: PeriodAggregate | None = None
    target: Target | None = None
    stale_since: dt.datetime | None = None

    @property
    def value(self) -> float | None:
        return self.current.value(self.aggregation) if self.current else None

    @property
    def change(self) -> tuple[uuid.UUID, Status, float | None, dt.date | None] | None:
        """What to record, if the status differs from the recorded one."""
        if self.recorded == self.status.value:
            return None
        return self.kpi_id, self.status, self.value, self.current.period_start if self.current else None

    def public(self) -> KpiStatus:
        current, rule, target = self.current, self.rule, self.target
        change = trend(current, self.previous, self.cadence, self.aggregation) if current else None
        return KpiStatus(
            kpi=self.key,
            kpi_id=self.kpi_id,
            status=self.status,
            period_start=current.period_start if current else None,
            period_end=period_last_day(current.period_start, self.cadence) if current else None,
            value=self.value,
            count=current.count if current else 0,
            target=TargetJudged(
                value=target.value, min=target.min, max=target.max,
                period_start=target.period_start, period_end=target.period_end,
            ) if target else None,
            thresholds=Thresholds(mode=rule.mode, amber=rule.amber, red=rule.red) if rule else None,
            trend=Trend(
                previous_period_start=change[0], previous_value=change[1],
                absolute_change=change[2], relative_change=change[3],
            ) if change else None,
            last_measurement_at=current.last_ts if current else None,
            stale_since=self.stale_since if self.status is Status.stale else None,
        )  # fmt: skip


def evaluate(rows: Sequence[asyncpg.Record], settings: KpiSettings, now: dt.datetime) -> list[Evaluation]:
    """Judge each KPI of ``rows`` (from ``repository.status_rows``), in their order. Runs after every
    ingested batch for the KPIs it touched, so it stays lean: no model building, shared work cached."""
    grace = dt.timedelta(hours=settings.stale_grace_hours)
    stale_after: dict[tuple[dt.date, Cadence], dt.datetime] = {}  # many KPIs share their last period
    result = []
    for _, group in groupby(rows, key=lambda r: r["id"]):
        periods = list(group)
        head = periods[0]
        cadence, aggregation = Cadence(head["cadence"]), Aggregation(head["aggregation"])
        rule = None
        if head["threshold_mode"] is not None:
            rule = ThresholdRule(ThresholdMode(head["threshold_mode"]), head["threshold_amber"], head["threshold_red"])
        if head["period_start"] is None:
            result.append(
                Evaluation(head["id"], head["key"], Status.no_data, head["recorded_status"], cadence, aggregation, rule)
            )
            continue
        current, *earlier = (
            PeriodAggregate(r["period_start"], r["count"], r["sum"], r["min"], r["max"], r["last_value"], r["last_ts"])
            for r in periods
        )
        target = None
        if head["target_start"] is not None:
            target = Target(
                head["target_start"], head["target_end"], head["target_value"], head["target_min"], head["target_max"]
            )
        since = stale_after.get((current.period_start, cadence))
        if since is None:
            since = stale_after[current.period_start, cadence] = stale_since(
                current.period_start, cadence, settings.zone, grace
            )
        if now >= since:
            verdict = Status.stale
        elif target is None:
            verdict = Status.no_target
        else:
            verdict = judge(current.value(aggregation), Direction(head["direction"]), target, rule)
        result.append(
            Evaluation(
                head["id"],
                head["key"],
                verdict,
                head["recorded_status"],
                cadence,
                aggregation,
                rule,
                current,
                earlier[0] if earlier else None,
                target,
                since,
            )
        )
    return result


async def compute_statuses(
    connection: asyncpg.Connection, refs: Sequence[uuid.UUID | str], settings: KpiSettings
) -> list[Evaluation]:
    return evaluate(await repository.status_rows(connection, refs), settings, utcnow())


async def record_status_changes(
    connection: asyncpg.Connection, kpi_ids: Sequence[uuid.UUID], cause: str, settings: KpiSettings
) -> None:
    """Evaluate ``kpi_ids`` now and record each status that differs from the last one recorded.
    Under the KPIs' status locks, so that concurrent writers record in turn, each from fresh data."""
    if not kpi_ids:
        return
    kpi_ids = list(dict.fromkeys(kpi_ids))
    await repository.lock_statuses(connection, kpi_ids)
    evaluated = await compute_statuses(connection, kpi_ids, settings)
    recorded = await repository.record_status_changes(connection, [c for e in evaluated if (c := e.change)], cause)
    if recorded:
        STATUS_EVENTS.labels(cause).inc(recorded)


async def read_status(connection: asyncpg.Connection, id_or_key: str, settings: KpiSettings) -> KpiStatus:
    """The KPI's status now. Reads only compute: what the clock changes is recorded by the sweep."""
    evaluated = await compute_statuses(connection, [id_or_key], settings)
    if not evaluated:
        raise NotFound(f"No KPI {id_or_key!r}.")
    return evaluated[0].public()


async def read_statuses(connection: asyncpg.Connection, refs: Sequence[str], settings: KpiSettings) -> KpiStatuses:
    """The statuses of many KPIs, named by key or id, each once, in the order first asked."""
    asked = list(dict.fromkeys(refs))
    if len(asked) > MAX_STATUSES:
        raise UnprocessableContent(
            f"At most {MAX_STATUSES} KPIs per call.",
            errors=[FieldError(location="query", parameter="kpi", message="Too many.", code="too_many")],
        )
    evaluated = await compute_statuses(connection, asked, settings)
    found = {e.key for e in evaluated} | {str(e.kpi_id) for e in evaluated}
    unknown = [k for k in asked if k not in found and k.lower() not in found]
    if unknown:
        raise NotFound(
            f"No KPI with key {', '.join(map(repr, unknown[:10]))}.",
            errors=[
                FieldError(location="query", parameter="kpi", message=f"Unknown KPI {k!r}.", code="unknown_kpi")
                for k in unknown
            ],
        )
    return KpiStatuses(items=[e.public() for e in evaluated])


async def sweep_stale(database: Database, settings: KpiSettings) -> int | None:
    """Record (cause ``time``) every KPI the clock made stale since its status was last recorded.
    One process sweeps at a time (the others skip: None); each KPI is checked again under its status
    lock, so a sweep racing a fresh ingestion records nothing false. Returns the events recorded."""
    async with database.session() as session:
        connection = await repository.driver(session)
        if not await repository.try_stale_sweep_lock(connection):
            return None
        grace = dt.timedelta(hours=settings.stale_grace_hours)
        candidates = await repository.newly_stale(connection, settings.org_timezone, grace)
        if not candidates:
            return 0
        await repository.lock_statuses(connection, candidates)
        evaluated = await compute_statuses(connection, candidates, settings)
        stale = [c for e in evaluated if e.status is Status.stale and (c := e.change)]
        return await repository.record_status_changes(connection, stale, "time")


async def sweep_stale_forever(database: Database, settings: KpiSettings) -> None:
    """Sweep every ``stale_sweep_seconds`` until cancelled; a failed sweep (the database away) is
    logged and the next one tries again."""
    while True:
        await asyncio.sleep(settings.stale_sweep_seconds)
        try:
            await sweep_stale(database, settings)
        except Exception:
            logger.exception("stale sweep failed; retrying in %s s", settings.stale_sweep_seconds)


# ---------------------------------------------------------------- reads


async def list_measurements(
    session: AsyncSession,
    id_or_key: str,
    page: PageRequest,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    as_of: dt.datetime | None,
) -> Page[MeasurementPublic]:
    kpi = await get_kpi(session, id_or_key)
    after = decode_typed(page.cursor, [dt.datetime])[0] if page.cursor is not None else None
    connection = await repository.driver(session)
    rows = await repository.measurements_page(connection, kpi.id, start, end, as_of, after, page.limit + 1)
    items = [MeasurementPublic(ts=r["ts"], value=r["value"]) for r in rows[: page.limit]]
    next_cursor = encode_cursor([items[-1].ts]) if len(rows) > page.limit else None
    return Page[MeasurementPublic](items=items, next_cursor=next_cursor)


def _zone(name: str | None, settings: KpiSettings) -> ZoneInfo:
    if name is None:
        return settings.zone
    try:
        return time_zone(name)  # only names PostgreSQL knows too
    except (ZoneInfoNotFoundError, ValueError):
        raise UnprocessableContent(
            f"Unknown time zone {name!r}.",
            errors=[FieldError(location="query", parameter="tz", message="Not an IANA time zone.", code="unknown_tz")],
        ) from None


async def read_series(
    session: AsyncSession,
    id_or_key: str,
    bucket: Bucket,
    *,
    start: dt.datetime | None,
    end: dt.datetime | None,
    tz: str | None,
    settings: KpiSettings,
) -> Series:
    kpi = await get_kpi(session, id_or_key)
    zone = _zone(tz, settings)
    unit: Unit = bucket.value  # the buckets are named after calendar units
    window = series_window(unit, start, end, zone)
    rows = await repository.series(await repository.driver(session), kpi.id, window.start, window.end, unit, zone.key)
    return Series(
        kpi=kpi.key,
        bucket=bucket,
        tz=zone.key,
        aggregation=kpi.aggregation,
        buckets=[
            SeriesBucket(
                start=r["start"],
                end=r["end"],
                value=aggregate(kpi.aggregation, r["count"], r["sum"], r["min"], r["max"], r["last_value"]),
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


async def list_events(
    session: AsyncSession, page: PageRequest, *, since: dt.datetime | None, kpis: Sequence[str] | None
) -> Page[StatusEventPublic]:
    kpi_ids = None
    if kpis:
        kpi_ids = list((await repository.ids_for_keys(await repository.driver(session), kpis)).values())
    events = await repository.events_page(session, page, since=since, kpi_ids=kpi_ids)
    keys = await repository.keys_of(session, list({e.kpi_id for e in events.items}))
    return Page[StatusEventPublic](
        items=[StatusEventPublic.model_validate({**e.model_dump(), "kpi": keys[e.kpi_id]}) for e in events.items],
        next_cursor=events.next_cursor,
    )


ROLLUP_TIMEZONE = "rollup_timezone"


async def align_rollups_with_timezone(database: Database, settings: KpiSettings) -> None:
    """Period rollups follow the organisation's calendar: when its time zone setting changes, they
    are rebuilt (from the 15-minute rollups, which do not depend on it) before the service serves."""
    async with database.session() as session:
        if await repository.get_state(session, ROLLUP_TIMEZONE) == settings.org_timezone:
            return
        await repository.lock_period_rollups(await repository.driver(session))
        if await repository.get_state(session, ROLLUP_TIMEZONE) != settings.org_timezone:
            await repository.rebuild_period_rollups(await repository.driver(session), None, settings.org_timezone)
            await repository.set_state(session, ROLLUP_TIMEZONE, settings.org_timezone)


MAX_AGGREGATE_DAYS = 3_660  # ten years of local days per request
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def least_squares(times: Sequence[float], values: Sequence[float]) -> LeastSquares | None:
    """The least-squares sums of the points ``(times[i], values[i])`` (seconds since the epoch),
    summed from the first instant so that large instants lose no precision; None without points."""
    n = len(times)
    if n == 0:
        return None
    origin = times[0]
    st = sv = stt = stv = 0.0
    for t, v in zip(times, values, strict=True):
        t -= origin
        st += t
        sv += v
        stt += t * t
        stv += t * v
    mean_t, mean_v = st / n, sv / n
    when = _EPOCH + dt.timedelta(seconds=origin + mean_t)
    return LeastSquares.model_construct(
        count=n, mean_time=when, mean_value=mean_v, sxx=stt - st * mean_t, sxy=stv - st * mean_v
    )


class DayInstants:
    """Each local day's midpoint and end, in seconds since the epoch, computed once per day however
    many KPIs a call reads over it."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.known: dict[dt.date, tuple[float, float]] = {}

    def __call__(self, day: dt.date) -> tuple[float, float]:
        found = self.known.get(day)
        if found is None:
            start = (local_midnight(day, self.zone) - _EPOCH).total_seconds()
            end = (local_midnight(day + dt.timedelta(days=1), self.zone) - _EPOCH).total_seconds()
            found = self.known[day] = ((start + end) / 2, end)
        return found


def day_fit(rows: Sequence[asyncpg.Record], aggregation: Aggregation, instants: DayInstants) -> KpiFit:
    """DESIGN §9's two observation series over the days of ``rows`` (in order): each day's value at
    its midpoint, and the running aggregate from the first day to the end of each day, at that end."""
    middles: list[float] = []
    ends: list[float] = []
    daily: list[float] = []
    running: list[float] = []
    count, total, low, high = 0, 0.0, float("inf"), float("-inf")
    for d in rows:
        middle, end = instants(d["day"])
        day_count, day_sum, day_min, day_max, last = d["count"], d["sum"], d["min"], d["max"], d["last_value"]
        middles.append(middle)
        ends.append(end)
        daily.append(aggregate(aggregation, day_count, day_sum, day_min, day_max, last))
        count, total = count + day_count, total + day_sum
        low, high = min(low, day_min), max(high, day_max)
        running.append(aggregate(aggregation, count, total, low, high, last))
    return KpiFit.model_construct(daily=least_squares(middles, daily), running=least_squares(ends, running))


def _least_squares_of(row: asyncpg.Record, series: str) -> LeastSquares | None:
    count = row[f"{series}_n"]
    if not count:
        return None
    return LeastSquares.model_construct(
        count=int(count),
        mean_time=_EPOCH + dt.timedelta(seconds=row[f"{series}_t"]),
        mean_value=row[f"{series}_v"],
        sxx=row[f"{series}_sxx"],
        sxy=row[f"{series}_sxy"],
    )


async def _folded_aggregates(
    connection: asyncpg.Connection,
    query: KpiAggregatesQuery,
    kpis: Sequence[asyncpg.Record | None],
    fits: Sequence[asyncpg.Record],
    settings: KpiSettings,
) -> KpiAggregates:
    """The answer from one folded row per range (``repository.day_fits``): totals and fit, no day."""
    by_index = {row["idx"]: row for row in fits}
    statuses: dict[uuid.UUID, KpiStatus] = {}
    if AggregateInclude.status in query.include:
        refs = list(dict.fromkeys(k["id"] for k in kpis if k is not None))
        statuses = {e.kpi_id: e.public() for e in await compute_statuses(connection, refs, settings)}
    items: list[KpiAggregate] = []
    for index, (request, kpi) in enumerate(zip(query.requests, kpis, strict=True)):
        assert kpi is not None
        row = by_index.get(index)
        value = None
        if row is not None:
            aggregation = Aggregation(kpi["aggregation"])
            value = aggregate(aggregation, row["count"], row["sum"], row["min"], row["max"], row["last_value"])
        fit = KpiFit.model_construct(
            daily=_least_squares_of(row, "daily") if row is not None else None,
            running=_least_squares_of(row, "running") if row is not None else None,
        )
        items.append(
            KpiAggregate(
                kpi=kpi["key"],
                from_=request.from_,
                to=request.to,
                value=value,
                count=row["count"] if row is not None else 0,
                last_measurement_at=row["last_ts"] if row is not None else None,
                status=statuses.get(kpi["id"]),
                fit=fit,
            )
        )
    return KpiAggregates(items=items)


async def read_aggregates(
    connection: asyncpg.Connection, query: KpiAggregatesQuery, settings: KpiSettings
) -> KpiAggregates:
    """Each request's KPI aggregated over its local days, from the rollups, in the order asked;
    with ``status`` each KPI's status now, with ``daily`` each day with data. Unknown KPIs are a 422
    naming each request (by pointer); nothing is answered for the others."""
    errors: list[FieldError] = []
    for index, request in enumerate(query.requests):
        if (request.to - request.from_).days + 1 > MAX_AGGREGATE_DAYS:
            errors.append(
                FieldError(
                    pointer=f"/requests/{index}/to",
                    message=f"At most {MAX_AGGREGATE_DAYS} days per request.",
                    code="too_long",
                )
            )
    refs = list(dict.fromkeys(r.kpi for r in query.requests))
    ids = [i for i in (repository.as_kpi_id(ref) for ref in refs) if i is not None]
    rows = await repository.kpis_by_ref(connection, [ref.lower() for ref in refs], ids)
    found = {row["key"]: row for row in rows} | {str(row["id"]): row for row in rows}

    def kpi_of(ref: str) -> asyncpg.Record | None:
        return found.get(ref.lower()) or found.get(str(repository.as_kpi_id(ref)))

    for index, request in enumerate(query.requests):
        if kpi_of(request.kpi) is None:
            errors.append(
                FieldError(pointer=f"/requests/{index}/kpi", message=f"No KPI {request.kpi!r}.", code="unknown_kpi")
            )
    if errors:
        raise UnprocessableContent("Some requests cannot be answered.", errors=errors)
    zone = settings.zone
    kpis = [kpi_of(r.kpi) for r in query.requests]
    try:
        bounds = [period_bounds(r.from_, r.to, zone) for r in query.requests]
    except (ValueError, OverflowError):
        raise UnprocessableContent(
            "A range reaches beyond the dates this API handles.",
            errors=[FieldError(pointer="/requests", message="Out of range.", code="out_of_range")],
        ) from None
    days: dict[int, list[asyncpg.Record]] = {}
    ranges = [
        repository.DayRange(k["id"], r.from_, r.to, b[0], b[1], k["cadence"] == Cadence.daily)
        for r, k, b in zip(query.requests, kpis, bounds, strict=True)
        if k is not None
    ]
    if AggregateInclude.daily not in query.include and AggregateInclude.fit in query.include:
        # No day to answer: PostgreSQL folds them (a quarter of a few hundred KPIs is tens of
        # thousands of day rows otherwise decoded and folded here).
        aggregations = [k["aggregation"] for k in kpis if k is not None]
        fits = await repository.day_fits(connection, ranges, aggregations, settings.org_timezone)
        return await _folded_aggregates(connection, query, kpis, fits, settings)
    for row in await repository.daily_aggregates(connection, ranges, settings.org_timezone):
        days.setdefault(row["idx"], []).append(row)
    statuses: dict[uuid.UUID, KpiStatus] = {}
    if AggregateInclude.status in query.include:
        statuses = {e.kpi_id: e.public() for e in await compute_statuses(connection, [k["id"] for k in rows], settings)}
    items: list[KpiAggregate] = []
    instants = DayInstants(zone)
    for index, (request, kpi) in enumerate(zip(query.requests, kpis, strict=True)):
        assert kpi is not None
        aggregation = Aggregation(kpi["aggregation"])
        rows_of = days.get(index, [])
        count = sum(d["count"] for d in rows_of)
        value = None
        if rows_of:
            last = max(rows_of, key=lambda d: d["last_ts"])
            value = aggregate(
                aggregation, count, sum(d["sum"] for d in rows_of), min(d["min"] for d in rows_of),
                max(d["max"] for d in rows_of), last["last_value"],
            )  # fmt: skip
        daily = None
        if AggregateInclude.daily in query.include:
            # Built without validation (the rows are the service's own, typed by SQL): a strategy
            # read asks for every day of a quarter for hundreds of KPIs, and validating each day
            # model cost more than the query.
            daily = [
                DailyValue.model_construct(
                    date=d["day"],
                    value=aggregate(aggregation, d["count"], d["sum"], d["min"], d["max"], d["last_value"]),
                    count=d["count"],
                    sum=d["sum"],
                    min=d["min"],
                    max=d["max"],
                )
                for d in rows_of
            ]
        fit = day_fit(rows_of, aggregation, instants) if AggregateInclude.fit in query.include else None
        items.append(
            KpiAggregate(
                kpi=kpi["key"],
                from_=request.from_,
                to=request.to,
                value=value,
                count=count,
                last_measurement_at=max((d["last_ts"] for d in rows_of), default=None),
                status=statuses.get(kpi["id"]) if AggregateInclude.status in query.include else None,
                daily=daily,
                fit=fit,
            )
        )
    return KpiAggregates(items=items)
