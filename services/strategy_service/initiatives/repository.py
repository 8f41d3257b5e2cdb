"""Every SQL statement of the initiatives sub-domain."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import or_, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service.initiatives.models import Initiative, ProgressUpdate
from shared.contracts.strategy import OPEN_INITIATIVE_STATUSES, InitiativeStatus
from shared.pagination import Page, PageRequest, decode_typed, encode_cursor, paginate

_ORDER = (col(Initiative.created_at), col(Initiative.id))


@dataclass(frozen=True, slots=True)
class InitiativeFilters:
    kpi: str | None = None
    objective_id: uuid.UUID | None = None
    key_result_id: uuid.UUID | None = None
    owner_org_unit_id: uuid.UUID | None = None
    status: InitiativeStatus | None = None
    overdue_on: dt.date | None = None  # open and due before this day
    archived: bool = False


async def initiatives_page(session: AsyncSession, page: PageRequest, filters: InitiativeFilters) -> Page[Initiative]:
    statement = select(Initiative)
    if filters.kpi is not None:
        statement = statement.where(col(Initiative.kpi) == filters.kpi)
    if filters.objective_id is not None:
        statement = statement.where(col(Initiative.objective_id) == filters.objective_id)
    if filters.key_result_id is not None:
        statement = statement.where(col(Initiative.key_result_id) == filters.key_result_id)
    if filters.owner_org_unit_id is not None:
        statement = statement.where(col(Initiative.owner_org_unit_id) == filters.owner_org_unit_id)
    if filters.status is not None:
        statement = statement.where(col(Initiative.status) == filters.status)
    if filters.overdue_on is not None:
        statement = statement.where(
            col(Initiative.status).in_(OPEN_INITIATIVE_STATUSES), col(Initiative.due_date) < filters.overdue_on
        )
    archived = col(Initiative.archived_at)
    statement = statement.where(archived.is_not(None) if filters.archived else archived.is_(None))
    return await paginate(session, statement, _ORDER, page, lambda initiative: initiative)


async def aimed_at(
    session: AsyncSession,
    objective_ids: Collection[uuid.UUID],
    key_result_ids: Collection[uuid.UUID],
    kpis: Collection[str],
    *,
    open_only: bool,
) -> list[Initiative]:
    """The initiatives, not archived, aimed at any of these objectives, key results or KPIs, oldest first."""
    targets = []
    if objective_ids:
        targets.append(col(Initiative.objective_id).in_(objective_ids))
    if key_result_ids:
        targets.append(col(Initiative.key_result_id).in_(key_result_ids))
    if kpis:
        targets.append(col(Initiative.kpi).in_(kpis))
    if not targets:
        return []
    statement = select(Initiative).where(or_(*targets), col(Initiative.archived_at).is_(None))
    if open_only:
        statement = statement.where(col(Initiative.status).in_(OPEN_INITIATIVE_STATUSES))
    return list((await session.exec(statement.order_by(*_ORDER))).all())


async def get_initiative(
    session: AsyncSession, initiative_id: uuid.UUID, *, for_update: bool = False
) -> Initiative | None:
    statement = select(Initiative).where(col(Initiative.id) == initiative_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


_UPDATE_CURSOR: Sequence[type] = (dt.datetime, uuid.UUID)


async def updates_page(session: AsyncSession, initiative_id: uuid.UUID, page: PageRequest) -> Page[ProgressUpdate]:
    """Newest first."""
    order = (col(ProgressUpdate.created_at), col(ProgressUpdate.id))
    statement = select(ProgressUpdate).where(col(ProgressUpdate.initiative_id) == initiative_id)
    if page.cursor is not None:
        after = decode_typed(page.cursor, _UPDATE_CURSOR)
        statement = statement.where(tuple_(*order) < tuple_(*after))
    statement = statement.order_by(*(c.desc() for c in order)).limit(page.limit + 1)
    rows = list((await session.exec(statement)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = encode_cursor([rows[-1].created_at, rows[-1].id])
    return Page[ProgressUpdate](items=rows, next_cursor=next_cursor)
