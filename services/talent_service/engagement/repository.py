"""Every SQL statement of engagement surveys."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.engagement.models import EngagementResponse, EngagementSurvey
from services.talent_service.repository import as_id, driver
from shared.pagination import Page, PageRequest, paginate


def _by_id_or_key(id_or_key: str) -> Any:
    survey_id = as_id(id_or_key)
    return col(EngagementSurvey.id) == survey_id if survey_id else col(EngagementSurvey.key) == id_or_key


async def get_survey(session: AsyncSession, id_or_key: str, *, for_share: bool = False) -> EngagementSurvey | None:
    statement = select(EngagementSurvey).where(_by_id_or_key(id_or_key))
    if for_share:
        statement = statement.with_for_update(read=True)
    return (await session.exec(statement)).first()


async def survey_key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(EngagementSurvey.key) == key)))).one())


async def surveys_page(session: AsyncSession, page: PageRequest) -> Page[EngagementSurvey]:
    order = (col(EngagementSurvey.created_at), col(EngagementSurvey.id))
    return await paginate(session, select(EngagementSurvey), order, page, lambda survey: survey)


async def add_responses(
    session: AsyncSession, survey: uuid.UUID, answers: Sequence[tuple[uuid.UUID, int, int | None]]
) -> None:
    """Insert ``(org unit, enps, satisfaction)`` answers in one statement, each with a random id."""
    if not answers:
        return
    rows = [
        {"id": uuid.uuid4(), "survey_id": survey, "org_unit_id": unit, "enps": enps, "satisfaction": satisfaction}
        for unit, enps, satisfaction in answers
    ]
    await session.exec(insert(EngagementResponse), params=rows)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a set of responses adds up to; the only thing ever read back from them."""

    responses: int = 0
    promoters: int = 0  # answering 9-10
    detractors: int = 0  # answering 0-6
    rated: int = 0  # answering satisfaction
    satisfaction_sum: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.responses + other.responses,
            self.promoters + other.promoters,
            self.detractors + other.detractors,
            self.rated + other.rated,
            self.satisfaction_sum + other.satisfaction_sum,
        )


_TALLIES = """
SELECT survey_id, org_unit_id,
       count(*) AS responses,
       count(*) FILTER (WHERE enps >= 9) AS promoters,
       count(*) FILTER (WHERE enps <= 6) AS detractors,
       count(satisfaction) AS rated,
       COALESCE(sum(satisfaction), 0) AS satisfaction_sum
FROM talent.engagement_responses
WHERE survey_id = ANY($1::uuid[])
GROUP BY survey_id, org_unit_id
"""


async def tallies(session: AsyncSession, surveys: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[uuid.UUID, Tally]]:
    """For each survey, each unit's own responses added up (units without any left out)."""
    found: dict[uuid.UUID, dict[uuid.UUID, Tally]] = {survey: {} for survey in surveys}
    if not surveys:
        return found
    connection = await driver(session)
    for row in await connection.fetch(_TALLIES, list(set(surveys))):
        found[row["survey_id"]][row["org_unit_id"]] = Tally(
            row["responses"], row["promoters"], row["detractors"], row["rated"], row["satisfaction_sum"]
        )
    return found


# The latest survey ("latest": greatest period end, ties to the later created) ending in each
# period, periods as two arrays of first and last days, numbered from 1.
_LATEST_ENDING = """
SELECT p.k, s.id
FROM unnest($1::date[], $2::date[]) WITH ORDINALITY AS p(a, b, k)
JOIN LATERAL (
    SELECT id FROM talent.engagement_surveys
    WHERE period_end BETWEEN p.a AND p.b
    ORDER BY period_end DESC, created_at DESC, id DESC
    LIMIT 1
) s ON true
"""


async def latest_surveys_ending(
    session: AsyncSession, periods: Sequence[tuple[dt.date, dt.date]]
) -> list[EngagementSurvey | None]:
    """For each ``(first day, last day)``, the latest survey whose period ends in it, or None."""
    connection = await driver(session)
    rows = await connection.fetch(_LATEST_ENDING, [a for a, _ in periods], [b for _, b in periods])
    chosen = {row["k"]: row["id"] for row in rows}
    surveys = await surveys_by_id(session, list(set(chosen.values())))
    return [surveys[chosen[k]] if k in chosen else None for k in range(1, len(periods) + 1)]


async def surveys_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, EngagementSurvey]:
    if not ids:
        return {}
    rows = await session.exec(select(EngagementSurvey).where(col(EngagementSurvey.id).in_(list(ids))))
    return {survey.id: survey for survey in rows.all()}


async def latest_ended_survey(session: AsyncSession, today: dt.date) -> EngagementSurvey | None:
    """The latest survey whose period has ended (its last day is before ``today``)."""
    statement = (
        select(EngagementSurvey)
        .where(col(EngagementSurvey.period_end) < today)
        .order_by(
            col(EngagementSurvey.period_end).desc(),
            col(EngagementSurvey.created_at).desc(),
            col(EngagementSurvey.id).desc(),
        )
        .limit(1)
    )
    return (await session.exec(statement)).first()
