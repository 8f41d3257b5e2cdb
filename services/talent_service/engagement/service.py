"""The rules of engagement surveys. Every engagement route calls one function here, and so do the
HR indicators (``engagement``) and the org-unit health (``latest_enps``).

Results are computed from per-unit tallies (counts and sums), never from individual answers, and
suppressed twice over (DESIGN §9, ``services.talent_service.suppression``): a figure shows only with
at least 5 responses and where its parent's breakdown shows it, recursively up the tree, so that
no hidden figure can be recovered by subtracting visible ones. Satisfaction, being optional, is
suppressed the same way over the responses that answered it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository as talent_repository
from services.talent_service.engagement import repository
from services.talent_service.engagement.models import EngagementSurvey
from services.talent_service.engagement.repository import Tally
from services.talent_service.engagement.schemas import (
    EngagementBreakdown,
    EngagementPart,
    EngagementRecorded,
    EngagementResponseIn,
    EngagementResults,
    EngagementSurveyCreate,
    EngagementSurveyPublic,
)
from services.talent_service.models import IdempotencyRecord, OrgUnit
from services.talent_service.schemas import Engagement
from services.talent_service.suppression import Shown, shown_figures
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


# ---------------------------------------------------------------- results (DESIGN §9)


def _subtree_tallies(
    parents: Mapping[uuid.UUID, uuid.UUID | None], direct: Mapping[uuid.UUID, Tally]
) -> dict[uuid.UUID, Tally]:
    """Each unit's tally over its whole subtree."""
    totals = {unit: Tally() for unit in parents}
    for unit, own in direct.items():
        seen: set[uuid.UUID] = set()
        current: uuid.UUID | None = unit
        while current is not None and current in totals and current not in seen:  # a cycle cannot loop forever
            totals[current] += own
            seen.add(current)
            current = parents.get(current)
    return totals


@dataclass(frozen=True, slots=True)
class Figure:
    """A tally with what suppression lets show of it."""

    tally: Tally
    enps: float | None
    satisfaction: float | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class SurveyFigures:
    """One survey over the whole forest: each unit's own and subtree tallies, and what may be shown.
    eNPS (and the figure as a whole) is suppressed by the response counts; satisfaction, which a
    response may leave out, also by the counts of satisfaction answers, in the same way."""

    direct: Mapping[uuid.UUID, Tally]
    totals: Mapping[uuid.UUID, Tally]
    by_responses: Shown[uuid.UUID]
    by_ratings: Shown[uuid.UUID]

    @classmethod
    def of(cls, parents: Mapping[uuid.UUID, uuid.UUID | None], direct: Mapping[uuid.UUID, Tally]) -> SurveyFigures:
        direct = {unit: tally for unit, tally in direct.items() if unit in parents}
        return cls(
            direct=direct,
            totals=_subtree_tallies(parents, direct),
            by_responses=shown_figures(parents, {u: t.responses for u, t in direct.items()}),
            by_ratings=shown_figures(parents, {u: t.rated for u, t in direct.items()}),
        )

    def subtree(self, unit: uuid.UUID) -> Figure:
        """The unit's figure over its subtree, as shown alone or as a part of its parent's breakdown."""
        return _figure(self.totals.get(unit, Tally()), unit in self.by_responses.units, unit in self.by_ratings.units)

    def own(self, unit: uuid.UUID) -> Figure:
        """The figure of the unit's own direct members, as shown in the unit's breakdown."""
        return _figure(
            self.direct.get(unit, Tally()),
            unit in self.by_responses.direct_parts,
            unit in self.by_ratings.direct_parts,
        )


def _figure(tally: Tally, shown: bool, rated_shown: bool) -> Figure:
    if not shown:
        return Figure(tally, None, None, suppressed=True)
    enps = 100 * (tally.promoters - tally.detractors) / tally.responses
    satisfaction = tally.satisfaction_sum / tally.rated if rated_shown else None
    return Figure(tally, enps, satisfaction, suppressed=False)


async def survey_figures(session: AsyncSession, surveys: Sequence[uuid.UUID]) -> dict[uuid.UUID, SurveyFigures]:
    """The figures of each survey: two statements, whatever the number of surveys."""
    parents = await talent_repository.unit_parents(session)
    tallies = await repository.tallies(session, surveys)
    return {survey: SurveyFigures.of(parents, tallies[survey]) for survey in surveys}


async def _org_unit(session: AsyncSession, id_or_key: str) -> OrgUnit:
    unit = await talent_repository.get_org_unit(session, id_or_key)
    if unit is None:
        raise NotFound(
            f"No org unit {id_or_key!r}.",
            errors=[FieldError(location="query", parameter="org_unit", message="No such org unit.", code="unknown")],
        )
    return unit


def _fields(unit: OrgUnit, figure: Figure) -> dict[str, Any]:
    return {
        "org_unit_id": unit.id,
        "org_unit_key": unit.key,
        "responses": figure.tally.responses,
        "enps": figure.enps,
        "satisfaction": figure.satisfaction,
        "suppressed": figure.suppressed,
    }


async def survey_results(
    session: AsyncSession, id_or_key: str, org_unit: str, breakdown: EngagementBreakdown | None
) -> EngagementResults:
    """The survey's results over the unit's subtree; with ``breakdown=children``, one part per child
    (its subtree, children by key) and one for the unit's own direct members. Each figure is the
    one the unit gets everywhere: asked alone, in its parent's breakdown, or in the HR indicators."""
    survey = await get_survey(session, id_or_key)
    unit = await _org_unit(session, org_unit)
    figures = (await survey_figures(session, [survey.id]))[survey.id]
    results = EngagementResults.model_validate(_fields(unit, figures.subtree(unit.id)))
    if breakdown is EngagementBreakdown.children:
        children = [u for u in await talent_repository.subtree(session, unit.id) if u.parent_id == unit.id]
        results.parts = [
            *(EngagementPart.model_validate({**_fields(c, figures.subtree(c.id)), "direct": False}) for c in children),
            EngagementPart.model_validate({**_fields(unit, figures.own(unit.id)), "direct": True}),
        ]
    return results


# ---------------------------------------------------------------- readings for other parts of the service


def engagement(figures: SurveyFigures | None, unit: uuid.UUID) -> Engagement | None:
    """§9's ``engagement`` of the unit's subtree for one survey (None without a survey)."""
    if figures is None:
        return None
    figure = figures.subtree(unit)
    return Engagement(
        responses=figure.tally.responses,
        enps=figure.enps,
        satisfaction=figure.satisfaction,
        suppressed=figure.suppressed,
    )


async def engagement_over_periods(
    session: AsyncSession, unit: uuid.UUID, periods: Sequence[tuple[dt.date, dt.date]]
) -> list[Engagement | None]:
    """For each ``(first day, last day)``, the ``engagement`` of the HR indicators: the latest survey
    whose period ends in it, over the unit's subtree, suppressed as its results are (None when no
    survey ends in it). Three statements at most, whatever the number of periods."""
    surveys = await repository.latest_surveys_ending(session, periods)
    chosen = list({s.id for s in surveys if s is not None})
    figures = await survey_figures(session, chosen) if chosen else {}
    return [engagement(figures[s.id], unit) if s is not None else None for s in surveys]


@dataclass(frozen=True, slots=True)
class LatestEnps:
    """A unit's latest eNPS (§9): from the latest survey whose period has ended, over its subtree."""

    survey_key: str | None  # None when no survey has ended yet
    enps: float | None  # None when there is no such survey or its figure is suppressed
    suppressed: bool  # True when that survey's figure for the unit is hidden (fewer than 5, or by difference)


async def latest_enps(
    session: AsyncSession, unit_ids: Sequence[uuid.UUID], today: dt.date
) -> dict[uuid.UUID, LatestEnps]:
    """Each unit's latest eNPS: the latest survey (greatest ``period_end``, ties to the later
    created) whose period ended before ``today``, over the unit's subtree, null when suppressed —
    never an older survey instead. Three statements for any number of units."""
    survey = await repository.latest_ended_survey(session, today)
    if survey is None:
        return {unit: LatestEnps(None, None, suppressed=False) for unit in unit_ids}
    figures = (await survey_figures(session, [survey.id]))[survey.id]
    found = {}
    for unit in unit_ids:
        figure = figures.subtree(unit)
        found[unit] = LatestEnps(survey.key, figure.enps, figure.suppressed)
    return found
