"""HTTP routes of the strategy service. Thin: validation and wiring only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col

from services.strategy_service import repository
from services.strategy_service.models import Level, Objective
from services.strategy_service.schemas import ObjectivePublic
from shared.auth import RequireScope, Scope
from shared.db import SessionDep
from shared.pagination import Page, PageParams, paginate

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
    statement = repository.objectives_query(level=level, parent_id=parent_id)
    return await paginate(
        session,
        statement,
        (col(Objective.created_at), col(Objective.id)),
        page,
        ObjectivePublic.model_validate,
    )
