"""HTTP route of publishing: ``POST /v1/hr-indicators/publish``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.talent_service.config import TalentSettingsDep
from services.talent_service.publishing import service
from services.talent_service.publishing.schemas import HrPublishRequest, HrPublishResult
from shared.auth import Principal, RequireScope, Scope
from shared.clients import KpiClientDep
from shared.db import SessionDep
from shared.errors import problem_response_object, problem_responses

router = APIRouter(prefix="/v1")
Writer = Annotated[Principal, RequireScope(Scope.talent_write)]


@router.post(
    "/hr-indicators/publish",
    tags=["hr-indicators"],
    response_model=HrPublishResult,
    responses={
        **problem_responses(502, 504),
        409: {**problem_response_object(409), "description": "Another publish is running; retry when it ends."},
        503: {
            **problem_response_object(503),
            "description": "The KPI service (`source: kpi`) or the database is unavailable; retry after `Retry-After`.",
        },
    },
    summary="Publish the HR indicators of every active unit to the KPI service as `hr.*` KPIs, per month.",
)
async def publish_hr_indicators(
    session: SessionDep,
    settings: TalentSettingsDep,
    kpi: KpiClientDep,
    _: Writer,
    body: Annotated[HrPublishRequest | None, Body()] = None,
) -> HrPublishResult:
    return await service.publish_now(session, kpi, settings, body or HrPublishRequest())
