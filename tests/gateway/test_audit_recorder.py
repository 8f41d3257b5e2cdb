"""The audit recorder keeps what it cannot store yet, and one refused event does not hold back others."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from services.gateway.service import AuditRecorder
from shared.db import async_url
from shared.models import utcnow
from tests.servers import free_port


def event(key_id: str, path: str, status: int = 201) -> dict[str, Any]:
    return {"occurred_at": utcnow(), "key_id": key_id, "method": "POST", "path": path, "status": status}


async def test_events_wait_while_the_database_is_away(database_url: str) -> None:
    key_id = uuid.uuid4().hex[:12]
    dead = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    recorder = AuditRecorder(dead, flush_seconds=60)
    recorder.record(event(key_id, "/v1/kpis"))
    recorder.record(event(key_id, "/v1/measurements"))
    with pytest.raises(ConnectionRefusedError):
        await recorder.flush()
    await dead.dispose()

    live = create_async_engine(async_url(database_url))
    recorder._engine = live  # the database is back
    await recorder.flush()
    async with live.connect() as connection:
        paths = (await connection.execute(
            text("SELECT path FROM gateway.audit_events WHERE key_id = :k ORDER BY id"), {"k": key_id}
        )).scalars().all()  # fmt: skip
    await live.dispose()
    assert paths == ["/v1/kpis", "/v1/measurements"]  # each once, in order


async def test_an_event_the_database_refuses_is_dropped_alone(database_url: str) -> None:
    key_id = uuid.uuid4().hex[:12]
    live = create_async_engine(async_url(database_url))
    recorder = AuditRecorder(live, flush_seconds=60)
    recorder.record(event(key_id, "/v1/a"))
    recorder.record(event(key_id, "/v1/refused", status=70_000))  # beyond the status column
    recorder.record(event(key_id, "/v1/b"))
    await recorder.flush()
    async with live.connect() as connection:
        paths = (await connection.execute(
            text("SELECT path FROM gateway.audit_events WHERE key_id = :k ORDER BY id"), {"k": key_id}
        )).scalars().all()  # fmt: skip
    await live.dispose()
    assert paths == ["/v1/a", "/v1/b"]
