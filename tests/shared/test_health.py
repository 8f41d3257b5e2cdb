"""Readiness: an unauthenticated flood of /readyz costs each dependency at most one check a second,
and the database check never waits for the connections that serve requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.pool import QueuePool

from shared.db import Database, plain_url
from shared.errors import DatabaseUnreachable
from shared.settings import Settings
from tests.probe import probe_app
from tests.servers import free_port


@pytest.fixture
def app() -> FastAPI:
    return probe_app([], Settings(readiness_cache_seconds=0.5))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_concurrent_and_repeated_calls_share_one_check(app: FastAPI, client: httpx.AsyncClient) -> None:
    calls = 0

    async def dependency() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)

    app.state.readiness_checks["dependency"] = dependency
    answers = await asyncio.gather(*(client.get("/readyz") for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert calls == 1, "concurrent calls wait for the check in progress"
    assert (await client.get("/readyz")).status_code == 200
    assert calls == 1, "an answer is reused for readiness_cache_seconds"
    await asyncio.sleep(0.6)
    assert (await client.get("/readyz")).status_code == 200
    assert calls == 2


async def test_a_failing_answer_is_cached_too_and_a_caller_leaving_cancels_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        raise ConnectionRefusedError("down")

    app.state.readiness_checks["dependency"] = failing
    impatient = asyncio.create_task(client.get("/readyz"))
    await asyncio.sleep(0.05)
    impatient.cancel()
    answers = await asyncio.gather(*(client.get("/readyz") for _ in range(10)))
    assert {a.status_code for a in answers} == {503}
    assert answers[0].json()["checks"]["dependency"] == {"status": "failing", "detail": "ConnectionRefusedError"}
    assert calls == 1


async def test_the_database_check_does_not_use_the_request_pool(database_url: str) -> None:
    database = Database(database_url, Settings(db_pool_size=1, db_connect_timeout=1))
    try:
        async with database.engine.connect() as held:  # every connection of the request pool is taken
            await held.exec_driver_sql("SELECT 1")
            started = time.monotonic()
            await database.ping()
            await database.ping()
            assert time.monotonic() - started < 0.5
        pool = database.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedout() == 0
    finally:
        await database.dispose()


async def test_the_database_check_reconnects_after_losing_its_connection(database_url: str) -> None:
    database = Database(database_url, Settings())
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        await database.ping()
        first = database._health_connection
        assert first is not None
        # As when the server restarts: the kept connection is gone, the next check uses a new one.
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", first.get_server_pid())
        await database.ping()
        assert database._health_connection is not first
    finally:
        await admin.close()
        await database.dispose()


async def test_the_database_check_fails_while_the_database_is_away() -> None:
    database = Database(f"postgresql://nobody@127.0.0.1:{free_port()}/none", Settings(db_connect_timeout=1))
    try:
        with pytest.raises(DatabaseUnreachable):
            await database.ping()
    finally:
        await database.dispose()
