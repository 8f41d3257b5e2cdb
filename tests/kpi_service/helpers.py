"""Shortcuts for KPI service tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from services.kpi_service.models import Kpi
from shared.contracts.kpi import Aggregation, Cadence, Direction, Domain
from shared.db import Database, async_url, plain_url
from shared.settings import Settings

_serial = itertools.count()


def kpi_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": f"ops.kpi_{next(_serial)}",
        "name": "On-time delivery",
        "unit": "%",
        "domain": "supply_chain",
        "direction": "increase",
        "aggregation": "avg",
        "cadence": "daily",
    }
    body.update(overrides)
    return body


def ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


async def create_kpi(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/kpis", json=kpi_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def push(client: httpx.AsyncClient, *points: tuple[str, str, float], **params: Any) -> httpx.Response:
    body = {"points": [{"kpi": k, "ts": ts, "value": v} for k, ts, v in points]}
    return await client.post("/v1/measurements", json=body, params=params)


async def push_ok(client: httpx.AsyncClient, *points: tuple[str, str, float]) -> dict[str, Any]:
    response = await push(client, *points)
    assert response.status_code == 200, response.text
    counts: dict[str, Any] = response.json()
    return counts


async def set_targets(client: httpx.AsyncClient, key: str, *targets: dict[str, Any]) -> None:
    response = await client.put(f"/v1/kpis/{key}/targets", json={"targets": list(targets)})
    assert response.status_code == 200, response.text


async def events_of(client: httpx.AsyncClient, key: str) -> list[tuple[str | None, str, str]]:
    items = (await client.get("/v1/kpi-events", params={"kpi": key, "limit": 500})).json()["items"]
    return [(e["from_status"], e["to_status"], e["cause"]) for e in items]


async def fetch(database_url: str, query: str, *args: object) -> list[asyncpg.Record]:
    """``query`` on a connection of its own: what is committed."""
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def execute(database_url: str, statement: str, *args: object) -> None:
    """``statement`` on a connection of its own, committed."""
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def committed_kpi(
    database_url: str, *, aggregation: Aggregation = Aggregation.last
) -> AsyncIterator[tuple[Database, str]]:
    """A daily KPI committed for real (for tests of real concurrent transactions), removed afterwards
    with everything written for it, so the shared test database stays as other tests expect."""
    database = Database(async_url(database_url), Settings())
    key = f"real.kpi_{uuid.uuid4().hex[:8]}"
    try:
        async with database.session() as session:
            session.add(Kpi(key=key, name="real", unit="u", domain=Domain.operations, direction=Direction.increase,
                            aggregation=aggregation, cadence=Cadence.daily))  # fmt: skip
        yield database, key
    finally:
        await forget_kpi(database_url, key)
        await database.dispose()


async def forget_kpi(database_url: str, key: str) -> None:
    """Remove a committed KPI and everything written for it (its Idempotency-Key records too)."""
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        kpi_id = await connection.fetchval("SELECT id FROM kpi.kpis WHERE key = $1", key)
        for table in ("measurement_revisions", "measurements", "rollups_15m", "rollups_period", "status_events"):
            await connection.execute(f"DELETE FROM kpi.{table} WHERE kpi_id = $1", kpi_id)
        await connection.execute("DELETE FROM kpi.idempotency_records WHERE response->>'key' = $1", key)
        await connection.execute("DELETE FROM kpi.kpis WHERE id = $1", kpi_id)
    finally:
        await connection.close()
