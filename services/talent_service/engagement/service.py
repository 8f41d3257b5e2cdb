"""The rules of engagement surveys. Every engagement route calls one function here, and so do the
HR indicators (``engagement``) and the org-unit health (``latest_enps``).

Results are computed from per-unit tallies (counts and sums), never from individual answers, and
suppressed twice over (DESIGN §9, ``services.talent_service.suppression``): a figure shows only with
at least 5 responses and where its parent's breakdown shows it, recursively up the tree, so that
no hidden figure can be recovered by subtracting visible ones. Satisfaction, being optional, is
suppressed the same way over the responses that answered it.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository as talent_repository
from services.talent_service.engagement import repository
from services.talent_service.engagement.models import EngagementSurvey
from services.talent_service.engagement.schemas import (
    EngagementRecorded,
    EngagementResponseIn,
    EngagementSurveyCreate,
    EngagementSurveyPublic,
)
from services.talent_service.models import IdempotencyRecord
from shared.errors import (
    MAX_REPORTED_ERRORS,
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PayloadTooLarge,
    UnprocessableContent,
    field_errors_from_validation,
)
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.pagination import Page, PageRequest

MAX_BATCH_RESPONSES = 1_000

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


# ---------------------------------------------------------------- responses


def _batch_items(body: bytes) -> list[Any]:
    """The ``responses`` array of a batch body, or a 400/413/422 saying what is wrong with its shape."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict) or set(document) != {"responses"} or not isinstance(document["responses"], list):
        raise UnprocessableContent(
            "The body must be an object with one member, `responses`, an array of responses.",
            errors=[FieldError(pointer="/responses", message="Expected an array of responses.", code="type")],
        )
    items: list[Any] = document["responses"]
    if len(items) > MAX_BATCH_RESPONSES:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH_RESPONSES} responses; this one has {len(items)}.")
    return items


def _item_errors(index: int, error: ValidationError) -> list[FieldError]:
    located = [{**e, "loc": ("body", "responses", index, *e["loc"])} for e in error.errors(include_input=False)]
    return field_errors_from_validation(located)


async def record_responses(
    session: AsyncSession, id_or_key: str, body: bytes, idempotency: IdempotentRequest
) -> Answer[EngagementRecorded]:
    """Add up to 1 000 anonymous responses to a survey: all or nothing, every bad item reported by
    pointer (``/responses/3/org_unit_id``). A batch sent again with the same ``Idempotency-Key``
    gets the first answer and adds nothing; without one, a batch sent twice counts twice (responses
    have no identity to match them by)."""

    async def record() -> Answer[EngagementRecorded]:
        survey = await get_survey(session, id_or_key, for_share=True)
        raw = _batch_items(body)
        errors: list[FieldError] = []
        items: dict[int, EngagementResponseIn] = {}
        for index, item in enumerate(raw):
            try:
                items[index] = EngagementResponseIn.model_validate(item)
            except ValidationError as exc:
                errors += _item_errors(index, exc)
        units = await talent_repository.org_units_by_id(session, [item.org_unit_id for item in items.values()])
        for index, item in items.items():
            unit = units.get(item.org_unit_id)
            if unit is None or unit.archived_at is not None:
                message = "No such org unit." if unit is None else "The unit is archived."
                errors.append(
                    FieldError(
                        pointer=f"/responses/{index}/org_unit_id",
                        message=message,
                        code="unknown" if unit is None else "archived",
                    )
                )
        if errors:
            raise UnprocessableContent(
                f"Nothing was recorded: {len(errors)} problem(s) in the batch.",
                errors=errors[:MAX_REPORTED_ERRORS],
                error_count=len(errors),
            )
        answers = [(item.org_unit_id, item.enps, item.satisfaction) for item in items.values()]
        await repository.add_responses(session, survey.id, answers)
        return Answer(EngagementRecorded(recorded=len(answers)), status_code=200)

    return await run_once(session, IdempotencyRecord, EngagementRecorded, idempotency, record)
