"""``Idempotency-Key`` on creating POSTs: the first response is replayed to every retry.

Each service keeps the responses in its own schema, declared in its ``models.py`` with one line::

    IdempotencyRecord = idempotency_record_table(SCHEMA)

and its creating operations run through :func:`run_once` (the route takes :data:`Idempotency`)::

    async def create_kpi(session, body, idempotency: IdempotentRequest) -> Answer[KpiPublic]:
        async def create() -> Answer[KpiPublic]:
            ...
            return Answer(public, status_code=201, headers={"Location": ..., "ETag": ...})

        return await run_once(session, IdempotencyRecord, KpiPublic, idempotency, create)

Rules: the same caller, key and request get the first answer again (status, body, headers); the
same key with another request is a 422 naming the header. Concurrent requests with one key are
serialised by a transaction-level advisory lock on the key: the first creates, the others wait
for its commit and replay its answer (or, if it failed, the next one creates).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import advisory_locks
from shared.auth import CurrentPrincipal
from shared.errors import FieldError, UnprocessableContent
from shared.models import created_at_field

M = TypeVar("M", bound=BaseModel)

IDEMPOTENCY_LOCK_CLASS = advisory_locks.IDEMPOTENCY

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Send the same key to retry a create safely: the first response is replayed.",
    ),
]


class IdempotencyRecordBase(SQLModel):
    """The response to a creating POST, replayed when the same caller retries with the same key."""

    principal: str = Field(sa_type=String(16), primary_key=True)
    key: str = Field(sa_type=String(200), primary_key=True)
    request_hash: str = Field(sa_type=String(64), nullable=False)
    status_code: int = Field(sa_type=Integer, nullable=False)
    response: dict[str, Any] = Field(sa_type=JSONB, nullable=False)
    headers: dict[str, str] = Field(sa_type=JSONB, nullable=False)
    created_at: dt.datetime = created_at_field()


def idempotency_record_table(schema: str) -> type[IdempotencyRecordBase]:
    """The ``<schema>.idempotency_records`` table model."""
    namespace = {"__tablename__": "idempotency_records", "__table_args__": {"schema": schema}, "__module__": __name__}
    metaclass: Any = type(IdempotencyRecordBase)  # SQLModel's: it takes the ``table`` keyword
    # One class name per schema: SQLAlchemy's registry warns when two classes share name and module.
    name = f"{schema.title()}IdempotencyRecord"
    table: type[IdempotencyRecordBase] = metaclass(name, (IdempotencyRecordBase,), namespace, table=True)
    return table


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """Who asks, with which ``Idempotency-Key`` (None: no replay), and what exactly they asked."""

    principal: str
    key: str | None
    fingerprint: str


async def _idempotent_request(
    request: Request, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> IdempotentRequest:
    body = await request.body()  # already read (and cached) for the body model
    fingerprint = request_fingerprint(request.method, request.url.path, body)
    return IdempotentRequest(principal.key_id, idempotency_key, fingerprint)


Idempotency = Annotated[IdempotentRequest, Depends(_idempotent_request)]


@dataclass(frozen=True, slots=True)
class Answer(Generic[M]):
    """What a creating operation answers: the body (sent through the route's ``response_model``),
    its status and headers."""

    body: M
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, response: Response) -> M:
        """Put status and headers on the route's injected response; return the body."""
        response.status_code = self.status_code
        response.headers.update(self.headers)
        return self.body


async def _lock(session: AsyncSession, table: type[IdempotencyRecordBase], principal: str, key: str) -> None:
    name = f"{table.__table__.fullname} {principal} {key}"  # type: ignore[attr-defined]
    await session.exec(select(func.pg_advisory_xact_lock(IDEMPOTENCY_LOCK_CLASS, func.hashtext(name))))


async def _record(
    session: AsyncSession, table: type[IdempotencyRecordBase], principal: str, key: str
) -> IdempotencyRecordBase | None:
    return await session.get(table, (principal, key), populate_existing=True)  # what is committed now


async def run_once(
    session: AsyncSession,
    table: type[IdempotencyRecordBase],
    model: type[M],
    request: IdempotentRequest,
    create: Callable[[], Awaitable[Answer[M]]],
) -> Answer[M]:
    """``create()``, unless this caller already sent this key: then the first answer again."""
    if request.key is None:
        return await create()
    await _lock(session, table, request.principal, request.key)  # held until the transaction ends
    previous = await _record(session, table, request.principal, request.key)
    if previous is not None:
        if previous.request_hash != request.fingerprint:
            raise UnprocessableContent(
                "This Idempotency-Key was used with another request.",
                errors=[FieldError(location="header", parameter="Idempotency-Key", message="Reused.", code="reused")],
            )
        return Answer(model.model_validate(previous.response), previous.status_code, dict(previous.headers))
    answer = await create()
    session.add(
        table(
            principal=request.principal,
            key=request.key,
            request_hash=request.fingerprint,
            status_code=answer.status_code,
            response=answer.body.model_dump(mode="json"),
            headers=answer.headers,
        )
    )
    await session.flush()
    return answer
