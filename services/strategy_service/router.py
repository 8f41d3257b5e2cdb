"""HTTP routes of the strategy service: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.strategy_service import service
from services.strategy_service.models import Level
from services.strategy_service.schemas import ObjectivePublic
from shared.auth import RequireScope, Scope
from shared.db import SessionDep
from shared.pagination import Page, PageParams

router = APIRouter(prefix="/v1")


@router.get(
    "/objectives",
    dependencies=[RequireScope(Scope.strategy_read)],
    tags=["objectives"],
    response_model=Page[ObjectivePublic],
    summary="List objectives.",
)
async def list_objectives(
    session: SessionDep,
    page: PageParams,
    level: Annotated[Level | None, Query(description="Only objectives at this level.")] = None,
    parent_id: Annotated[uuid.UUID | None, Query(description="Only objectives aligned to this one.")] = None,
) -> Page[ObjectivePublic]:
    return await service.list_objectives(session, page, level=level, parent_id=parent_id)
