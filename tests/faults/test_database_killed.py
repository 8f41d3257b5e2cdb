"""The database killed (SIGKILL of the postmaster, as a crash or the OOM killer would) while clients
push measurements through the gateway: every acknowledged batch is stored exactly, every other one
got a clean retryable answer and lands exactly once when sent again, the rollups agree with the raw
points, readiness says not-ready while the database is away, and the services recover on their own."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from pilotage import migrate
from services.gateway.keys import generate_key
from shared.db import async_url, plain_url
from tests.faults.postgres import kill_server, own_server, start_server
from tests.gateway.platform import Platform, running_platform

CLIENTS = 5
BATCH = 200
ORIGIN = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(days=60)


@dataclass
class Outcome:
    client: int
    batch: int
    status: int | None  # None: the connection failed
    body: dict[str, Any] | None
    retry_after: str | None
    content_type: str | None


def _points(client: int, batch: int) -> list[dict[str, Any]]:
    """Batch ``batch`` of client ``client``: 200 minutes of its own KPI no other batch touches."""
    first = batch * BATCH
    return [
        {
            "kpi": f"fault.client_{client}",
            "ts": (ORIGIN + dt.timedelta(minutes=first + i)).isoformat(),
            "value": float(first + i),
        }
        for i in range(BATCH)
    ]


async def _push(http: httpx.AsyncClient, client: int, batch: int) -> Outcome:
    try:
        response = await http.post("/v1/measurements", json={"points": _points(client, batch)})
    except httpx.TransportError:
        return Outcome(client, batch, None, None, None, None)
    body = response.json() if response.content else None
    return Outcome(
        client,
        batch,
        response.status_code,
        body,
        response.headers.get("retry-after"),
        response.headers.get("content-type"),
    )


async def _pusher(http: httpx.AsyncClient, client: int, stop: asyncio.Event, outcomes: list[Outcome]) -> None:
    batch = 0
    while not stop.is_set():
        outcome = await _push(http, client, batch)
        outcomes.append(outcome)
        batch += 1
        if outcome.status != 200:
            await asyncio.sleep(0.2)  # an enterprise client backs off (its own pace, not Retry-After's)


@pytest.fixture
async def platform_on_own_server(tmp_path: Path) -> AsyncIterator[tuple[Platform, Path, str]]:
    async with own_server(tmp_path) as url:
        await asyncio.to_thread(migrate.upgrade, url)
        engine: AsyncEngine = create_async_engine(async_url(url), pool_pre_ping=True)
        try:
            async with running_platform(url, generate_key().full, engine, upstream_read_timeout=20.0) as platform:
                # The platform serves the services without their lifespan: register what it would.
                kpi = _kpi_app()
                kpi.state.readiness_checks["database"] = kpi.state.database.ping
                try:
                    yield platform, tmp_path, url
                finally:
                    del kpi.state.readiness_checks["database"]
        finally:
            await engine.dispose()


def _kpi_app() -> FastAPI:
    from services.kpi_service.main import app

    return app


async def _readiness(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/readyz")
        answer: dict[str, Any] = response.json()
        return response.status_code, answer


async def test_every_acknowledged_batch_is_stored_and_every_refused_one_lands_once_retried(
    platform_on_own_server: tuple[Platform, Path, str],
) -> None:
    platform, data_dir, url = platform_on_own_server
    kpi_url = platform.gateway.app.state.settings.service_urls["kpi"]
    for client in range(CLIENTS):
        await platform.post(
            "/v1/kpis",
            {"key": f"fault.client_{client}", "name": f"Client {client}", "unit": "u", "domain": "operations",
             "direction": "increase", "aggregation": "sum", "cadence": "daily"},
        )  # fmt: skip

    stop = asyncio.Event()
    outcomes: list[Outcome] = []
    headers = {"Authorization": f"Bearer {platform.gateway.admin_key}"}
    async with httpx.AsyncClient(base_url=platform.gateway.url, headers=headers, timeout=30) as http:
        pushers = [asyncio.create_task(_pusher(http, c, stop, outcomes)) for c in range(CLIENTS)]
        await asyncio.sleep(1.5)
        acknowledged_before = sum(o.status == 200 for o in outcomes)

        await asyncio.to_thread(kill_server, data_dir)
        await asyncio.sleep(1.5)  # the key cache of the gateway (1 s) expires too
        for service_url in (kpi_url, platform.gateway.url):
            status, readiness = await _readiness(service_url)
            assert status == 503, readiness
            assert readiness["status"] == "not_ready"
            assert readiness["checks"]["database"]["status"] == "failing"
        refused_while_down = len(outcomes)
        await asyncio.sleep(0.5)
        assert len(outcomes) > refused_while_down, "requests hang while the database is away"

        await asyncio.to_thread(start_server, data_dir)
        recovered_at = len(outcomes)
        await asyncio.sleep(2.5)
        stop.set()
        await asyncio.gather(*pushers)

    assert acknowledged_before > 0
    assert sum(o.status == 200 for o in outcomes[recovered_at:]) > 0, "no batch acknowledged after recovery"
    refused = [o for o in outcomes if o.status != 200]
    assert refused, "the kill refused nothing: it did not happen mid-ingest"
    for outcome in refused:
        if outcome.status is None:
            continue  # a connection the kill broke: the client retries it like a 503
        assert outcome.status == 503, outcome
        assert outcome.content_type == "application/problem+json", outcome
        assert (outcome.retry_after or "").isdigit(), outcome
    for outcome in outcomes:
        if outcome.status == 200:
            assert outcome.body is not None
            assert outcome.body["inserted"] == BATCH, outcome  # every batch is new the first time

    # Sent again once the database is back, each refused batch lands exactly once: all of it new, or
    # all of it already there (its transaction committed but the answer was lost), never a part.
    async with httpx.AsyncClient(base_url=platform.gateway.url, headers=headers, timeout=30) as http:
        for outcome in refused:
            for _ in range(20):
                again = await _push(http, outcome.client, outcome.batch)
                if again.status == 200:
                    break
                await asyncio.sleep(0.5)
            assert again.status == 200, again
            assert again.body is not None
            assert again.body["updated"] == 0
            assert (again.body["inserted"], again.body["unchanged"]) in ((BATCH, 0), (0, BATCH)), again

        status, readiness = await _readiness(platform.gateway.url)
        assert (status, readiness["status"]) == (200, "ready"), readiness

    await _assert_stored_exactly(url, {(o.client, o.batch) for o in outcomes})


_FROM_RAW_15M = """
SELECT date_bin('15 minutes', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), count(*), sum(value), min(value), max(value),
       min(ts), max(ts)
FROM kpi.measurements WHERE kpi_id = $1 GROUP BY 1 ORDER BY 1
"""
_KEPT_15M = (
    "SELECT bucket_start, count, sum, min, max, first_ts, last_ts FROM kpi.rollups_15m WHERE kpi_id = $1 ORDER BY 1"
)
_FROM_RAW_DAY = """
SELECT (ts AT TIME ZONE 'UTC')::date, count(*), sum(value), min(value), max(value), min(ts), max(ts)
FROM kpi.measurements WHERE kpi_id = $1 GROUP BY 1 ORDER BY 1
"""
_KEPT_DAY = (
    "SELECT period_start, count, sum, min, max, first_ts, last_ts FROM kpi.rollups_period WHERE kpi_id = $1 ORDER BY 1"
)


async def _assert_stored_exactly(url: str, batches: set[tuple[int, int]]) -> None:
    connection = await asyncpg.connect(plain_url(url))
    try:
        for client in range(CLIENTS):
            kpi_id: uuid.UUID = await connection.fetchval(
                "SELECT id FROM kpi.kpis WHERE key = $1", f"fault.client_{client}"
            )
            sent = [b for c, b in batches if c == client]
            expected = [
                (ORIGIN + dt.timedelta(minutes=m), float(m))
                for b in sorted(sent)
                for m in range(b * BATCH, (b + 1) * BATCH)
            ]
            stored = await connection.fetch(
                "SELECT ts, value FROM kpi.measurements WHERE kpi_id = $1 ORDER BY ts", kpi_id
            )
            assert [(r["ts"], r["value"]) for r in stored] == expected, f"client {client}"
            assert (
                await connection.fetchval("SELECT count(*) FROM kpi.measurement_revisions WHERE kpi_id = $1", kpi_id)
                == 0
            )
            kept_15m = [tuple(r) for r in await connection.fetch(_KEPT_15M, kpi_id)]
            assert kept_15m == [tuple(r) for r in await connection.fetch(_FROM_RAW_15M, kpi_id)], f"client {client}"
            kept_day = [tuple(r) for r in await connection.fetch(_KEPT_DAY, kpi_id)]
            assert kept_day == [tuple(r) for r in await connection.fetch(_FROM_RAW_DAY, kpi_id)], f"client {client}"
    finally:
        await connection.close()
