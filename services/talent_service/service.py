"""The talent service's rules. Every route calls one function here."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository
from services.talent_service.models import OrgUnitKind
from services.talent_service.schemas import OrgUnitPublic
from shared.pagination import Page, PageRequest


async def list_org_units(
    session: AsyncSession, page: PageRequest, *, kind: OrgUnitKind | None = None, parent_id: uuid.UUID | None = None
) -> Page[OrgUnitPublic]:
    """Org units of ``kind`` and/or under ``parent_id``, oldest first."""
    rows = await repository.org_units_page(session, page, kind=kind, parent_id=parent_id)
    return Page[OrgUnitPublic](
        items=[OrgUnitPublic.model_validate(u) for u in rows.items], next_cursor=rows.next_cursor
    )
