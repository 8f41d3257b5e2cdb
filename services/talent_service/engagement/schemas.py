"""Wire models of engagement surveys. No model carries an individual answer out."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from services.talent_service.engagement.models import SURVEY_KEY_PATTERN
from shared.schemas import CalendarDay, PublicModel, StrictModel

SurveyKey = Annotated[
    str,
    StringConstraints(pattern=SURVEY_KEY_PATTERN),
    Field(description="A slug naming the survey; unique, never changes.", examples=["pulse_2026_q1"]),
]


class EngagementSurveyCreate(StrictModel):
    key: SurveyKey
    name: str = Field(min_length=1, max_length=200)
    period_start: CalendarDay = Field(description="First day of the survey (inclusive).")
    period_end: CalendarDay = Field(description="Last day of the survey (inclusive); not before `period_start`.")

    @field_validator("period_end")
    @classmethod
    def _not_before_start(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("period_start")
        if start is not None and value < start:
            raise ValueError("`period_end` is before `period_start`")
        return value


class EngagementSurveyPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    period_start: dt.date
    period_end: dt.date
    created_at: dt.datetime


class EngagementResponseIn(StrictModel):
    """One anonymous answer: the respondent's unit and answers, never who they are."""

    org_unit_id: uuid.UUID = Field(description="The respondent's org unit (not archived).")
    enps: int = Field(ge=0, le=10, description="How likely to recommend the company as a workplace, 0-10.")
    satisfaction: int | None = Field(default=None, ge=1, le=5, description="Satisfaction 1-5, optional.")


class EngagementResponseBatch(StrictModel):
    """Up to 1 000 anonymous responses to one survey."""

    # No maxItems: a longer batch is answered 413 (too large), not 422, and the schema says so in words.
    responses: list[EngagementResponseIn] = Field(
        description="Up to 1 000 responses; a longer batch is refused with 413."
    )


class EngagementRecorded(BaseModel):
    recorded: int = Field(description="How many responses this batch added.")


class EngagementBreakdown(StrEnum):
    children = "children"


class EngagementFigure(BaseModel):
    """Results over a unit's whole subtree (or, for a `direct` part, its own direct members).
    `enps` and `satisfaction` are null and `suppressed` true below 5 responses or when suppressed
    by difference (DESIGN §9); `satisfaction` alone is also null when fewer than 5 responses
    answered it (or when, by difference, those answers could be isolated)."""

    org_unit_id: uuid.UUID
    org_unit_key: str
    responses: int = Field(ge=0, description="Responses from the unit's subtree (a direct part: the unit itself).")
    enps: float | None = Field(description="100 * (share answering 9-10 - share answering 0-6).")
    satisfaction: float | None = Field(description="Mean of the satisfaction answers given.")
    suppressed: bool


class EngagementPart(EngagementFigure):
    direct: bool = Field(description="True for the part standing for the unit's own direct members.")


class EngagementResults(EngagementFigure):
    """A survey's results for a unit; with `breakdown=children`, `parts` holds one per child unit
    (its subtree) and one for the unit's own direct members (`direct: true`)."""

    parts: list[EngagementPart] | None = Field(
        default=None, description="Only with `breakdown=children`: children by key, then the direct members."
    )
