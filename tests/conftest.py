from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pilotage import migrate
from shared.auth import INTERNAL_TOKEN_HEADER, internal_token_authenticator
from shared.db import Database, async_url
from shared.embedded_postgres import embedded_server_running, stop_embedded_server
from shared.settings import Settings
from tests.auth import token, verifier_for
from tests.database import temporary_database


@pytest.fixture(scope="session", autouse=True)
def embedded_server() -> Iterator[None]:
    """Without a server configured, the suite uses the embedded PostgreSQL; it stops it afterwards
    if it is what started it (a `make run` already using it keeps it)."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    data_dir = Settings().data_dir
    started_here = not configured and not embedded_server_running(data_dir)
    yield
    if started_here:
        stop_embedded_server(data_dir)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """One database for the suite, migrated to head by the real migrations."""
    with temporary_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(async_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside an outer transaction rolled back after the test, whatever the app commits."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()


def bind_app(app: FastAPI, database_url: str, connection: AsyncConnection) -> None:
    """What the lifespan would set up, bound to the test's transaction and the test public keys."""
    database = Database(database_url, Settings())
    database.bind_to(connection)
    app.state.database = database
    app.state.authenticator = internal_token_authenticator(verifier_for(app.state.service))


async def _client(app: FastAPI, database_url: str, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    """A client of one service, sending an internal token with every scope (tests of scopes send their own)."""
    bind_app(app, database_url, connection)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {INTERNAL_TOKEN_HEADER: token(app.state.service, "admin")}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
        yield client
    del app.state.database
    del app.state.authenticator


@pytest.fixture
async def kpi_client(database_url: str, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    from services.kpi_service.main import app

    async for client in _client(app, database_url, connection):
        yield client


@pytest.fixture
async def strategy_client(database_url: str, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    from services.strategy_service.main import app

    async for client in _client(app, database_url, connection):
        yield client


@pytest.fixture
async def talent_client(database_url: str, connection: AsyncConnection) -> AsyncIterator[httpx.AsyncClient]:
    from services.talent_service.main import app

    async for client in _client(app, database_url, connection):
        yield client
