"""Measurement ingestion: all or nothing, every bad point named, retries harmless, history kept."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from services.kpi_service.config import KpiSettings
from services.kpi_service.main import app
from services.kpi_service.models import Kpi
from services.kpi_service.service import ingest
from shared.auth import INTERNAL_TOKEN_HEADER, Principal, Scope
from shared.db import Database, async_url, plain_url
from shared.settings import Settings
from tests.auth import token
from tests.kpi_service.helpers import create_kpi, push, push_ok

TS = "2026-03-10T08:00:00+01:00"
WRITER = frozenset({Scope.measurements_write.value})


async def _values(client: httpx.AsyncClient, key: str, **params: Any) -> list[tuple[str, float]]:
    response = await client.get(f"/v1/kpis/{key}/measurements", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [(p["ts"], p["value"]) for p in response.json()["items"]]


async def test_every_bad_point_is_reported_and_nothing_is_written(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    archived = await create_kpi(kpi_client)
    await push_ok(kpi_client, (archived["key"], TS, 1))
    await kpi_client.delete(f"/v1/kpis/{archived['key']}", headers={"if-match": "*"})
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    points: list[Any] = [
        {"kpi": kpi["key"], "ts": TS, "value": 1},  # 0: fine
        {"kpi": "no.such_kpi", "ts": TS, "value": 1},  # 1
        {"kpi": archived["key"], "ts": TS, "value": 1},  # 2
        {"kpi": kpi["key"], "ts": "2026-03-10T08:00:00", "value": 1},  # 3: naive
        {"kpi": kpi["key"], "ts": "yesterday", "value": 1},  # 4
        {"kpi": kpi["key"], "ts": TS, "value": "1"},  # 5: string
        {"kpi": kpi["key"], "ts": TS, "value": True},  # 6: bool
        {"kpi": kpi["key"], "ts": future, "value": 1},  # 7
        {"kpi": kpi["key"], "ts": TS, "value": 2},  # 8: same (kpi, ts) as 0, other value
        {"kpi": kpi["key"], "ts": TS},  # 9: no value
        {"kpi": kpi["key"], "ts": TS, "value": 1, "unit": "%"},  # 10: unknown field
        [1, 2, 3],  # 11
        {"kpi": kpi["key"], "ts": 1700000000, "value": 1},  # 12: not a string
    ]
    response = await kpi_client.post("/v1/measurements", json={"points": points})
    assert response.status_code == 422
    found = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert found == {
        ("/points/1/kpi", "unknown_kpi"),
        ("/points/2/kpi", "archived_kpi"),
        ("/points/3/ts", "naive_timestamp"),
        ("/points/4/ts", "invalid_timestamp"),
        ("/points/5/value", "type"),
        ("/points/6/value", "type"),
        ("/points/7/ts", "future_timestamp"),
        ("/points/8", "conflicting_duplicate"),
        ("/points/9/value", "missing"),
        ("/points/10/unit", "extra_forbidden"),
        ("/points/11", "type"),
        ("/points/12/ts", "type"),
    }
    assert "12 of 13 points are invalid" in response.json()["detail"]
    assert await _values(kpi_client, kpi["key"]) == []


@pytest.mark.parametrize("token_text", ["NaN", "Infinity", "-Infinity", "1e400", "-1" + "0" * 400])
async def test_nan_and_infinity_are_refused(kpi_client: httpx.AsyncClient, token_text: str) -> None:
    kpi = await create_kpi(kpi_client)
    raw = '{"points": [{"kpi": "KEY", "ts": "2026-01-01T00:00:00Z", "value": VALUE}]}'
    raw = raw.replace("KEY", kpi["key"]).replace("VALUE", token_text)
    response = await kpi_client.post("/v1/measurements", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"[]", 422), (b'{"points": {}}', 422), (b'{"points": [], "extra": 1}', 422), (b"{", 400), (b"", 400)],
)
async def test_malformed_batches(kpi_client: httpx.AsyncClient, body: bytes, status: int) -> None:
    response = await kpi_client.post("/v1/measurements", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_oversized_batch_is_a_413(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    settings: KpiSettings = app.state.settings
    app.state.settings = KpiSettings(max_batch_points=3)
    try:
        points = [(kpi["key"], f"2026-01-0{d}T00:00:00Z", 1.0) for d in range(1, 5)]
        response = await push(kpi_client, *points)
    finally:
        app.state.settings = settings
    assert response.status_code == 413
    assert "at most 3 points" in response.json()["detail"]


async def test_retries_are_harmless_and_replacements_counted(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    batch = [(kpi["key"], f"2026-03-0{d}T12:00:00Z", float(d)) for d in range(1, 4)]
    assert await push_ok(kpi_client, *batch) == {"inserted": 3, "updated": 0, "unchanged": 0, "dry_run": False}
    assert await push_ok(kpi_client, *batch) == {"inserted": 0, "updated": 0, "unchanged": 3, "dry_run": False}
    corrected = [*batch[:2], (kpi["key"], "2026-03-03T12:00:00Z", 30.0), (kpi["key"], "2026-03-04T12:00:00Z", 4.0)]
    assert await push_ok(kpi_client, *corrected) == {"inserted": 1, "updated": 1, "unchanged": 2, "dry_run": False}
    # The same point twice in one batch is one point.
    twice = [(kpi["key"], "2026-03-05T12:00:00Z", 5.0)] * 2
    assert await push_ok(kpi_client, *twice) == {"inserted": 1, "updated": 0, "unchanged": 1, "dry_run": False}
    assert [v for _, v in await _values(kpi_client, kpi["key"])] == [1.0, 2.0, 30.0, 4.0, 5.0]


async def test_offsets_are_normalised_to_utc(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-03-10T08:00:00+01:00", 1.0))
    assert await push_ok(kpi_client, (kpi["key"], "2026-03-10T07:00:00Z", 1.0)) == {
        "inserted": 0, "updated": 0, "unchanged": 1, "dry_run": False
    }  # fmt: skip
    assert await _values(kpi_client, kpi["key"]) == [("2026-03-10T07:00:00Z", 1.0)]


async def test_dry_run_counts_without_writing(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-03-01T00:00:00Z", 1.0), (kpi["key"], "2026-03-02T00:00:00Z", 2.0))
    response = await push(
        kpi_client,
        (kpi["key"], "2026-03-01T00:00:00Z", 1.0),
        (kpi["key"], "2026-03-02T00:00:00Z", 20.0),
        (kpi["key"], "2026-03-03T00:00:00Z", 3.0),
        dry_run="true",
    )
    assert response.json() == {"inserted": 1, "updated": 1, "unchanged": 1, "dry_run": True}
    assert [v for _, v in await _values(kpi_client, kpi["key"])] == [1.0, 2.0]
    bad = await push(kpi_client, ("no.such_kpi", "2026-03-01T00:00:00Z", 1.0), dry_run="true")
    assert bad.status_code == 422


async def test_only_measurement_or_kpi_writers_may_push(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    body = {"points": [{"kpi": kpi["key"], "ts": "2026-01-01T00:00:00Z", "value": 1}]}
    for scopes, expected in (
        (("kpi:read", "strategy:write", "talent:write"), 403),
        (("measurements:write",), 200),
        (("kpi:write",), 200),
    ):
        headers = {INTERNAL_TOKEN_HEADER: token("kpi", *scopes)}
        response = await kpi_client.post("/v1/measurements", json=body, headers=headers)
        assert response.status_code == expected, scopes


async def test_as_of_answers_what_was_known_then(kpi_client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    kpi = await create_kpi(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-03-01T00:00:00Z", 1.0), (kpi["key"], "2026-03-02T00:00:00Z", 2.0))
    # Within one test transaction now() does not move: shift what was recorded to the past.
    raw = await (await connection.get_raw_connection()).driver_connection.execute(  # type: ignore[union-attr]
        "UPDATE kpi.measurements SET recorded_at = recorded_at - interval '2 days' WHERE kpi_id = $1",
        uuid.UUID(kpi["id"]),
    )
    assert raw == "UPDATE 2"
    monday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    await push_ok(kpi_client, (kpi["key"], "2026-03-02T00:00:00Z", 20.0), (kpi["key"], "2026-03-03T00:00:00Z", 3.0))

    assert [v for _, v in await _values(kpi_client, kpi["key"])] == [1.0, 20.0, 3.0]
    assert [v for _, v in await _values(kpi_client, kpi["key"], as_of=monday)] == [1.0, 2.0]
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
    assert await _values(kpi_client, kpi["key"], as_of=long_ago) == []
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    assert [v for _, v in await _values(kpi_client, kpi["key"], as_of=later)] == [1.0, 20.0, 3.0]
    naive = await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements", params={"as_of": "2026-03-01T00:00:00"})
    assert naive.status_code == 422


async def test_raw_reads_are_paginated_within_from_and_to(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    await push_ok(kpi_client, *[(kpi["key"], f"2026-04-{d:02d}T00:00:00Z", float(d)) for d in range(1, 11)])
    seen: list[float] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"from": "2026-04-03T00:00:00Z", "to": "2026-04-09T00:00:00Z", "limit": 4}
        if cursor:
            params["cursor"] = cursor
        body = (await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements", params=params)).json()
        seen.extend(p["value"] for p in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    forged = await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements", params={"cursor": "WyJub3QgYSB0aW1lIl0"})
    assert forged.status_code == 400


async def test_concurrent_batches_on_the_same_point_lose_nothing(database_url: str) -> None:
    """Two writers race on the same (kpi, ts) with different values, on real separate transactions:
    no error, one value wins, the revision history holds the other."""
    settings = KpiSettings()
    async with committed_kpi(database_url, aggregation="last") as (database, key):
        ts = "2026-05-01T00:00:00Z"

        async def write(value: float) -> None:
            async with database.session() as session:
                body = f'{{"points": [{{"kpi": "{key}", "ts": "{ts}", "value": {value}}}]}}'.encode()
                await ingest(session, body, principal=Principal("racer", WRITER), dry_run=False, settings=settings)

        await asyncio.gather(*(write(float(v)) for v in range(1, 9)))
        connection = await asyncpg.connect(plain_url(database_url))
        try:
            kpi_id = await connection.fetchval("SELECT id FROM kpi.kpis WHERE key = $1", key)
            current = await connection.fetchval("SELECT value FROM kpi.measurements WHERE kpi_id = $1", kpi_id)
            history = await connection.fetch("SELECT value FROM kpi.measurement_revisions WHERE kpi_id = $1", kpi_id)
            rollup = await connection.fetchrow(
                "SELECT count, last_value FROM kpi.rollups_15m WHERE kpi_id = $1", kpi_id
            )
        finally:
            await connection.close()
        assert sorted([current, *(r["value"] for r in history)]) == [float(v) for v in range(1, 9)]
        assert rollup is not None
        assert (rollup["count"], rollup["last_value"]) == (1, current)


@contextlib.asynccontextmanager
async def committed_kpi(database_url: str, *, aggregation: str) -> AsyncIterator[tuple[Database, str]]:
    """A daily KPI committed for real (for tests of real concurrent transactions), removed afterwards
    with everything written for it, so the shared test database stays as other tests expect."""
    database = Database(async_url(database_url), Settings())
    key = f"real.kpi_{uuid.uuid4().hex[:8]}"
    try:
        async with database.session() as session:
            session.add(Kpi(key=key, name="real", unit="u", domain="operations", direction="increase",
                            aggregation=aggregation, cadence="daily"))  # fmt: skip
        yield database, key
    finally:
        await _forget_kpi(database_url, key)
        await database.dispose()


async def _forget_kpi(database_url: str, key: str) -> None:
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        kpi_id = await connection.fetchval("SELECT id FROM kpi.kpis WHERE key = $1", key)
        for table in ("measurement_revisions", "measurements", "rollups_15m", "rollups_period", "status_events"):
            await connection.execute(f"DELETE FROM kpi.{table} WHERE kpi_id = $1", kpi_id)
        await connection.execute("DELETE FROM kpi.kpis WHERE id = $1", kpi_id)
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("ts", "code"),
    [
        ("1700000000", "invalid_timestamp"),  # epoch seconds are not RFC 3339
        ("20260310T080000Z", "invalid_timestamp"),  # basic ISO 8601 form
        ("2026-W11-2T08:00:00Z", "invalid_timestamp"),  # ISO week date
        ("0001-01-01T00:00:00+01:00", "invalid_timestamp"),  # before year 1 in UTC
        ("2026-03-10 08:00:00", "naive_timestamp"),
    ],
)
async def test_only_rfc3339_timestamps_are_accepted(kpi_client: httpx.AsyncClient, ts: str, code: str) -> None:
    kpi = await create_kpi(kpi_client)
    response = await kpi_client.post("/v1/measurements", json={"points": [{"kpi": kpi["key"], "ts": ts, "value": 1}]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "location": "body",
            "pointer": "/points/0/ts",
            "message": response.json()["errors"][0]["message"],
            "code": code,
        }
    ]


async def test_values_the_database_cannot_store_are_422_not_500(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    assert (await kpi_client.get("/v1/kpis", params={"q": "a\x00b"})).status_code == 422
    assert (await kpi_client.get("/v1/kpis/a%00b")).status_code in (404, 422)
    renamed = await kpi_client.patch(f"/v1/kpis/{kpi['key']}", json={"name": "bad\x00name"}, headers={"if-match": "*"})
    assert renamed.status_code == 422
    late = await kpi_client.get(
        f"/v1/kpis/{kpi['key']}/series",
        params={"from": "9999-12-30T00:00:00Z", "to": "9999-12-31T23:00:00Z", "bucket": "year"},
    )
    assert late.status_code == 422
    epoch = await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements", params={"from": "1700000000"})
    assert epoch.status_code == 422


async def test_a_batch_waits_for_a_cadence_change_and_then_follows_it(database_url: str) -> None:
    """Real transactions: while a KPI's definition is being changed, a batch for it waits, then folds
    its points into the periods of the new cadence."""
    settings = KpiSettings()
    async with committed_kpi(database_url, aggregation="sum") as (database, key):
        body = f'{{"points": [{{"kpi": "{key}", "ts": "2026-06-03T10:00:00Z", "value": 1}}]}}'.encode()

        async def push() -> None:
            async with database.session() as session:
                await ingest(session, body, principal=Principal("t", WRITER), dry_run=False, settings=settings)

        async with database.session() as change:
            kpi = (await change.exec(select(Kpi).where(Kpi.key == key).with_for_update())).one()
            batch = asyncio.create_task(push())
            await asyncio.sleep(0.3)
            assert not batch.done(), "the batch must wait for the definition change"
            kpi.cadence = "monthly"
            change.add(kpi)
        await asyncio.wait_for(batch, 10)
        connection = await asyncpg.connect(plain_url(database_url))
        try:
            periods = await connection.fetch(
                "SELECT r.period_start FROM kpi.rollups_period r JOIN kpi.kpis k ON k.id = r.kpi_id WHERE k.key = $1",
                key,
            )
        finally:
            await connection.close()
        assert [p["period_start"] for p in periods] == [dt.date(2026, 6, 1)]  # a month, not the day


async def test_driver_statements_run_inside_the_sessions_transaction(database_url: str) -> None:
    """A real session (not a test-bound one): what the hot paths run on the driver must commit or
    roll back with the request, and the locks they take must last until then."""
    from services.kpi_service import repository

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
