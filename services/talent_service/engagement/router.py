"""HTTP routes of engagement surveys: parameters in, models out. Every route calls ``service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from services.talent_service.engagement import service
from services.talent_service.engagement.schemas import EngagementSurveyCreate, EngagementSurveyPublic
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
