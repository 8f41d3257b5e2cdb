"""The strategy service's rules. Every route calls one function here."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service import repository
from services.strategy_service.models import Level
from services.strategy_service.schemas import ObjectivePublic
from shared.pagination import Page, PageRequest


async def list_objectives(
    session: AsyncSession, page: PageRequest, *, level: Level | None = None, parent_id: uuid.UUID | None = None
) -> Page[ObjectivePublic]:
    """Objectives at ``level`` and/or aligned to ``parent_id``, oldest first."""
    rows = await repository.objectives_page(session, page, level=level, parent_id=parent_id)
    return Page[ObjectivePublic](
        items=[ObjectivePublic.model_validate(o) for o in rows.items], next_cursor=rows.next_cursor
    )
