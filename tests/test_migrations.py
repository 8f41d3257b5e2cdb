"""The migrations create every schema from empty, remove everything on downgrade, and match the models."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from migrations.metadata import SCHEMAS, include_name, load_models
from pilotage import migrate
from shared.db import async_url
from tests.database import temporary_database


async def _fetch(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def _our_schemas(url: str) -> set[str]:
    rows = asyncio.run(_fetch(url, "SELECT nspname FROM pg_namespace"))
    return {r["nspname"] for r in rows} & set(SCHEMAS)


def _tables(url: str) -> set[str]:
    query = "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE schemaname = ANY($1::text[])"
    rows = asyncio.run(_fetch(url, query, list(SCHEMAS)))
    return {r["t"] for r in rows}


def _drift(url: str) -> list[object]:
    load_models()

    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_schemas": True,
                "include_name": include_name,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, SQLModel.metadata))

    async def run() -> list[object]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_from_empty_then_downgrade_to_base_then_upgrade_again() -> None:
    with temporary_database("pilotage_migrations") as url:
        assert _our_schemas(url) == set()
        migrate.upgrade(url)
        assert _our_schemas(url) == set(SCHEMAS)
        assert {"kpi.kpis", "strategy.objectives", "talent.org_units"} <= _tables(url)

        migrate.downgrade(url, "base")
        assert _our_schemas(url) == set()
        assert _tables(url) == set()

        migrate.upgrade(url)
        assert _our_schemas(url) == set(SCHEMAS)


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    assert _drift(database_url) == []


def test_every_model_table_lives_in_a_service_schema() -> None:
    load_models()
    for table in SQLModel.metadata.tables.values():
        assert table.schema in SCHEMAS, f"{table.name} has no service schema"
