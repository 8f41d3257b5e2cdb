"""The alignment views (DESIGN §8): HTTP only; :mod:`services.gateway.alignment` composes them.

Each needs ``strategy:read``; the KPI and talent parts need ``kpi:read`` / ``talent:read`` and are
otherwise left out and listed in ``missing`` with reason ``forbidden``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.gateway import alignment as service
from services.gateway.config import GatewaySettings
from services.gateway.runtime import GatewayRuntime
from services.gateway.schemas import AlignmentGaps, AlignmentOverview, ObjectiveAlignment, OrgUnitAlignment
from shared.auth import Principal, RequireScope, Scope
from shared.contracts.strategy import Level
from shared.errors import problem_responses
from shared.schemas import IsoDate

router = APIRouter(prefix="/v1/alignment", tags=["alignment"], responses=problem_responses(401, 403, 429, 503, 504))
Reader = Annotated[Principal, RequireScope(Scope.strategy_read)]
ActiveOn = Annotated[IsoDate | None, Query(description="The day whose active objectives count (default: today).")]


def _composer(request: Request, principal: Principal) -> service.Composer:
    runtime: GatewayRuntime = request.app.state.runtime
    settings: GatewaySettings = runtime.settings
    return service.Composer(settings, principal, *runtime.clients_for(principal))


@router.get(
    "/objectives/{objective_id}",
    response_model=ObjectiveAlignment,
    responses=problem_responses(404),
    summary="One objective lined up: its parents, key results with KPI status, owner unit's talent health, "
    "verdict and reasons.",
)
async def get_objective_alignment(
    objective_id: Annotated[uuid.UUID, Path()], request: Request, principal: Reader
) -> ObjectiveAlignment:
    return await service.objective_view(_composer(request, principal), objective_id)


@router.get(
    "/overview",
    response_model=AlignmentOverview,
    summary="Every objective active on a day, as trees, each with its own verdict and reasons.",
)
async def get_alignment_overview(
    request: Request,
    principal: Reader,
    active_on: ActiveOn = None,
    level: Annotated[Level | None, Query(description="Only the trees rooted at this level.")] = None,
) -> AlignmentOverview:
    return await service.overview(_composer(request, principal), active_on, level)


@router.get(
    "/org-units/{id_or_key}",
    response_model=OrgUnitAlignment,
    responses=problem_responses(404),
    summary="One org unit lined up: its objectives with verdicts, its KPIs with status, its HR indicators "
    "over the last 12 months and its skill gaps.",
)
async def get_org_unit_alignment(
    id_or_key: Annotated[str, Path(min_length=1, max_length=40, description="The unit's id or key.")],
    request: Request,
    principal: Reader,
) -> OrgUnitAlignment:
    return await service.org_unit_view(_composer(request, principal), id_or_key)


@router.get(
    "/gaps",
    response_model=AlignmentGaps,
    summary="What does not line up: orphan KPIs, unmeasured objectives, unknown owners, capability gaps "
    "(complete lists).",
)
async def get_alignment_gaps(request: Request, principal: Reader, active_on: ActiveOn = None) -> AlignmentGaps:
    return await service.gaps(_composer(request, principal), active_on)
