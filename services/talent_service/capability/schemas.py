"""Wire models of the capability side; what other services read is in :mod:`shared.contracts.talent`."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from services.talent_service.capability.models import SKILL_KEY_PATTERN, AssessmentSource, EnrolmentStatus
from shared.contracts.talent import InternalCandidate
from shared.schemas import CalendarDay, PublicModel, StrictModel

__all__ = [
    "AssessmentSource",
    "EnrolmentCreate",
    "EnrolmentPublic",
    "EnrolmentStatus",
    "EnrolmentUpdate",
    "GapMember",
    "PersonSkill",
    "PersonSkills",
    "RequiredSkillIn",
    "RequiredSkills",
    "RequiredSkillsIn",
    "SkillAssessmentCreate",
    "SkillAssessmentPublic",
    "SkillAssessments",
    "SkillCreate",
    "SkillGap",
    "SkillGaps",
    "SkillPublic",
    "TrainingCreate",
    "TrainingPublic",
    "TrainingRef",
]

_UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _not_an_id(key: str) -> str:
    """Paths take an id or a key: a key shaped like an id could never be reached by key."""
    if _UUID_SHAPE.match(key):
        raise ValueError("a key cannot have the shape of a UUID")
    return key


SkillKey = Annotated[
    str,
    StringConstraints(pattern=SKILL_KEY_PATTERN),
    AfterValidator(_not_an_id),
    Field(description="A slug: lowercase letters, digits, `_`, `.` or `-`; never changes.", examples=["sql"]),
]
Level = Annotated[int, Field(ge=0, le=5, description="0 (none) to 5 (expert).")]
RequiredLevel = Annotated[int, Field(ge=1, le=5, description="Minimum level, 1 to 5.")]
MAX_REQUIRED_SKILLS = 200
MAX_TRAINING_SKILLS = 50


class SkillCreate(StrictModel):
    key: SkillKey
    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=100)


class SkillPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    category: str | None
    created_at: dt.datetime


class SkillAssessmentCreate(StrictModel):
    skill: str = Field(min_length=1, max_length=64, description="The skill's key.")
    level: Level
    assessed_on: CalendarDay = Field(description="Not before the person's hire date.")
    source: AssessmentSource


class SkillAssessmentPublic(PublicModel):
    id: int
    person_id: uuid.UUID
    skill: str
    level: int
    assessed_on: dt.date
    source: AssessmentSource
    created_at: dt.datetime


class SkillAssessments(BaseModel):
    items: list[SkillAssessmentPublic] = Field(description="Oldest first; within a day, in recording order.")


class PersonSkill(BaseModel):
    """The person's level in one skill on the day: their latest assessment on or before it."""

    skill: str
    name: str
    level: int
    assessed_on: dt.date
    source: AssessmentSource


class PersonSkills(BaseModel):
    person_id: uuid.UUID
    on: dt.date
    items: list[PersonSkill] = Field(description="One per skill ever assessed on or before `on`, by skill key.")


class RequiredSkillIn(StrictModel):
    skill: str = Field(min_length=1, max_length=64, description="The skill's key.")
    level: RequiredLevel
    count: int = Field(ge=1, le=100_000, description="How many people of the unit's subtree should hold it.")


class RequiredSkillsIn(StrictModel):
    items: list[RequiredSkillIn] = Field(
        max_length=MAX_REQUIRED_SKILLS, description="The whole list (replaces the previous one); one per skill."
    )


class RequiredSkillOut(BaseModel):
    skill: str
    name: str
    level: int
    count: int


class RequiredSkills(BaseModel):
    org_unit_id: uuid.UUID
    org_unit_key: str
    items: list[RequiredSkillOut] = Field(description="In the order they were sent.")


class GapMember(BaseModel):
    """A member of the requiring unit's subtree below the required level."""

    person_id: uuid.UUID
    name: str
    level: int


class TrainingRef(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    hours: float | None


class SkillGap(BaseModel):
    """One requirement of a unit of the subtree, against the members of that unit's own subtree."""

    org_unit_id: uuid.UUID = Field(description="The unit that states the requirement.")
    org_unit_key: str
    skill: str
    level: int
    required: int
    meeting: int = Field(description="Members at or above the level, capped at `required`.")
    missing: int = Field(description="`required - meeting`.")
    below: list[GapMember] = Field(description="Members below the level, highest level first.")
    trainings: list[TrainingRef] = Field(description="Trainings that develop the skill, by key.")
    candidates: list[InternalCandidate] = Field(
        description="People employed outside the requiring unit's subtree at or above the level: highest level, "
        "then latest assessment, first; at most 10."
    )


class SkillGaps(BaseModel):
    org_unit_id: uuid.UUID
    org_unit_key: str
    on: dt.date = Field(description="Members and levels are those at the close of this day.")
    skill_coverage: float | None = Field(description="DESIGN §9 at the close of `on`; null without requirements.")
    items: list[SkillGap] = Field(description="Every requirement of the subtree, most missing first.")


class TrainingCreate(StrictModel):
    key: SkillKey
    name: str = Field(min_length=1, max_length=200)
    skills: list[str] = Field(
        min_length=1, max_length=MAX_TRAINING_SKILLS, description="Keys of the skills it develops."
    )
    hours: float | None = Field(default=None, gt=0, le=10_000)


class TrainingPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    skills: list[str]
    hours: float | None
    created_at: dt.datetime


class EnrolmentCreate(StrictModel):
    person_id: uuid.UUID
    enrolled_on: CalendarDay = Field(description="A day the person is employed.")


class EnrolmentUpdate(StrictModel):
    """Only `enrolled` → `completed` (with `completed_on`, default today) or → `dropped`."""

    status: EnrolmentStatus
    completed_on: CalendarDay | None = Field(
        default=None, description="With `completed`: on or after `enrolled_on`, not after today (default today)."
    )
    score: float | None = Field(default=None, ge=0, le=100, description="With `completed` only: 0 to 100.")


class EnrolmentPublic(PublicModel):
    id: uuid.UUID
    training_id: uuid.UUID
    training: str = Field(description="The training's key.")
    person_id: uuid.UUID
    enrolled_on: dt.date
    status: EnrolmentStatus
    completed_on: dt.date | None
    score: float | None
    created_at: dt.datetime
    updated_at: dt.datetime
