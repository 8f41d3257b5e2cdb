"""HTTP routes of the talent service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.talent_service import service
from services.talent_service.models import OrgUnitKind
from services.talent_service.schemas import OrgUnitPublic
from shared.auth import RequireScope, Scope
from shared.db import SessionDep
from shared.pagination import Page, PageParams

router = APIRouter(prefix="/v1")


@router.get(
    "/org-units",
    dependencies=[RequireScope(Scope.talent_read)],
    tags=["org-units"],
    response_model=Page[OrgUnitPublic],
    summary="List org units.",
)
async def list_org_units(
    session: SessionDep,
    page: PageParams,
    kind: Annotated[OrgUnitKind | None, Query(description="Only units of this kind.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only the children of this unit.")] = None,
) -> Page[OrgUnitPublic]:
    return await service.list_org_units(session, page, kind=kind, parent_id=parent_id)
