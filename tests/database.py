"""Throw-away databases for the test suite, on the server named by ``TEST_DATABASE_URL`` or
``DATABASE_URL``, or on the embedded PostgreSQL when neither is set. Never the run data."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import plain_url
from shared.embedded_postgres import embedded_server_url
from shared.settings import Settings


def server_url() -> str:
    """A URL on the test server for its maintenance database ``postgres``."""
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return plain_url(make_url(configured).set(database="postgres"))
    return plain_url(embedded_server_url(Settings().data_dir, database="postgres"))


def _with_database(url: str, database: str) -> str:
    return plain_url(make_url(url).set(database=database))


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def temporary_database(prefix: str = "pilotage_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards (even if sessions are still open)."""
    admin_url = server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(admin_url, name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def insert_rows(connection: AsyncConnection, *rows: SQLModel) -> None:
    """Insert rows, in order, inside the test's outer transaction."""
    async with AsyncSession(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as session:
        for row in rows:
            session.add(row)
            await session.flush()
        await session.commit()
