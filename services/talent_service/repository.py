"""Every SQL statement of the talent service."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.models import OrgUnit, OrgUnitKind
from shared.pagination import Page, PageRequest, paginate


async def org_units_page(
    session: AsyncSession, page: PageRequest, *, kind: OrgUnitKind | None, parent_id: uuid.UUID | None
) -> Page[OrgUnit]:
    statement = select(OrgUnit)
    if kind is not None:
        statement = statement.where(col(OrgUnit.kind) == kind)
    if parent_id is not None:
        statement = statement.where(col(OrgUnit.parent_id) == parent_id)
    order = (col(OrgUnit.created_at), col(OrgUnit.id))
    return await paginate(session, statement, order, page, lambda unit: unit)
