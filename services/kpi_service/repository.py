"""Every SQL statement of the KPI service. Definitions go through the ORM; the hot paths (ingestion,
status, series) are hand-written SQL run on an asyncpg connection (the session's, or a bare pooled
one for status reads). Calendar units and the staleness rule come from their Python definitions."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import Uuid, any_, delete, exists, literal, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.kpi_service.calendar_units import STEP, Unit, sql_cadence_step, sql_cadence_unit, sql_local_instant
from services.kpi_service.models import (
    Kpi,
    KpiTarget,
    Measurement,
    ServiceState,
    StatusEvent,
)
from services.kpi_service.status import sql_stale_since
from shared.contracts.kpi import Domain, Status
from shared.pagination import Page, PageRequest, paginate
from shared.sql import LIKE_ESCAPE, like_literal

BUCKET_15M = "date_bin('15 minutes', {ts}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


async def driver(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under the session, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver_connection = cast(asyncpg.Connection, raw.driver_connection)
    if not driver_connection.is_in_transaction():
        # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs itself; without
        # this, what runs on the driver would autocommit statement by statement (and its locks
        # would not outlive their statement).
        await connection.exec_driver_sql("SELECT 1")
    return driver_connection


# ---------------------------------------------------------------- definitions


_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def as_kpi_id(id_or_key: str) -> uuid.UUID | None:
    """The id in ``id_or_key``, if it is one. Only the hyphenated form counts: keys never contain a
    hyphen, while 32 hex digits are a valid key."""
    return uuid.UUID(id_or_key) if _CANONICAL_UUID.match(id_or_key.lower()) else None


def _by_id_or_key(id_or_key: str) -> Any:
    kpi_id = as_kpi_id(id_or_key)
    return col(Kpi.id) == kpi_id if kpi_id else col(Kpi.key) == id_or_key


async def get_kpi(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> Kpi | None:
    statement = select(Kpi).where(_by_id_or_key(id_or_key))
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(Kpi.key) == key)))).one())


_EFFECTIVE_STATUS = f"""
SELECT k.id FROM kpi.kpis k
LEFT JOIN kpi.status_states s ON s.kpi_id = k.id
LEFT JOIN LATERAL (
    SELECT r.period_start FROM kpi.rollups_period r WHERE r.kpi_id = k.id ORDER BY r.period_start DESC LIMIT 1
) p ON true
WHERE CASE
    WHEN p.period_start IS NULL THEN 'no_data'
    WHEN {sql_stale_since("p.period_start", "k.cadence", ":zone", ":grace")} <= now() THEN 'stale'
    ELSE coalesce(s.status, 'no_data')
END = :status
"""


def _ids_with_status(status: Status, zone: str, grace: dt.timedelta) -> Any:
    """The ids of KPIs whose status is ``status`` now (the recorded one, unless time made it stale)."""
    query = text(_EFFECTIVE_STATUS).bindparams(status=status.value, zone=zone, grace=grace).columns(id=Uuid)
    return select(query.subquery().c.id)


@dataclass(frozen=True, slots=True)
class KpiFilters:
    domain: Domain | None = None
    owner: uuid.UUID | None = None
    tag: str | None = None
    text_query: str | None = None
    archived: bool | None = None
    status: Status | None = None
    responsible_person_id: uuid.UUID | None = None


def kpis_query(filters: KpiFilters, *, zone: str, grace: dt.timedelta) -> SelectOfScalar[Kpi]:
    statement = select(Kpi)
    if filters.domain is not None:
        statement = statement.where(col(Kpi.domain) == filters.domain)
    if filters.owner is not None:
        statement = statement.where(col(Kpi.owner_org_unit_id) == filters.owner)
    if filters.responsible_person_id is not None:
        statement = statement.where(col(Kpi.responsible_person_id) == filters.responsible_person_id)
    if filters.tag is not None:
        statement = statement.where(literal(filters.tag) == any_(col(Kpi.tags)))
    if filters.text_query:
        pattern = "%" + like_literal(filters.text_query) + "%"
        statement = statement.where(
            or_(col(Kpi.name).ilike(pattern, escape=LIKE_ESCAPE), col(Kpi.key).ilike(pattern, escape=LIKE_ESCAPE))
        )
    if filters.archived is not None:
        archived_at = col(Kpi.archived_at)
        statement = statement.where(archived_at.is_not(None) if filters.archived else archived_at.is_(None))
    if filters.status is not None:
        statement = statement.where(col(Kpi.id).in_(_ids_with_status(filters.status, zone, grace)))
    return statement


async def kpis_page(
    session: AsyncSession, filters: KpiFilters, page: PageRequest, *, zone: str, grace: dt.timedelta
) -> Page[Kpi]:
    statement = kpis_query(filters, zone=zone, grace=grace)
    return await paginate(session, statement, (col(Kpi.created_at), col(Kpi.id)), page, lambda kpi: kpi)


_KPI_INDEX = """
SELECT key, name, domain, owner_org_unit_id, responsible_person_id
FROM kpi.kpis WHERE archived_at IS NULL ORDER BY key
"""


async def kpi_index(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every KPI that is not archived, by key: one query, no page."""
    return list(await connection.fetch(_KPI_INDEX))


async def has_measurements(session: AsyncSession, kpi_id: uuid.UUID) -> bool:
    statement = select(exists().where(col(Measurement.kpi_id) == kpi_id))
    return bool((await session.exec(statement)).one())


async def delete_kpi(session: AsyncSession, kpi: Kpi) -> None:
    await session.delete(kpi)
    await session.flush()


# ---------------------------------------------------------------- targets


async def targets(session: AsyncSession, kpi_id: uuid.UUID) -> list[KpiTarget]:
    statement = select(KpiTarget).where(col(KpiTarget.kpi_id) == kpi_id).order_by(col(KpiTarget.period_start))
    return list((await session.exec(statement)).all())


async def replace_targets(session: AsyncSession, kpi_id: uuid.UUID, rows: Sequence[KpiTarget]) -> None:
    await session.exec(delete(KpiTarget).where(col(KpiTarget.kpi_id) == kpi_id))
    session.add_all(rows)
    await session.flush()


# ---------------------------------------------------------------- ingestion


async def resolve_keys(
    connection: asyncpg.Connection, keys: Sequence[str], *, lock: bool = False
) -> dict[str, asyncpg.Record]:
    """Id and archive state of each known key. With ``lock`` (ingestion), the KPIs are share-locked
    until the transaction ends: a concurrent change of cadence or archival waits for the batch, or
    the batch waits for it and then sees it — points are never folded into periods of a cadence
    that has just changed."""
    statement = "SELECT id, key, archived_at FROM kpi.kpis WHERE key = ANY($1::text[]) ORDER BY id"
    rows = await connection.fetch(statement + (" FOR SHARE" if lock else ""), list(keys))
    return {row["key"]: row for row in rows}


_MERGE = """count = r.count + EXCLUDED.count, sum = r.sum + EXCLUDED.sum,
        min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max),
        first_value = CASE WHEN EXCLUDED.first_ts < r.first_ts THEN EXCLUDED.first_value ELSE r.first_value END,
        first_ts = LEAST(r.first_ts, EXCLUDED.first_ts),
        last_value = CASE WHEN EXCLUDED.last_ts > r.last_ts THEN EXCLUDED.last_value ELSE r.last_value END,
        last_ts = GREATEST(r.last_ts, EXCLUDED.last_ts)"""

_UPSERT = f"""
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::float8[]) AS t(kpi_id, ts, value)
),
upserted AS (
    INSERT INTO kpi.measurements AS m (kpi_id, ts, value, recorded_at, recorded_by)
    SELECT kpi_id, ts, value, $4, $5 FROM input ORDER BY kpi_id, ts
    ON CONFLICT (kpi_id, ts) DO UPDATE
        SET value = EXCLUDED.value, recorded_at = EXCLUDED.recorded_at, recorded_by = EXCLUDED.recorded_by
        WHERE m.value IS DISTINCT FROM EXCLUDED.value
    RETURNING m.kpi_id, m.ts, m.value, (xmax = 0) AS inserted
),
fresh AS (
    SELECT u.kpi_id, u.ts, u.value,
           {BUCKET_15M.format(ts="u.ts")} AS bucket_start,
           date_trunc({sql_cadence_unit("k.cadence")}, u.ts AT TIME ZONE $6)::date AS period_start
    FROM upserted u JOIN kpi.kpis k ON k.id = u.kpi_id
    WHERE u.inserted
),
merged_15m AS (
    INSERT INTO kpi.rollups_15m AS r
        (kpi_id, bucket_start, count, sum, min, max, first_ts, first_value, last_ts, last_value)
    SELECT kpi_id, bucket_start, count(*), sum(value), min(value), max(value),
           min(ts), (array_agg(value ORDER BY ts))[1], max(ts), (array_agg(value ORDER BY ts DESC))[1]
    FROM fresh GROUP BY kpi_id, bucket_start ORDER BY kpi_id, bucket_start
    ON CONFLICT (kpi_id, bucket_start) DO UPDATE SET {_MERGE}
),
merged_period AS (
    INSERT INTO kpi.rollups_period AS r
        (kpi_id, period_start, count, sum, min, max, first_ts, first_value, last_ts, last_value)
    SELECT kpi_id, period_start, count(*), sum(value), min(value), max(value),
           min(ts), (array_agg(value ORDER BY ts))[1], max(ts), (array_agg(value ORDER BY ts DESC))[1]
    FROM fresh GROUP BY kpi_id, period_start ORDER BY kpi_id, period_start
    ON CONFLICT (kpi_id, period_start) DO UPDATE SET {_MERGE}
)  -- data-modifying CTEs run to completion whether or not they are read
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       coalesce(array_agg(kpi_id) FILTER (WHERE NOT inserted), '{{}}') AS replaced_kpis,
       coalesce(array_agg(ts) FILTER (WHERE NOT inserted), '{{}}') AS replaced_ts,
       coalesce(array_agg(DISTINCT kpi_id), '{{}}') AS touched
FROM upserted
"""

_OVERWRITE = """count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,
        first_ts = EXCLUDED.first_ts, first_value = EXCLUDED.first_value,
        last_ts = EXCLUDED.last_ts, last_value = EXCLUDED.last_value"""

_TOUCHED_BUCKETS = f"""
    SELECT DISTINCT kpi_id, {BUCKET_15M.format(ts="ts")} AS bucket_start
    FROM unnest($1::uuid[], $2::timestamptz[]) AS t(kpi_id, ts)
"""
_LOCK_15M = f"""
SELECT 1 FROM kpi.rollups_15m r JOIN ({_TOUCHED_BUCKETS}) t USING (kpi_id, bucket_start)
ORDER BY r.kpi_id, r.bucket_start FOR UPDATE OF r
"""
_RECOMPUTE_15M = f"""
INSERT INTO kpi.rollups_15m AS r
    (kpi_id, bucket_start, count, sum, min, max, first_ts, first_value, last_ts, last_value)
SELECT t.kpi_id, t.bucket_start, count(*), sum(m.value), min(m.value), max(m.value),
       min(m.ts), (array_agg(m.value ORDER BY m.ts))[1], max(m.ts), (array_agg(m.value ORDER BY m.ts DESC))[1]
FROM ({_TOUCHED_BUCKETS}) t
JOIN kpi.measurements m ON m.kpi_id = t.kpi_id AND m.ts >= t.bucket_start AND m.ts < t.bucket_start + interval '15 minutes'
GROUP BY t.kpi_id, t.bucket_start
ON CONFLICT (kpi_id, bucket_start) DO UPDATE SET {_OVERWRITE}
"""  # noqa: E501

_TOUCHED_PERIODS = f"""
    SELECT DISTINCT t.kpi_id, date_trunc({sql_cadence_unit("k.cadence")}, t.ts AT TIME ZONE $3)::date AS period_start,
           k.cadence
    FROM unnest($1::uuid[], $2::timestamptz[]) AS t(kpi_id, ts) JOIN kpi.kpis k ON k.id = t.kpi_id
"""
_LOCK_PERIOD = f"""
SELECT 1 FROM kpi.rollups_period r JOIN ({_TOUCHED_PERIODS}) t USING (kpi_id, period_start)
ORDER BY r.kpi_id, r.period_start FOR UPDATE OF r
"""
_INSERT_PERIOD = """
INSERT INTO kpi.rollups_period AS r
    (kpi_id, period_start, count, sum, min, max, first_ts, first_value, last_ts, last_value)
"""


def _period_from_15m(periods: str, zone: str) -> str:
    """A period's aggregates from the 15-minute ones inside its local bounds (exact: every zone's
    midnight falls on a quarter hour). ``periods`` yields (kpi_id, period_start, cadence)."""
    step = sql_cadence_step("t.cadence")
    return f"""
SELECT t.kpi_id, t.period_start, sum(r.count), sum(r.sum), min(r.min), max(r.max),
       min(r.first_ts), (array_agg(r.first_value ORDER BY r.first_ts))[1],
       max(r.last_ts), (array_agg(r.last_value ORDER BY r.last_ts DESC))[1]
FROM ({periods}) t
JOIN kpi.rollups_15m r ON r.kpi_id = t.kpi_id
    AND r.bucket_start >= {sql_local_instant("t.period_start", zone)}
    AND r.bucket_start < {sql_local_instant(f"t.period_start + {step}", zone)}
GROUP BY t.kpi_id, t.period_start
"""


_RECOMPUTE_PERIOD = (
    _INSERT_PERIOD
    + _period_from_15m(_TOUCHED_PERIODS, "$3")
    + f"ON CONFLICT (kpi_id, period_start) DO UPDATE SET {_OVERWRITE}"
)
_ALL_PERIODS = f"""
    SELECT DISTINCT b.kpi_id,
           date_trunc({sql_cadence_unit("k.cadence")}, b.bucket_start AT TIME ZONE $2)::date AS period_start,
           k.cadence
    FROM kpi.rollups_15m b JOIN kpi.kpis k ON k.id = b.kpi_id
    WHERE $1::uuid[] IS NULL OR b.kpi_id = ANY($1::uuid[])
"""
_REBUILD_PERIODS = _INSERT_PERIOD + _period_from_15m(_ALL_PERIODS, "$2")


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    inserted: int
    replaced_kpi_ids: list[uuid.UUID]  # one entry per replaced point, parallel to replaced_ts
    replaced_ts: list[dt.datetime]
    touched: list[uuid.UUID]  # the KPIs whose data changed

    @property
    def replaced(self) -> int:
        return len(self.replaced_ts)


async def upsert_measurements(
    connection: asyncpg.Connection,
    kpi_ids: Sequence[uuid.UUID],
    timestamps: Sequence[dt.datetime],
    values: Sequence[float],
    *,
    recorded_by: str,
    zone: str,
) -> UpsertOutcome:
    """Write the points (a changed value keeps its predecessor as a revision), fold new points into
    the rollups, and recompute exactly the buckets and periods where a value was replaced.

    Writers of one KPI's rollups take its rollup lock first, all in one order: new points merge the
    15-minute bucket and the period in one statement while corrections lock bucket then period, and
    without a lock taken before both, two such batches on one day deadlock."""
    await lock_rollups(connection, kpi_ids)
    row = await connection.fetchrow(_UPSERT, kpi_ids, timestamps, values, dt.datetime.now(dt.UTC), recorded_by, zone)
    assert row is not None
    outcome = UpsertOutcome(row["inserted"], list(row["replaced_kpis"]), list(row["replaced_ts"]), list(row["touched"]))
    if outcome.replaced_kpi_ids:
        # Lock first, then recompute with a fresh snapshot: a concurrent writer's points are then
        # either already committed (and counted) or merged after us (and added on top).
        args = (outcome.replaced_kpi_ids, outcome.replaced_ts)
        await connection.execute(_LOCK_15M, *args)
        await connection.execute(_RECOMPUTE_15M, *args)
        await connection.execute(_LOCK_PERIOD, *args, zone)
        await connection.execute(_RECOMPUTE_PERIOD, *args, zone)
    return outcome


async def existing_values(
    connection: asyncpg.Connection, kpi_ids: Sequence[uuid.UUID], timestamps: Sequence[dt.datetime]
) -> dict[tuple[uuid.UUID, dt.datetime], float]:
    rows = await connection.fetch(
        """SELECT m.kpi_id, m.ts, m.value
           FROM unnest($1::uuid[], $2::timestamptz[]) AS t(kpi_id, ts)
           JOIN kpi.measurements m ON m.kpi_id = t.kpi_id AND m.ts = t.ts""",
        kpi_ids,
        timestamps,
    )
    return {(r["kpi_id"], r["ts"]): r["value"] for r in rows}


async def lock_period_rollups(connection: asyncpg.Connection) -> None:
    """Keep every writer of period rollups out until the transaction ends (a time-zone rebuild)."""
    await connection.execute("LOCK TABLE kpi.rollups_period IN EXCLUSIVE MODE")


async def rebuild_period_rollups(
    connection: asyncpg.Connection, kpi_ids: Sequence[uuid.UUID] | None, zone: str
) -> None:
    """Recompute period rollups from the 15-minute ones (after a cadence or time-zone change)."""
    if kpi_ids is None:
        await connection.execute("DELETE FROM kpi.rollups_period")
    else:
        await connection.execute("DELETE FROM kpi.rollups_period WHERE kpi_id = ANY($1::uuid[])", list(kpi_ids))
    await connection.execute(_REBUILD_PERIODS, None if kpi_ids is None else list(kpi_ids), zone)


# ---------------------------------------------------------------- reads

_STATUS = """
SELECT k.id, k.key, k.direction, k.aggregation, k.cadence, k.threshold_mode, k.threshold_amber, k.threshold_red,
       p.period_start, p.count, p.sum, p.min, p.max, p.last_value, p.last_ts,
       tg.period_start AS target_start, tg.period_end AS target_end,
       tg.value AS target_value, tg.min AS target_min, tg.max AS target_max,
       s.status AS recorded_status
FROM unnest($1::{kind}[]) WITH ORDINALITY AS wanted(ref, position)
JOIN kpi.kpis k ON k.{column} = wanted.ref
LEFT JOIN kpi.status_states s ON s.kpi_id = k.id
LEFT JOIN LATERAL (
    SELECT * FROM kpi.rollups_period r WHERE r.kpi_id = k.id ORDER BY r.period_start DESC LIMIT 2
) p ON true
LEFT JOIN LATERAL (
    SELECT * FROM kpi.kpi_targets t
    WHERE t.kpi_id = k.id AND t.period_start <= p.period_start AND t.period_end >= p.period_start
    LIMIT 1
) tg ON true
ORDER BY wanted.position, p.period_start DESC
"""


_STATUS_BY_ID = _STATUS.format(kind="uuid", column="id")
_STATUS_BY_KEY = _STATUS.format(kind="text", column="key")


async def status_rows(connection: asyncpg.Connection, refs: Sequence[uuid.UUID | str]) -> list[asyncpg.Record]:
    """For each KPI (in the order first given, by id or key, each KPI once however it was named): up
    to two rows, its latest two periods with data, each with the target covering it. One query for
    keys or ids alone, two when they are mixed; unknown ones are absent."""
    ids = [ref if isinstance(ref, uuid.UUID) else as_kpi_id(ref) for ref in refs]
    if not any(ids):
        return list(await connection.fetch(_STATUS_BY_KEY, list(dict.fromkeys(str(r) for r in refs))))
    if not all(ids):  # ids and keys mixed: turn the keys into ids (one query), keep the order asked
        by_key = await ids_for_keys(connection, [str(r) for r, i in zip(refs, ids, strict=True) if i is None])
        ids = [i or by_key.get(str(r)) for r, i in zip(refs, ids, strict=True)]
    return list(await connection.fetch(_STATUS_BY_ID, list(dict.fromkeys(i for i in ids if i))))


async def ids_for_keys(connection: asyncpg.Connection, keys: Sequence[str]) -> dict[str, uuid.UUID]:
    return {key: row["id"] for key, row in (await resolve_keys(connection, keys)).items()}


STATUS_LOCK_CLASS = 8301  # first key of this service's advisory locks on a KPI's status
ROLLUP_LOCK_CLASS = 8302  # and of those on a KPI's rollups


async def _lock_per_kpi(connection: asyncpg.Connection, lock_class: int, kpi_ids: Sequence[uuid.UUID]) -> None:
    """Advisory locks of ``lock_class``, one per KPI, held until the transaction ends; taken in
    lock-key order, so two writers of several KPIs (or of two whose hashes collide) cannot deadlock."""
    await connection.execute(
        """SELECT pg_advisory_xact_lock($2, h)
           FROM (SELECT DISTINCT hashtext(id::text) AS h FROM unnest($1::uuid[]) AS id) AS keys
           ORDER BY h""",
        list(set(kpi_ids)),
        lock_class,
    )


async def lock_rollups(connection: asyncpg.Connection, kpi_ids: Sequence[uuid.UUID]) -> None:
    """Serialise the rollup writers of each KPI. Always taken before :func:`lock_statuses`."""
    await _lock_per_kpi(connection, ROLLUP_LOCK_CLASS, kpi_ids)


async def lock_statuses(connection: asyncpg.Connection, kpi_ids: Sequence[uuid.UUID]) -> None:
    """Serialise status recording per KPI until the transaction ends."""
    await _lock_per_kpi(connection, STATUS_LOCK_CLASS, kpi_ids)


STALE_SWEEP_LOCK = (8303, 0)  # the advisory lock one stale sweep at a time holds

_NEWLY_STALE = f"""
SELECT k.id FROM kpi.kpis k
JOIN LATERAL (
    SELECT r.period_start FROM kpi.rollups_period r WHERE r.kpi_id = k.id ORDER BY r.period_start DESC LIMIT 1
) p ON true
LEFT JOIN kpi.status_states s ON s.kpi_id = k.id
WHERE {sql_stale_since("p.period_start", "k.cadence", "$1::text", "$2::interval")} <= now()
  AND s.status IS DISTINCT FROM 'stale'
ORDER BY k.id
FOR KEY SHARE OF k SKIP LOCKED
"""


async def try_stale_sweep_lock(connection: asyncpg.Connection) -> bool:
    """Whether this transaction may sweep: only one process sweeps at a time, the others skip."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_xact_lock($1, $2)", *STALE_SWEEP_LOCK))


async def newly_stale(connection: asyncpg.Connection, zone: str, grace: dt.timedelta) -> list[uuid.UUID]:
    """KPIs the clock made stale since their status was last recorded, key-share-locked until the
    transaction ends. A KPI being changed right now is skipped, not waited for: its change records
    its status itself (and the next sweep sees it), and the sweep never holds a status lock while
    waiting for a row a writer holds (the writer takes them in the other order)."""
    return [row["id"] for row in await connection.fetch(_NEWLY_STALE, zone, grace)]


async def record_status_changes(
    connection: asyncpg.Connection,
    changes: Sequence[tuple[uuid.UUID, Status, float | None, dt.date | None]],
    cause: str,
) -> int:
    """Record each KPI's new status once: when several writers or readers notice the same change,
    only the one that actually moves the recorded state adds the event."""
    if not changes:
        return 0
    row = await connection.fetchrow(
        """
        WITH input AS (
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::float8[], $4::date[])
                AS t(kpi_id, status, value, period_start)
        ),
        previous AS (
            SELECT s.kpi_id, s.status FROM kpi.status_states s JOIN input USING (kpi_id)
        ),
        moved AS (
            INSERT INTO kpi.status_states AS s (kpi_id, status, changed_at)
            SELECT kpi_id, status, clock_timestamp() FROM input ORDER BY kpi_id
            ON CONFLICT (kpi_id) DO UPDATE SET status = EXCLUDED.status, changed_at = EXCLUDED.changed_at
            WHERE s.status IS DISTINCT FROM EXCLUDED.status
            RETURNING s.kpi_id
        ),
        events AS (
            INSERT INTO kpi.status_events (kpi_id, occurred_at, from_status, to_status, value, period_start, cause)
            SELECT i.kpi_id, clock_timestamp(), coalesce(p.status, 'no_data'), i.status, i.value, i.period_start, $5
            FROM input i JOIN moved USING (kpi_id) LEFT JOIN previous p USING (kpi_id)
            WHERE coalesce(p.status, 'no_data') IS DISTINCT FROM i.status  -- a new KPI starts without data
            RETURNING 1
        )
        SELECT count(*) AS recorded FROM events
        """,
        [c[0] for c in changes],
        [c[1].value for c in changes],
        [c[2] for c in changes],
        [c[3] for c in changes],
        cause,
    )
    return int(row["recorded"]) if row else 0


_SERIES = f"""
SELECT local_start,
       {sql_local_instant("local_start", "$5")} AS start,
       {sql_local_instant("local_start + $6::text::interval", "$5")} AS "end",
       sum(count)::bigint AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
       min(first_ts) AS first_ts, max(last_ts) AS last_ts,
       (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value
FROM (
    SELECT date_trunc($4, bucket_start AT TIME ZONE $5) AS local_start, *
    FROM kpi.rollups_15m WHERE kpi_id = $1 AND bucket_start >= $2 AND bucket_start < $3
) b
GROUP BY local_start
ORDER BY local_start
"""


async def series(
    connection: asyncpg.Connection, kpi_id: uuid.UUID, start: dt.datetime, end: dt.datetime, unit: Unit, zone: str
) -> list[asyncpg.Record]:
    """One row per local bucket of ``unit`` with data in ``[start, end)``, from the 15-minute rollups."""
    return list(await connection.fetch(_SERIES, kpi_id, start, end, unit, zone, STEP[unit]))


async def measurements_page(
    connection: asyncpg.Connection,
    kpi_id: uuid.UUID,
    start: dt.datetime | None,
    end: dt.datetime | None,
    as_of: dt.datetime | None,
    after: dt.datetime | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Raw points in ``[start, end)`` after the cursor ``after``; with ``as_of``, the values that were
    current at that instant (a point recorded later is absent, a value replaced later shows its
    predecessor)."""
    if as_of is None:
        return list(
            await connection.fetch(
                """SELECT ts, value FROM kpi.measurements
                   WHERE kpi_id = $1 AND ($2::timestamptz IS NULL OR ts >= $2) AND ($3::timestamptz IS NULL OR ts < $3)
                     AND ($4::timestamptz IS NULL OR ts > $4)
                   ORDER BY ts LIMIT $5""",
                kpi_id, start, end, after, limit,
            )
        )  # fmt: skip
    return list(
        await connection.fetch(
            """SELECT ts, value FROM (
                   SELECT ts, value FROM kpi.measurements
                   WHERE kpi_id = $1 AND recorded_at <= $6
                   UNION ALL
                   SELECT ts, value FROM kpi.measurement_revisions
                   WHERE kpi_id = $1 AND recorded_at <= $6 AND replaced_at > $6
               ) known
               WHERE ($2::timestamptz IS NULL OR ts >= $2) AND ($3::timestamptz IS NULL OR ts < $3)
                 AND ($4::timestamptz IS NULL OR ts > $4)
               ORDER BY ts LIMIT $5""",
            kpi_id, start, end, after, limit, as_of,
        )
    )  # fmt: skip


async def events_page(
    session: AsyncSession, page: PageRequest, *, since: dt.datetime | None, kpi_ids: Sequence[uuid.UUID] | None
) -> Page[StatusEvent]:
    statement = select(StatusEvent)
    if since is not None:
        statement = statement.where(col(StatusEvent.occurred_at) >= since)
    if kpi_ids is not None:
        statement = statement.where(col(StatusEvent.kpi_id).in_(kpi_ids))
    order = (col(StatusEvent.occurred_at), col(StatusEvent.id))
    return await paginate(session, statement, order, page, lambda event: event)


async def keys_of(session: AsyncSession, kpi_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await session.exec(select(Kpi.id, Kpi.key).where(col(Kpi.id).in_(kpi_ids)))
    return dict(rows.all())


# ---------------------------------------------------------------- service state


async def get_state(session: AsyncSession, name: str) -> str | None:
    row = await session.get(ServiceState, name, populate_existing=True)  # what the database says now
    return row.value if row else None


async def set_state(session: AsyncSession, name: str, value: str) -> None:
    await session.merge(ServiceState(name=name, value=value))
    await session.flush()


async def kpis_by_ref(
    connection: asyncpg.Connection, keys: Sequence[str], ids: Sequence[uuid.UUID]
) -> list[asyncpg.Record]:
    """``id``, ``key``, ``aggregation`` and ``cadence`` of the KPIs with these keys or ids (archived ones too)."""
    return list(
        await connection.fetch(
            "SELECT id, key, aggregation, cadence FROM kpi.kpis WHERE key = ANY($1::text[]) OR id = ANY($2::uuid[])",
            list(keys), list(ids),
        )
    )  # fmt: skip


# A daily KPI's local days are its period rollups (one row per day, kept in the organisation's time
# zone); for other cadences a local day is summed from its 15-minute rollups (every zone's days are
# whole 15-minute buckets). One query either way.
_DAYS = """
SELECT r.idx, p.period_start AS day, p.count, p.sum, p.min, p.max, p.last_ts, p.last_value
FROM r JOIN kpi.rollups_period p
    ON r.daily AND p.kpi_id = r.kpi_id AND p.period_start >= r.first_day AND p.period_start <= r.last_day
UNION ALL
SELECT r.idx, (b.bucket_start AT TIME ZONE $5)::date AS day,
       sum(b.count)::bigint AS count, sum(b.sum) AS sum, min(b.min) AS min, max(b.max) AS max,
       max(b.last_ts) AS last_ts, (array_agg(b.last_value ORDER BY b.last_ts DESC))[1] AS last_value
FROM r JOIN kpi.rollups_15m b
    ON NOT r.daily AND b.kpi_id = r.kpi_id AND b.bucket_start >= r.start AND b.bucket_start < r."end"
GROUP BY r.idx, day
"""
_DAILY_AGGREGATES = f"""
WITH r AS (
    SELECT * FROM unnest($1::int[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $6::date[], $7::date[],
                         $8::bool[]) AS r(idx, kpi_id, start, "end", first_day, last_day, daily)
)
{_DAYS}
ORDER BY idx, day
"""


_DAY_VALUE = """CASE o.aggregation WHEN 'sum' THEN {sum} WHEN 'avg' THEN {sum} / {count} WHEN 'min' THEN {min}
    WHEN 'max' THEN {max} ELSE o.last_value END"""

# The same days folded in SQL when no day is to be answered: per range its totals, and the
# least-squares sums (PostgreSQL's regr_* aggregates) of DESIGN §9's two observation series, each
# day's value at its midpoint and the running aggregate at each day's end.
_DAY_FITS = f"""
WITH r AS (
    SELECT * FROM unnest($1::int[], $2::uuid[], $3::timestamptz[], $4::timestamptz[], $6::date[], $7::date[],
                         $8::bool[], $9::text[])
        AS r(idx, kpi_id, start, "end", first_day, last_day, daily, aggregation)
),
d AS ({_DAYS}),
instants AS (  -- each local day's bounds once, however many KPIs have data on it
    SELECT u.day, extract(epoch FROM {sql_local_instant("u.day", "$5")})::float8 AS day_start,
           extract(epoch FROM {sql_local_instant("u.day + 1", "$5")})::float8 AS day_end
    FROM (SELECT DISTINCT day FROM d) u
),
observed AS (
    SELECT d.*, r.aggregation, i.day_start, i.day_end,
           sum(d.count::float8) OVER w AS run_count, sum(d.sum) OVER w AS run_sum,  -- float8: numeric is slow
           min(d.min) OVER w AS run_min, max(d.max) OVER w AS run_max
    FROM d JOIN r ON r.idx = d.idx JOIN instants i ON i.day = d.day
    WINDOW w AS (PARTITION BY d.idx ORDER BY d.day ROWS UNBOUNDED PRECEDING)
),
valued AS (
    SELECT o.*, (o.day_start + o.day_end) / 2 AS day_middle,
           ({_DAY_VALUE.format(sum="o.sum", count="o.count", min="o.min", max="o.max")})::float8 AS day_value,
           ({_DAY_VALUE.format(sum="o.run_sum", count="o.run_count", min="o.run_min", max="o.run_max")})::float8
               AS run_value
    FROM observed o
)
SELECT idx, sum(count)::bigint AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max, max(last_ts) AS last_ts,
       (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value,
       regr_count(day_value, day_middle) AS daily_n, regr_avgx(day_value, day_middle) AS daily_t,
       regr_avgy(day_value, day_middle) AS daily_v, regr_sxx(day_value, day_middle) AS daily_sxx,
       regr_sxy(day_value, day_middle) AS daily_sxy,
       regr_count(run_value, day_end) AS running_n, regr_avgx(run_value, day_end) AS running_t,
       regr_avgy(run_value, day_end) AS running_v, regr_sxx(run_value, day_end) AS running_sxx,
       regr_sxy(run_value, day_end) AS running_sxy
FROM valued GROUP BY idx ORDER BY idx
"""


@dataclass(frozen=True, slots=True)
class DayRange:
    """One request of ``daily_aggregates``: a KPI over the local days ``first_day``..``last_day``,
    ``[start, end)`` as instants; ``daily`` when the KPI's cadence is daily (its periods are days)."""

    kpi_id: uuid.UUID
    first_day: dt.date
    last_day: dt.date
    start: dt.datetime
    end: dt.datetime
    daily: bool


async def day_fits(
    connection: asyncpg.Connection, ranges: Sequence[DayRange], aggregations: Sequence[str], zone: str
) -> list[asyncpg.Record]:
    """For each range ``i`` with data, one row: its totals over the days and the least-squares sums
    of its two observation series (no day leaves PostgreSQL). One query for every range."""
    return list(
        await connection.fetch(
            _DAY_FITS,
            list(range(len(ranges))),
            [r.kpi_id for r in ranges],
            [r.start for r in ranges],
            [r.end for r in ranges],
            zone,
            [r.first_day for r in ranges],
            [r.last_day for r in ranges],
            [r.daily for r in ranges],
            list(aggregations),
        )
    )


async def daily_aggregates(
    connection: asyncpg.Connection, ranges: Sequence[DayRange], zone: str
) -> list[asyncpg.Record]:
    """For each range ``i``, one row per local day with data: its count, sum, min, max and last
    value — from the period rollups of a daily KPI (one row a day), else from the 15-minute rollups.
    One query for every range."""
    return list(
        await connection.fetch(
            _DAILY_AGGREGATES,
            list(range(len(ranges))),
            [r.kpi_id for r in ranges],
            [r.start for r in ranges],
            [r.end for r in ranges],
            zone,
            [r.first_day for r in ranges],
            [r.last_day for r in ranges],
            [r.daily for r in ranges],
        )
    )
