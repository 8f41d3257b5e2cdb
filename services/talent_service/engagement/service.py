"""The rules of engagement surveys. Every engagement route calls one function here, and so do the
HR indicators (``engagement``) and the org-unit health (``latest_enps``).

Results are computed from per-unit tallies (counts and sums), never from individual answers, and
suppressed twice over (DESIGN §9, ``services.talent_service.suppression``): a figure shows only with
at least 5 responses and where its parent's breakdown shows it, recursively up the tree, so that
no hidden figure can be recovered by subtracting visible ones. Satisfaction, being optional, is
suppressed the same way over the responses that answered it.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.engagement import repository
from services.talent_service.engagement.models import EngagementSurvey
from services.talent_service.engagement.schemas import EngagementSurveyCreate, EngagementSurveyPublic
from services.talent_service.models import IdempotencyRecord
from shared.errors import Conflict, FieldError, NotFound
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.pagination import Page, PageRequest

# ---------------------------------------------------------------- surveys


async def create_survey(
    session: AsyncSession, body: EngagementSurveyCreate, idempotency: IdempotentRequest
) -> Answer[EngagementSurveyPublic]:
    """Create a survey (201 with ``Location``); a retry with the same ``Idempotency-Key`` gets the
    first answer again; a key already taken is 409."""

    async def create() -> Answer[EngagementSurveyPublic]:
        if await repository.survey_key_exists(session, body.key):
            raise Conflict(
                f"An engagement survey with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        survey = EngagementSurvey(**body.model_dump())
        session.add(survey)
        await session.flush()
        await session.refresh(survey)
        headers = {"Location": f"/v1/engagement-surveys/{survey.key}"}
        return Answer(EngagementSurveyPublic.model_validate(survey), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, EngagementSurveyPublic, idempotency, create)


async def list_surveys(session: AsyncSession, page: PageRequest) -> Page[EngagementSurveyPublic]:
    """Every survey, oldest created first."""
    rows = await repository.surveys_page(session, page)
    return Page[EngagementSurveyPublic](
        items=[EngagementSurveyPublic.model_validate(s) for s in rows.items], next_cursor=rows.next_cursor
    )


async def get_survey(session: AsyncSession, id_or_key: str, *, for_share: bool = False) -> EngagementSurvey:
    survey = await repository.get_survey(session, id_or_key, for_share=for_share)
    if survey is None:
        raise NotFound(f"No engagement survey {id_or_key!r}.")
    return survey


async def read_survey(session: AsyncSession, id_or_key: str) -> EngagementSurveyPublic:
    return EngagementSurveyPublic.model_validate(await get_survey(session, id_or_key))
