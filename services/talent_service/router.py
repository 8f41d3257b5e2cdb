"""HTTP routes of the talent service. Thin: validation and wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col

from services.talent_service import repository
from services.talent_service.models import OrgUnit, OrgUnitKind
from services.talent_service.schemas import OrgUnitPublic
from shared.auth import RequireScope, Scope
from shared.db import SessionDep
from shared.pagination import Page, PageParams, paginate

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
    statement = repository.org_units_query(kind=kind, parent_id=parent_id)
    return await paginate(
        session,
        statement,
        (col(OrgUnit.created_at), col(OrgUnit.id)),
        page,
        OrgUnitPublic.model_validate,
    )
