"""Tables of engagement surveys, in the ``talent`` schema.

A response is anonymous by construction: it holds the respondent's org unit and the answers, and
nothing else — no person, no time (not even a creation time: the survey's period is the finest
time a response has), and a random id that carries no order.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Index, SmallInteger, String
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.models import created_at_field, id_field

SURVEY_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class EngagementSurvey(SQLModel, table=True):
    """A survey over ``[period_start, period_end]`` (both days included)."""

    __tablename__ = "engagement_surveys"
    __table_args__ = (
        CheckConstraint(f"key ~ '{SURVEY_KEY_PATTERN}'", name="key_slug"),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        Index("ix_engagement_surveys_period_end", "period_end"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(64), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    period_start: dt.date = Field(sa_type=Date, nullable=False)
    period_end: dt.date = Field(sa_type=Date, nullable=False)
    created_at: dt.datetime = created_at_field()


class EngagementResponse(SQLModel, table=True):
    """One anonymous answer to a survey: the respondent's unit, an eNPS answer 0-10 and an optional
    satisfaction 1-5. Deliberately no person id and no timestamp."""

    __tablename__ = "engagement_responses"
    __table_args__ = (
        CheckConstraint("enps BETWEEN 0 AND 10", name="enps_range"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
        Index("ix_engagement_responses_survey_id_org_unit_id", "survey_id", "org_unit_id"),
        Index("ix_engagement_responses_org_unit_id", "org_unit_id"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()  # random (uuid4): no insertion order can be read from it
    survey_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.engagement_surveys.id", ondelete="CASCADE"), nullable=False)
    )
    org_unit_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=False)
    )
    enps: int = Field(sa_type=SmallInteger, nullable=False)
    satisfaction: int | None = Field(default=None, sa_type=SmallInteger, nullable=True)
