"""Alembic environment for every Pilotage schema.

The URL is, in order: ``config.attributes["database_url"]`` (set by ``pilotage migrate`` and the
tests), ``DATABASE_URL``, or the embedded PostgreSQL. A live connection passed in
``config.attributes["connection"]`` is used as is.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from migrations.metadata import include_name, load_models
from shared.db import async_url
from shared.embedded_postgres import resolve_database_url
from shared.settings import Settings

load_models()
target_metadata = SQLModel.metadata
config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=include_name,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    engine = create_async_engine(async_url(url))
    async with engine.connect() as connection:
        await connection.run_sync(run_with)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = config.attributes.get("database_url")
    if url is None:
        settings = Settings()
        url = resolve_database_url(settings.database_url, settings.data_dir)
    asyncio.run(run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run against a database.")
run_migrations_online()
