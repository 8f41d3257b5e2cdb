"""Measurement ingestion: all or nothing, every bad point named, retries harmless, history kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kpi_service.main import app
from shared.auth import INTERNAL_TOKEN_HEADER
from shared.db import plain_url
from shared.errors import MAX_REPORTED_ERRORS
from tests.auth import token
from tests.kpi_service.conftest import UseSettings
from tests.kpi_service.helpers import create_kpi, fetch, forget_kpi, kpi_body, push, push_ok

TS = "2026-03-10T08:00:00+01:00"


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


async def test_a_flood_of_bad_points_reports_a_bounded_list_and_the_totals(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    bad = 3 * MAX_REPORTED_ERRORS
    points = [{"kpi": kpi["key"], "ts": TS, "value": 1, "a": 1, "b": 2} for _ in range(bad)]
    response = await kpi_client.post("/v1/measurements", json={"points": [*points, {"kpi": kpi["key"]}]})
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == MAX_REPORTED_ERRORS
    assert body["errors"][0]["pointer"] == "/points/0/a"
    assert body["truncated"] is True
    assert body["error_count"] == 2 * bad + 2  # two unknown fields per point, then the last one's ts and value
    assert f"{bad + 1} of {bad + 1} points are invalid" in body["detail"]
    top = await kpi_client.post("/v1/measurements", json={"points": [], **{f"x{i}": 0 for i in range(bad)}})
    assert top.status_code == 422
    assert len(top.json()["errors"]) == MAX_REPORTED_ERRORS
    assert top.json()["error_count"] == bad


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


async def test_oversized_batch_is_a_413(kpi_client: httpx.AsyncClient, kpi_settings: UseSettings) -> None:
    kpi = await create_kpi(kpi_client)
    kpi_settings(max_batch_points=3)
    points = [(kpi["key"], f"2026-01-0{d}T00:00:00Z", 1.0) for d in range(1, 5)]
    assert (await push(kpi_client, *points[:3])).status_code == 200
    response = await push(kpi_client, *points)
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


async def _deadlocks(database_url: str) -> int:
    rows = await fetch(database_url, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    return int(rows[0]["deadlocks"])


async def test_corrections_and_new_points_on_one_day_never_deadlock(
    committed_client: httpx.AsyncClient, database_url: str
) -> None:
    """Three writers correcting points of a day while three add new ones to it, on real concurrent
    transactions: every batch lands at the first attempt, and PostgreSQL detects no deadlock."""
    kpi = (await committed_client.post("/v1/kpis", json=kpi_body(key=f"race.day_{uuid.uuid4().hex[:8]}"))).json()
    key = kpi["key"]
    day = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    try:
        seeded = [(key, (day + dt.timedelta(minutes=m)).isoformat(), 1.0) for m in range(0, 600, 5)]
        assert (await push(committed_client, *seeded)).status_code == 200
        before = await _deadlocks(database_url)

        async def correct(writer: int, round_: int) -> httpx.Response:
            value = float(10 * round_ + writer)
            return await push(committed_client, *[(k, ts, value) for k, ts, _ in seeded[writer::3]])

        async def add(writer: int, round_: int) -> httpx.Response:
            minutes = [601 + 60 * round_ + 3 * i + writer for i in range(20)]
            return await push(
                committed_client, *[(key, (day + dt.timedelta(minutes=m)).isoformat(), 2.0) for m in minutes]
            )

        for round_ in range(4):
            writers = [correct(w, round_) for w in range(3)] + [add(w, round_) for w in range(3)]
            answers = await asyncio.wait_for(asyncio.gather(*writers), 60)
            assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
        # A backend reports its statistics at the latest when it exits: close the app's connections.
        await app.state.database.dispose()
        await asyncio.sleep(0.5)
        assert await _deadlocks(database_url) == before
    finally:
        await forget_kpi(database_url, key)


async def test_a_writer_takes_the_kpis_rollup_lock_before_any_rollup_row(
    committed_client: httpx.AsyncClient, database_url: str
) -> None:
    """The lock order, observed: while another transaction holds a KPI's rollup lock, a batch for
    that KPI waits on that lock and holds no lock on any rollup table — so whatever order the
    statements after it lock buckets and periods in, two writers of one KPI never interleave there."""
    from services.kpi_service.repository import ROLLUP_LOCK_CLASS

    kpi = (await committed_client.post("/v1/kpis", json=kpi_body(key=f"race.order_{uuid.uuid4().hex[:8]}"))).json()
    holder = await asyncpg.connect(plain_url(database_url))
    try:
        seeded = await push(committed_client, (kpi["key"], "2026-06-01T08:00:00Z", 1.0))
        assert seeded.status_code == 200
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", ROLLUP_LOCK_CLASS, kpi["id"])
            correction = asyncio.create_task(push(committed_client, (kpi["key"], "2026-06-01T08:00:00Z", 2.0)))
            waiter = None
            for _ in range(200):
                waiter = await holder.fetchval(
                    """SELECT pid FROM pg_locks
                       WHERE locktype = 'advisory' AND NOT granted AND classid = $1::int::oid
                         AND objid = hashtext($2)::oid AND objsubid = 2""",
                    ROLLUP_LOCK_CLASS,
                    kpi["id"],
                )
                if waiter is not None or correction.done():
                    break
                await asyncio.sleep(0.02)
            assert not correction.done(), "the batch did not wait for the KPI's rollup lock"
            assert waiter is not None
            held = await holder.fetch(
                """SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                   WHERE l.pid = $1 AND l.granted AND c.relname LIKE 'rollups%'""",
                waiter,
            )
            assert held == []
        assert (await asyncio.wait_for(correction, 10)).status_code == 200
    finally:
        await holder.close()
        await forget_kpi(database_url, kpi["key"])
