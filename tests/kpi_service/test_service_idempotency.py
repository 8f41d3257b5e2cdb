"""The Idempotency-Key helper on the KPI service's table: replay, refusal of reuse, and what a failed
creation leaves behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from services.kpi_service.models import IdempotencyRecord
from shared.errors import Conflict, UnprocessableContent
from shared.idempotency import Answer, IdempotentRequest, request_fingerprint, run_once


class Thing(BaseModel):
    serial: int
    at: dt.datetime


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


class Creator:
    """Counts creations; each answers a new serial."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> Answer[Thing]:
        self.calls += 1
        body = Thing(serial=self.calls, at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        return Answer(body, status_code=201, headers={"Location": f"/things/{self.calls}", "ETag": '"1"'})


def asked(key: str | None, body: bytes = b"{}", principal: str = "key00001") -> IdempotentRequest:
    return IdempotentRequest(principal, key, request_fingerprint("POST", "/v1/things", body))


async def test_without_a_key_every_request_creates(session: AsyncSession) -> None:
    create = Creator()
    first = await run_once(session, IdempotencyRecord, Thing, asked(None), create)
    second = await run_once(session, IdempotencyRecord, Thing, asked(None), create)
    assert (first.body.serial, second.body.serial, create.calls) == (1, 2, 2)


async def test_the_same_key_and_request_replay_status_body_and_headers(session: AsyncSession) -> None:
    create = Creator()
    first = await run_once(session, IdempotencyRecord, Thing, asked("k-1"), create)
    again = await run_once(session, IdempotencyRecord, Thing, asked("k-1"), create)
    assert create.calls == 1
    assert again == first
    response = Response()
    assert again.send(response) == first.body
    assert (response.status_code, response.headers["location"], response.headers["etag"]) == (201, "/things/1", '"1"')


async def test_keys_belong_to_their_caller(session: AsyncSession) -> None:
    create = Creator()
    await run_once(session, IdempotencyRecord, Thing, asked("k-1", principal="key00001"), create)
    other = await run_once(session, IdempotencyRecord, Thing, asked("k-1", principal="key00002"), create)
    assert (other.body.serial, create.calls) == (2, 2)


async def test_the_same_key_for_another_request_is_a_422_naming_the_header(session: AsyncSession) -> None:
    create = Creator()
    await run_once(session, IdempotencyRecord, Thing, asked("k-1", b'{"a": 1}'), create)
    with pytest.raises(UnprocessableContent) as refused:
        await run_once(session, IdempotencyRecord, Thing, asked("k-1", b'{"a": 2}'), create)
    assert [(e.location, e.parameter, e.code) for e in refused.value.errors or []] == [
        ("header", "Idempotency-Key", "reused")
    ]
    assert create.calls == 1


async def test_a_failed_creation_is_not_remembered(session: AsyncSession) -> None:
    async def refuse() -> Answer[Thing]:
        raise Conflict("No.")

    with pytest.raises(Conflict):
        await run_once(session, IdempotencyRecord, Thing, asked("k-1"), refuse)
    create = Creator()
    created = await run_once(session, IdempotencyRecord, Thing, asked("k-1"), create)
    assert (created.body.serial, create.calls) == (1, 1)


def test_the_fingerprint_covers_method_path_and_body() -> None:
    base = request_fingerprint("POST", "/v1/kpis", b"{}")
    assert base == request_fingerprint("POST", "/v1/kpis", b"{}")
    assert len({base, request_fingerprint("PUT", "/v1/kpis", b"{}"), request_fingerprint("POST", "/v1/kpi", b"{}"),
                request_fingerprint("POST", "/v1/kpis", b"{ }")}) == 4  # fmt: skip
