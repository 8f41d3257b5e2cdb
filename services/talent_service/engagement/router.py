"""HTTP routes of engagement surveys: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.talent_service.engagement import service
from services.talent_service.engagement.schemas import (
    EngagementBreakdown,
    EngagementRecorded,
    EngagementResults,
    EngagementSurveyCreate,
    EngagementSurveyPublic,
)
from shared.auth import Principal, RequireScope, Scope
from shared.db import SessionDep
from shared.errors import problem_responses, response_headers
from shared.idempotency import Idempotency
from shared.pagination import Page, PageParams

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, RequireScope(Scope.talent_read)]
Writer = Annotated[Principal, RequireScope(Scope.talent_write)]
SurveyIdOrKey = Annotated[str, Path(max_length=64, description="The survey's id (hyphenated UUID) or key.")]
TAG = "engagement-surveys"


@router.get(
    "/engagement-surveys",
    tags=[TAG],
    response_model=Page[EngagementSurveyPublic],
    summary="List engagement surveys, oldest created first.",
)
async def list_engagement_surveys(session: SessionDep, page: PageParams, _: Reader) -> Page[EngagementSurveyPublic]:
    return await service.list_surveys(session, page)


@router.post(
    "/engagement-surveys",
    tags=[TAG],
    status_code=status.HTTP_201_CREATED,
    response_model=EngagementSurveyPublic,
    responses={201: {"headers": response_headers("Location")}, **problem_responses(409)},
    summary="Create an engagement survey over a period (retry safely with Idempotency-Key).",
)
async def create_engagement_survey(
    body: EngagementSurveyCreate, session: SessionDep, idempotency: Idempotency, response: Response, _: Writer
) -> EngagementSurveyPublic:
    return (await service.create_survey(session, body, idempotency)).send(response)


@router.get(
    "/engagement-surveys/{id_or_key}",
    tags=[TAG],
    response_model=EngagementSurveyPublic,
    responses=problem_responses(404),
    summary="One engagement survey.",
)
async def get_engagement_survey(id_or_key: SurveyIdOrKey, session: SessionDep, _: Reader) -> EngagementSurveyPublic:
    return await service.read_survey(session, id_or_key)


@router.post(
    "/engagement-surveys/{id_or_key}/responses",
    tags=[TAG],
    response_model=EngagementRecorded,
    responses=problem_responses(400, 404, 413),
    summary="Add up to 1 000 anonymous responses: all or nothing, each bad item by pointer; "
    "retry safely with Idempotency-Key.",
    description="Each response holds the respondent's org unit, an eNPS answer 0-10 and an optional "
    "satisfaction 1-5; nothing else is stored (no person, no time). More than 1 000 responses: 413. "
    "A batch sent again with the same `Idempotency-Key` gets the first answer and adds nothing.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EngagementResponseBatch"}}},
        }
    },
)
async def record_engagement_responses(
    id_or_key: SurveyIdOrKey, request: Request, session: SessionDep, idempotency: Idempotency, _: Writer
) -> EngagementRecorded:
    # Parsed by the service itself, item by item, so that every bad item is reported by its pointer.
    return (await service.record_responses(session, id_or_key, await request.body(), idempotency)).body


@router.get(
    "/engagement-surveys/{id_or_key}/results",
    tags=[TAG],
    response_model=EngagementResults,
    response_model_exclude_unset=True,
    responses=problem_responses(404),
    summary="A survey's results over a unit's subtree, suppressed below 5 responses and by difference.",
    description="eNPS = 100 * (share answering 9-10 - share answering 0-6); satisfaction = mean of the "
    "answers given. With `breakdown=children`, `parts` holds one figure per child unit (its subtree) and "
    "one for the unit's own direct members (`direct: true`). A figure of fewer than 5 responses, or one "
    "that could be recovered by subtracting visible figures (DESIGN §9), has `enps` and `satisfaction` "
    "null and `suppressed: true`; a unit gets the same answer asked alone or in its parent's breakdown. "
    "No individual answer is ever returned.",
)
async def get_engagement_results(
    id_or_key: SurveyIdOrKey,
    session: SessionDep,
    _: Reader,
    org_unit: Annotated[str, Query(max_length=40, description="The unit (id or key): its whole subtree.")],
    breakdown: Annotated[EngagementBreakdown | None, Query(description="`children`: add `parts`.")] = None,
) -> EngagementResults:
    return await service.survey_results(session, id_or_key, org_unit, breakdown)
