"""Every SQL query of the gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as sm_select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.gateway.models import ApiKey, AuditEvent
from shared.sql import LIKE_ESCAPE, like_literal

_keys = ApiKey.__table__  # type: ignore[attr-defined]
_audit = AuditEvent.__table__  # type: ignore[attr-defined]


async def fetch_key(connection: AsyncConnection, key_id: str) -> ApiKey | None:
    row = (await connection.execute(select(_keys).where(_keys.c.id == key_id))).mappings().first()
    return ApiKey.model_validate(dict(row)) if row else None


async def get_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


def keys_query(*, include_revoked: bool) -> SelectOfScalar[ApiKey]:
    statement = sm_select(ApiKey)
    if not include_revoked:
        statement = statement.where(col(ApiKey.revoked_at).is_(None))
    return statement


async def revoke_key(session: AsyncSession, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = (await session.exec(sm_select(func.now()))).one()
        session.add(key)
        await session.flush()


async def upsert_admin_key(connection: AsyncConnection, key_id: str, secret_hash: str, name: str) -> None:
    """Make sure exactly this admin key exists and is usable (re-enabled if it was revoked)."""
    statement = pg_insert(_keys).values(id=key_id, name=name, secret_hash=secret_hash, scopes=["admin"])
    statement = statement.on_conflict_do_update(
        index_elements=[_keys.c.id],
        set_={"secret_hash": secret_hash, "scopes": ["admin"], "revoked_at": None, "expires_at": None},
    )
    await connection.execute(statement)


async def key_usable(connection: AsyncConnection, key_id: str, secret_hash: str) -> bool:
    row = await connection.execute(
        select(_keys.c.id).where(
            _keys.c.id == key_id,
            _keys.c.secret_hash == secret_hash,
            _keys.c.revoked_at.is_(None),
            (_keys.c.expires_at.is_(None)) | (_keys.c.expires_at > func.now()),
        )
    )
    return row.first() is not None


async def insert_audit_events(connection: AsyncConnection, events: Sequence[dict[str, Any]]) -> None:
    await connection.execute(insert(_audit), list(events))


def audit_query(
    *,
    key_id: str | None,
    method: str | None,
    path_prefix: str | None,
    status: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> SelectOfScalar[AuditEvent]:
    statement = sm_select(AuditEvent)
    if key_id is not None:
        statement = statement.where(col(AuditEvent.key_id) == key_id)
    if method is not None:
        statement = statement.where(col(AuditEvent.method) == method.upper())
    if path_prefix is not None:
        statement = statement.where(col(AuditEvent.path).like(like_literal(path_prefix) + "%", escape=LIKE_ESCAPE))
    if status is not None:
        statement = statement.where(col(AuditEvent.status) == status)
    if since is not None:
        statement = statement.where(col(AuditEvent.occurred_at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEvent.occurred_at) < until)
    return statement
