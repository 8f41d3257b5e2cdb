"""The session dependency owns the transaction: commit when the route returns, roll back — at once —
when it raises."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from shared.db import Database, SessionDep, async_url
from shared.errors import Conflict
from shared.settings import Settings
from tests.probe import HEADERS, probe_app
from tests.servers import serve


class Done(BaseModel):
    ok: bool


router = APIRouter(prefix="/v1", tags=["probe"])


@router.post("/writes/{name}", response_model=Done)
async def write(name: str, session: SessionDep) -> Done:
    await session.exec(text("INSERT INTO probe_rows (name) VALUES (:name)").bindparams(name=name))  # type: ignore[call-overload]
    if name.startswith("fail"):
        raise Conflict("Refused after writing.")
    if name.startswith("crash"):
        raise RuntimeError("boom")
    return Done(ok=True)


@pytest.fixture
async def probe(database_url: str) -> AsyncIterator[tuple[FastAPI, Database]]:
    """The probe app on a real database (no outer transaction: commits are what is tested)."""
    app = probe_app([router])
    database = Database(async_url(database_url), Settings())
    async with database.engine.begin() as connection:
        # Unique, checked at commit: a duplicate fails only when the dependency commits.
        await connection.execute(text("DROP TABLE IF EXISTS probe_rows"))
        await connection.execute(text("CREATE TABLE probe_rows (name text UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
    app.state.database = database
    try:
        yield app, database
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TABLE probe_rows"))
        await database.dispose()


async def _rows(database: Database) -> list[str]:
    async with database.engine.connect() as connection:
        return [r[0] for r in await connection.execute(text("SELECT name FROM probe_rows ORDER BY name"))]


async def test_success_commits_and_errors_roll_back_before_the_response(
    probe: tuple[FastAPI, Database],
) -> None:
    app, database = probe
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=HEADERS) as client:
        assert (await client.post("/v1/writes/kept")).status_code == 200
        assert (await client.post("/v1/writes/fail-1")).status_code == 409
        # The connection is back in the pool, its transaction already rolled back: nothing waits for
        # a garbage collector to finish the request's work.
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert (await client.post("/v1/writes/crash-1")).status_code == 500
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _rows(database) == ["kept"]


async def test_a_failing_commit_is_never_reported_as_a_success(probe: tuple[FastAPI, Database]) -> None:
    """Over real HTTP: the commit happens before the response, so its failure is the response."""
    app, database = probe
    async with serve(app) as url, httpx.AsyncClient(base_url=url, headers=HEADERS) as client:
        assert (await client.post("/v1/writes/once")).status_code == 200
        again = await client.post("/v1/writes/once")  # the duplicate is refused at commit
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert await _rows(database) == ["once"]
