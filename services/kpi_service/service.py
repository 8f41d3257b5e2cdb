"""The KPI service's rules: definitions, targets, ingestion, status and its changes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby

import asyncpg
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kpi_service import repository
from services.kpi_service.config import KpiSettings
from services.kpi_service.ingestion import parse_points, validate_points
from services.kpi_service.models import Kpi, KpiTarget
from services.kpi_service.schemas import (
    IngestResult,
    KpiCreate,
    KpiPublic,
    KpiStatus,
    KpiUpdate,
    TargetIn,
    TargetJudged,
    Thresholds,
    Trend,
)
from services.kpi_service.status import (
    PeriodAggregate,
    Target,
    ThresholdRule,
    judge,
    period_last_day,
    stale_since,
    trend,
)
from shared.auth import Principal
from shared.concurrency import require_if_match
from shared.contracts.kpi import Aggregation, Cadence, Direction, Status, ThresholdMode
from shared.db import Database
from shared.errors import Conflict, FieldError, NotFound, UnprocessableContent
from shared.models import utcnow

DEADLOCK_RETRIES = 3
ID_OR_KEY = "id_or_key"  # the path parameter naming the KPI a write is about


def kpi_public(kpi: Kpi) -> KpiPublic:
    thresholds = None
    if kpi.threshold_mode is not None and kpi.threshold_amber is not None and kpi.threshold_red is not None:
        thresholds = Thresholds(
            mode=ThresholdMode(kpi.threshold_mode), amber=kpi.threshold_amber, red=kpi.threshold_red
        )
    return KpiPublic.model_validate({**kpi.model_dump(), "thresholds": thresholds})


def _set_thresholds(kpi: Kpi, thresholds: Thresholds | None) -> None:
    kpi.threshold_mode = thresholds.mode.value if thresholds else None
    kpi.threshold_amber = thresholds.amber if thresholds else None
    kpi.threshold_red = thresholds.red if thresholds else None


async def get_kpi(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> Kpi:
    kpi = await repository.get_kpi(session, id_or_key, for_update=for_update)
    if kpi is None:
        raise NotFound(f"No KPI {id_or_key!r}.")
    return kpi


async def create_kpi(session: AsyncSession, body: KpiCreate, *, principal: Principal) -> Kpi:
    principal.require_kpi_keys([("/key", body.key)], location="body")
    if await repository.key_exists(session, body.key):
        raise Conflict(
            f"A KPI with key {body.key!r} already exists.",
            errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
        )
    kpi = Kpi(**body.model_dump(exclude={"thresholds"}, mode="json"))
    kpi.owner_org_unit_id = body.owner_org_unit_id
    _set_thresholds(kpi, body.thresholds)
    session.add(kpi)
    await session.flush()
    await session.refresh(kpi)
    return kpi


async def update_kpi(
    session: AsyncSession,
    id_or_key: str,
    body: KpiUpdate,
    if_match: str | None,
    settings: KpiSettings,
    *,
    principal: Principal,
) -> Kpi:
    kpi = await get_kpi(session, id_or_key, for_update=True)
    principal.require_kpi_keys([(ID_OR_KEY, kpi.key)], location="path")
    require_if_match(if_match, kpi.version)
    changes = body.model_dump(exclude_unset=True, mode="json")
    archived = changes.pop("archived", None)
    if "thresholds" in changes:
        _set_thresholds(kpi, body.thresholds)
        del changes["thresholds"]
    if "owner_org_unit_id" in changes:
        kpi.owner_org_unit_id = body.owner_org_unit_id
        del changes["owner_org_unit_id"]
    cadence_changed = "cadence" in changes and changes["cadence"] != kpi.cadence
    if "direction" in changes and changes["direction"] != kpi.direction:
        current = [TargetIn.model_validate(t, from_attributes=True) for t in await repository.targets(session, kpi.id)]
        if _check_targets(Direction(changes["direction"]), current):
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
    return kpi


async def delete_kpi(
    session: AsyncSession, id_or_key: str, if_match: str | None, *, principal: Principal
) -> Kpi | None:
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
        return kpi
    await repository.delete_kpi(session, kpi)
    return None


def _check_targets(direction: Direction, targets: Sequence[TargetIn]) -> list[FieldError]:
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


async def put_targets(
    session: AsyncSession,
    kpi: Kpi,
    targets: Sequence[TargetIn],
    if_match: str | None,
    settings: KpiSettings,
    *,
    principal: Principal,
) -> list[KpiTarget]:
    principal.require_kpi_keys([(ID_OR_KEY, kpi.key)], location="path")
    if if_match is not None:
        require_if_match(if_match, kpi.version)
    errors = _check_targets(Direction(kpi.direction), targets)
    if errors:
        raise UnprocessableContent("The targets are not valid; nothing was changed.", errors=errors)
    rows = [KpiTarget(kpi_id=kpi.id, **t.model_dump()) for t in targets]
    await repository.replace_targets(session, kpi.id, rows)
    kpi.version += 1
    session.add(kpi)
    await session.flush()
    await record_status_changes(await repository.driver(session), [kpi.id], "definition", settings)
    return await repository.targets(session, kpi.id)


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
    keys = {p["kpi"] for p in points if isinstance(p, dict) and isinstance(p.get("kpi"), str)}
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
    return IngestResult(
        inserted=outcome.inserted, updated=updated, unchanged=batch.received - outcome.inserted - updated
    )


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
    await repository.lock_statuses(connection, kpi_ids)
    evaluated = await compute_statuses(connection, kpi_ids, settings)
    await repository.record_status_changes(connection, [c for e in evaluated if (c := e.change)], cause)


async def read_statuses(
    connection: asyncpg.Connection, refs: Sequence[uuid.UUID | str], settings: KpiSettings
) -> list[KpiStatus]:
    """Statuses for reading. A KPI found stale that was not yet recorded so is recorded now (cause
    ``time``): staleness happens by the clock, and is noticed by whoever looks first. It is checked
    again under the KPI's lock, so a reader racing a fresh ingestion records nothing false."""
    evaluated = await compute_statuses(connection, refs, settings)
    newly_stale = [e.kpi_id for e in evaluated if e.status is Status.stale and e.change]
    if newly_stale:
        async with connection.transaction():
            await repository.lock_statuses(connection, newly_stale)
            rechecked = await compute_statuses(connection, newly_stale, settings)
            stale = [c for e in rechecked if e.status is Status.stale and (c := e.change)]
            await repository.record_status_changes(connection, stale, "time")
    return [e.public() for e in evaluated]


ROLLUP_TIMEZONE = "rollup_timezone"


async def align_rollups_with_timezone(database: Database, settings: KpiSettings) -> None:
    """Period rollups follow the organisation's calendar: when its time zone setting changes, they
    are rebuilt (from the 15-minute rollups, which do not depend on it) before the service serves."""
    async with database.session() as session:
        if await repository.get_state(session, ROLLUP_TIMEZONE) == settings.org_timezone:
            return
        connection = await repository.driver(session)
        await connection.execute("LOCK TABLE kpi.rollups_period IN EXCLUSIVE MODE")
        if await repository.get_state(session, ROLLUP_TIMEZONE) != settings.org_timezone:
            await repository.rebuild_period_rollups(connection, None, settings.org_timezone)
            await repository.set_state(session, ROLLUP_TIMEZONE, settings.org_timezone)
