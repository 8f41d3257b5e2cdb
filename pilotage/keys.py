"""``pilotage keys``: create, list and revoke API keys straight in the database (no gateway needed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway import repository, service
from services.gateway.models import ApiKey
from services.gateway.schemas import ApiKeyCreate
from shared.auth import Scope
from shared.db import async_url


def engine_for(database_url: str) -> AsyncEngine:
    return create_async_engine(async_url(database_url), pool_size=1)


async def create(
    database_url: str, name: str, scopes: Sequence[str], expires_at: dt.datetime | None, rate: float | None
) -> tuple[ApiKey, str]:
    request = ApiKeyCreate(
        name=name, scopes=[Scope(s) for s in scopes], expires_at=expires_at, rate_limit_per_second=rate
    )
    engine = engine_for(database_url)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            key, full = await service.create_key(session, request, created_by=None)
            await session.commit()
            return key, full
    finally:
        await engine.dispose()


async def list_keys(database_url: str, include_revoked: bool) -> list[ApiKey]:
    engine = engine_for(database_url)
    try:
        async with AsyncSession(engine) as session:
            statement = repository.keys_query(include_revoked=include_revoked).order_by(col(ApiKey.created_at))
            return list((await session.exec(statement)).all())
    finally:
        await engine.dispose()


async def revoke(database_url: str, key_id: str) -> bool:
    engine = engine_for(database_url)
    try:
        async with AsyncSession(engine) as session:
            key = await repository.get_key(session, key_id)
            if key is None:
                return False
            await repository.revoke_key(session, key)
            await session.commit()
            return True
    finally:
        await engine.dispose()


async def ensure_development_key(database_url: str, data_dir: Path) -> str:
    engine = engine_for(database_url)
    try:
        return await service.ensure_development_key(engine, data_dir)
    finally:
        await engine.dispose()
