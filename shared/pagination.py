"""Cursor (keyset) pagination.

A list route takes ``PageParams`` and returns ``Page[ItemModel]``; :func:`paginate` applies the
cursor to a statement ordered by unique columns, so pages are stable under concurrent inserts::

    async def list_kpis(session: SessionDep, page: PageParams) -> Page[KpiPublic]:
        return await paginate(session, select(Kpi), (col(Kpi.created_at), col(Kpi.id)), page, KpiPublic)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, cast

import orjson
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import tuple_
from sqlalchemy.orm import InstrumentedAttribute, Mapped
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from shared.errors import BadRequest, FieldError

T = TypeVar("T")
MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None


def _page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


PageParams = Annotated[PageRequest, Depends(_page_request)]


def _encode_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID | dt.datetime | dt.date):
        return str(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([_encode_value(v) for v in values])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid_cursor() -> BadRequest:
    return BadRequest(
        "The cursor is not one this API issued.",
        errors=[FieldError(location="query", parameter="cursor", message="Invalid cursor.", code="invalid_cursor")],
    )


_INT64 = range(-(2**63), 2**63)


def _decode_value(python_type: type[Any], value: Any) -> Any:
    """``value`` as ``encode_cursor`` wrote a value of ``python_type``, or ``ValueError``: a cursor is
    only ever what this API issued, so anything else, however close, is refused before it reaches
    the database (where a naive time, an out-of-range number or a NUL would fail as a 500)."""
    if python_type is int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _INT64:
            raise ValueError("not a 64-bit integer")
        return value
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not a string")
    if python_type is str:
        return value
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    if python_type is dt.datetime:
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("not an aware timestamp")
        return moment.astimezone(dt.UTC)
    if python_type is dt.date:
        return dt.date.fromisoformat(value)
    raise ValueError(f"no cursor holds a {python_type.__name__}")


def decode_typed(cursor: str, types: Sequence[type[Any]]) -> list[Any]:
    """The values of a cursor holding one value of each of ``types`` (400 for anything else)."""
    values = decode_values(cursor, len(types))
    try:
        return [_decode_value(t, v) for t, v in zip(types, values, strict=True)]
    except (ValueError, TypeError, OverflowError):
        raise _invalid_cursor() from None


def decode_values(cursor: str, count: int) -> list[Any]:
    """The ``count`` raw values an :func:`encode_cursor` cursor holds (400 for anything else)."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _invalid_cursor() from None
    if not isinstance(values, list) or len(values) != count:
        raise _invalid_cursor()
    return values


def decode_cursor(cursor: str, columns: Sequence[Mapped[Any]]) -> list[Any]:
    return decode_typed(cursor, [cast(InstrumentedAttribute[Any], c).type.python_type for c in columns])


async def paginate(
    session: AsyncSession,
    statement: SelectOfScalar[Any],
    order_by: Sequence[Mapped[Any]],
    page: PageRequest,
    to_item: Callable[[Any], T],
) -> Page[T]:
    """Run ``statement`` (selecting one ORM entity) for one page ordered by ``order_by`` ascending;
    the last column must be unique."""
    if page.cursor is not None:
        after = decode_cursor(page.cursor, order_by)
        statement = statement.where(tuple_(*order_by) > tuple_(*after))
    statement = statement.order_by(*order_by).limit(page.limit + 1)
    rows = list((await session.exec(statement)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, cast(InstrumentedAttribute[Any], c).key) for c in order_by])
    return Page[T](items=[to_item(row) for row in rows], next_cursor=next_cursor)
