"""Every SQL statement of the strategy service."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service.models import Level, Objective
from shared.pagination import Page, PageRequest, paginate


async def objectives_page(
    session: AsyncSession, page: PageRequest, *, level: Level | None, parent_id: uuid.UUID | None
) -> Page[Objective]:
    statement = select(Objective)
    if level is not None:
        statement = statement.where(col(Objective.level) == level)
    if parent_id is not None:
        statement = statement.where(col(Objective.parent_id) == parent_id)
    order = (col(Objective.created_at), col(Objective.id))
    return await paginate(session, statement, order, page, lambda objective: objective)
