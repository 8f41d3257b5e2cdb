"""Ingestion below HTTP: every rule of point validation, and batches racing on real transactions."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
from sqlmodel import select

from services.kpi_service import repository
from services.kpi_service.config import KpiSettings
from services.kpi_service.ingestion import parse_points, validate_points
from services.kpi_service.models import Kpi
from services.kpi_service.service import ingest
from shared.auth import Principal as Principal
from shared.auth import Scope as Scope
from shared.contracts.kpi import Aggregation, Cadence
from shared.db import Database, async_url
from shared.errors import BadRequest, PayloadTooLarge, UnprocessableContent
from shared.settings import Settings
from tests.kpi_service.helpers import committed_kpi, fetch

WRITER = frozenset({Scope.measurements_write.value})

NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
A, B = uuid.uuid4(), uuid.uuid4()
KNOWN = {"a.kpi": (A, False), "b.kpi": (B, False), "old.kpi": (uuid.uuid4(), True)}
TOLERANCE = dt.timedelta(minutes=10)


def validate(*points: Any) -> Any:
    return validate_points(list(points), KNOWN, now=NOW, future_tolerance=TOLERANCE)


def codes(*points: Any) -> set[tuple[str | None, str]]:
    with pytest.raises(UnprocessableContent) as refused:
        validate(*points)
    return {(e.pointer, e.code) for e in refused.value.errors or []}


def test_valid_points_become_parallel_arrays_in_utc() -> None:
    batch = validate(
        {"kpi": "a.kpi", "ts": "2026-03-10T08:00:00+01:00", "value": 1},
        {"kpi": "b.kpi", "ts": "2026-03-10T07:00:00Z", "value": 2.5},
    )
    assert batch.kpi_ids == [A, B]
    assert batch.timestamps == [dt.datetime(2026, 3, 10, 7, tzinfo=dt.UTC)] * 2
    assert batch.values == [1.0, 2.5]
    assert all(type(v) is float for v in batch.values)
    assert batch.received == 2


def test_a_repeated_point_counts_once_and_a_conflicting_one_is_refused() -> None:
    same = {"kpi": "a.kpi", "ts": "2026-03-10T07:00:00Z", "value": 1}
    batch = validate(same, {**same, "ts": "2026-03-10T08:00:00+01:00"})  # the same instant, other offset
    assert (batch.received, batch.values) == (2, [1.0])
    assert codes(same, {**same, "value": 2}) == {("/points/1", "conflicting_duplicate")}


def test_the_future_tolerance_is_inclusive() -> None:
    edge = (NOW + TOLERANCE).isoformat()
    assert validate({"kpi": "a.kpi", "ts": edge, "value": 1}).values == [1.0]
    beyond = (NOW + TOLERANCE + dt.timedelta(microseconds=1)).isoformat()
    assert codes({"kpi": "a.kpi", "ts": beyond, "value": 1}) == {("/points/0/ts", "future_timestamp")}


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ({"kpi": "old.kpi", "ts": "2026-03-10T07:00:00Z", "value": 1}, {("/points/0/kpi", "archived_kpi")}),
        ({"kpi": "no.kpi", "ts": "2026-03-10T07:00:00Z", "value": 1}, {("/points/0/kpi", "unknown_kpi")}),
        ({"kpi": 7, "ts": "2026-03-10T07:00:00Z", "value": 1}, {("/points/0/kpi", "type")}),
        ({"ts": "2026-03-10T07:00:00Z", "value": 1}, {("/points/0/kpi", "missing")}),
        ({"kpi": "a.kpi", "value": 1}, {("/points/0/ts", "missing")}),
        ({"kpi": "a.kpi", "ts": "2026-03-10T07:00:00", "value": 1}, {("/points/0/ts", "naive_timestamp")}),
        ({"kpi": "a.kpi", "ts": "2026-03-10T07:00:00Z", "value": None}, {("/points/0/value", "missing")}),
        ({"kpi": "a.kpi", "ts": "2026-03-10T07:00:00Z", "value": False}, {("/points/0/value", "type")}),
        ({"kpi": "a.kpi", "ts": "2026-03-10T07:00:00Z", "value": float("nan")}, {("/points/0/value", "finite_number")}),
        ("a.kpi", {("/points/0", "type")}),
        (
            {"kpi": "no.kpi", "ts": "soon", "value": "1", "extra": 1},
            {("/points/0/extra", "extra_forbidden"), ("/points/0/kpi", "unknown_kpi"),
             ("/points/0/ts", "invalid_timestamp"), ("/points/0/value", "type")},
        ),
    ],
)  # fmt: skip
def test_each_bad_field_is_named(point: Any, expected: set[tuple[str, str]]) -> None:
    assert codes(point) == expected


def test_the_refusal_counts_bad_points_not_errors() -> None:
    with pytest.raises(UnprocessableContent) as refused:
        validate(
            {"kpi": "no.kpi", "ts": "soon", "value": "x"}, {"kpi": "a.kpi", "ts": "2026-03-10T07:00:00Z", "value": 1}
        )
    assert refused.value.detail == "1 of 2 points are invalid; nothing was written."


@pytest.mark.parametrize(
    ("body", "error"),
    [(b"{", BadRequest), (b'{"points": [NaN]}', BadRequest), (b"[]", UnprocessableContent),
     (b'{"points": 1}', UnprocessableContent), (b'{"points": [], "more": 1}', UnprocessableContent),
     (b'{"points": [1, 2, 3, 4]}', PayloadTooLarge)],
)  # fmt: skip
def test_the_batch_shape_is_checked_before_its_points(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_points(body, max_points=3)
    assert parse_points(b'{"points": [1, 2, 3]}', max_points=3) == [1, 2, 3]


async def test_concurrent_batches_on_the_same_point_lose_nothing(database_url: str) -> None:
    """Two writers race on the same (kpi, ts) with different values, on real separate transactions:
    no error, one value wins, the revision history holds the other."""
    settings = KpiSettings()
    async with committed_kpi(database_url, aggregation=Aggregation.last) as (database, key):
        ts = "2026-05-01T00:00:00Z"

        async def write(value: float) -> None:
            async with database.session() as session:
                body = f'{{"points": [{{"kpi": "{key}", "ts": "{ts}", "value": {value}}}]}}'.encode()
                await ingest(session, body, principal=Principal("racer", WRITER), dry_run=False, settings=settings)

        await asyncio.gather(*(write(float(v)) for v in range(1, 9)))
        kpi_id = (await fetch(database_url, "SELECT id FROM kpi.kpis WHERE key = $1", key))[0]["id"]
        (current,) = await fetch(database_url, "SELECT value FROM kpi.measurements WHERE kpi_id = $1", kpi_id)
        history = await fetch(database_url, "SELECT value FROM kpi.measurement_revisions WHERE kpi_id = $1", kpi_id)
        (rollup,) = await fetch(database_url, "SELECT count, last_value FROM kpi.rollups_15m WHERE kpi_id = $1", kpi_id)
        values = sorted([current["value"], *(r["value"] for r in history)])
        assert values == [float(v) for v in range(1, 9)]
        assert (rollup["count"], rollup["last_value"]) == (1, current["value"])


async def test_a_batch_waits_for_a_cadence_change_and_then_follows_it(database_url: str) -> None:
    """Real transactions: while a KPI's definition is being changed, a batch for it waits, then folds
    its points into the periods of the new cadence."""
    settings = KpiSettings()
    async with committed_kpi(database_url, aggregation=Aggregation.sum) as (database, key):
        body = f'{{"points": [{{"kpi": "{key}", "ts": "2026-06-03T10:00:00Z", "value": 1}}]}}'.encode()

        async def push() -> None:
            async with database.session() as session:
                await ingest(session, body, principal=Principal("t", WRITER), dry_run=False, settings=settings)

        async with database.session() as change:
            kpi = (await change.exec(select(Kpi).where(Kpi.key == key).with_for_update())).one()
            batch = asyncio.create_task(push())
            await asyncio.sleep(0.3)
            assert not batch.done(), "the batch must wait for the definition change"
            kpi.cadence = Cadence.monthly
            change.add(kpi)
        await asyncio.wait_for(batch, 10)
        periods = await fetch(
            database_url,
            "SELECT r.period_start FROM kpi.rollups_period r JOIN kpi.kpis k ON k.id = r.kpi_id WHERE k.key = $1",
            key,
        )
        assert [p["period_start"] for p in periods] == [dt.date(2026, 6, 1)]  # a month, not the day


async def test_driver_statements_run_inside_the_sessions_transaction(database_url: str) -> None:
    """A real session (not a test-bound one): what the hot paths run on the driver must commit or
    roll back with the request, and the locks they take must last until then."""
    database = Database(async_url(database_url), Settings())
    try:
        async with database.session() as session:
            connection = await repository.driver(session)
            assert connection.is_in_transaction()
            await connection.execute("SELECT pg_advisory_xact_lock(8301, 42)")
            held = await connection.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
            assert held == 1
    finally:
        await database.dispose()
