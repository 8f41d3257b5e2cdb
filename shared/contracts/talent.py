"""Wire contracts of the talent service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.schemas import PublicModel

OrgUnitKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    Field(
        description="A slug that composes into KPI keys (`hr.turnover_rate.<key>`); never changes.", examples=["sales"]
    ),
]


class OrgUnitKind(StrEnum):
    """Ranked company > department > team: a unit's kind ranks at or below its parent's."""

    company = "company"
    department = "department"
    team = "team"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {OrgUnitKind.company: 0, OrgUnitKind.department: 1, OrgUnitKind.team: 2}


class SeparationReason(StrEnum):
    voluntary = "voluntary"
    involuntary = "involuntary"
    retirement = "retirement"
    other = "other"


class OrgUnitPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    kind: OrgUnitKind
    parent_id: uuid.UUID | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class InternalCandidate(PublicModel):
    """Someone employed outside the unit who already meets a required level: a mobility lead."""

    person_id: uuid.UUID
    name: str
    org_unit_id: uuid.UUID = Field(description="Where the person works today.")
    level: int = Field(ge=0, le=5)


class SkillShortfall(PublicModel):
    """One requirement of the unit's subtree not met by enough members."""

    org_unit_id: uuid.UUID = Field(description="The unit that states the requirement (the unit or a descendant).")
    skill: str = Field(description="The skill's key.")
    level: int = Field(ge=0, le=5, description="Minimum level required.")
    required: int = Field(ge=1, description="How many people should hold it.")
    meeting: int = Field(ge=0, description="Members of the requiring unit at or above the level (capped at required).")
    missing: int = Field(ge=1, description="`required - meeting`.")
    candidates: list[InternalCandidate] = Field(
        default_factory=list, description="People employed elsewhere who meet the level, best first, at most 10."
    )


class OrgUnitHealth(PublicModel):
    """A unit's talent situation today, over its whole subtree (DESIGN §9 definitions)."""

    org_unit_id: uuid.UUID
    org_unit_key: str
    on: dt.date = Field(description="The organisation's today: the figures hold at its close.")
    headcount: int = Field(ge=0, description="Members at the close of today.")
    average_headcount: float | None = Field(description="Over the last 365 days; null when 0.")
    separations: int = Field(ge=0, description="Over the last 365 days.")
    turnover_rate: float | None = Field(description="Separations ÷ average headcount, last 365 days.")
    voluntary_turnover_rate: float | None = Field(
        description="Voluntary separations ÷ average headcount, last 365 days."
    )
    skill_coverage: float | None = Field(description="At the close of today; null without requirements.")
    open_gaps: int = Field(ge=0, description="Requirements of the subtree not fully met.")
    shortfalls: list[SkillShortfall] = Field(description="Each requirement not fully met, most missing first.")
    enps: float | None = Field(description="Latest ended survey over the subtree; null when none or suppressed.")
    enps_survey: str | None = Field(description="Key of the survey `enps` comes from, when one has ended.")
    enps_suppressed: bool = Field(
        description="True when that survey's figure is hidden (fewer than 5, or by difference)."
    )


class OrgUnitHealthList(PublicModel):
    items: list[OrgUnitHealth]
    unknown: list[str] = Field(description="Requested ids or keys that name no org unit.")
