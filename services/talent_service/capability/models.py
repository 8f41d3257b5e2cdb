"""Tables of the capability side of the ``talent`` schema."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
)
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.models import created_at_field, enum_field, id_field, one_of, updated_at_field

SKILL_KEY_PATTERN = r"^[a-z][a-z0-9_.-]{0,63}$"
TRAINING_KEY_PATTERN = SKILL_KEY_PATTERN


class AssessmentSource(StrEnum):
    self = "self"
    manager = "manager"
    certification = "certification"


class EnrolmentStatus(StrEnum):
    enrolled = "enrolled"
    completed = "completed"
    dropped = "dropped"


class Skill(SQLModel, table=True):
    __tablename__ = "skills"
    __table_args__ = (CheckConstraint(f"key ~ '{SKILL_KEY_PATTERN}'", name="key_slug"), {"schema": SCHEMA})

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(64), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    category: str | None = Field(default=None, sa_type=String(100))
    created_at: dt.datetime = created_at_field()


class SkillAssessment(SQLModel, table=True):
    """A person's level in a skill from ``assessed_on`` on (until a later assessment)."""

    __tablename__ = "skill_assessments"
    __table_args__ = (
        one_of("source", AssessmentSource),
        CheckConstraint("level BETWEEN 0 AND 5", name="level_range"),
        Index("ix_skill_assessments_person_id_skill_id_assessed_on", "person_id", "skill_id", "assessed_on"),
        Index("ix_skill_assessments_skill_id_assessed_on", "skill_id", "assessed_on"),
        {"schema": SCHEMA},
    )

    # A sequence orders the assessments of one day: "latest" ties go to the later created.
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    person_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.people.id", ondelete="CASCADE"), nullable=False)
    )
    skill_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.skills.id", ondelete="RESTRICT"), nullable=False)
    )
    level: int = Field(sa_type=SmallInteger, nullable=False)
    assessed_on: dt.date = Field(sa_type=Date, nullable=False)
    source: AssessmentSource = enum_field(AssessmentSource, 16)
    created_at: dt.datetime = created_at_field()


class RequiredSkillList(SQLModel, table=True):
    """The version of a unit's list of required skills (its ETag), replaced as a whole."""

    __tablename__ = "required_skill_lists"
    __table_args__ = ({"schema": SCHEMA},)

    org_unit_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="CASCADE"), primary_key=True)
    )
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    updated_at: dt.datetime = updated_at_field()


class RequiredSkill(SQLModel, table=True):
    """The unit (its whole subtree) needs ``count`` people at ``level`` or above in the skill."""

    __tablename__ = "required_skills"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        CheckConstraint("count >= 1", name="count_positive"),
        Index("ix_required_skills_skill_id", "skill_id"),
        {"schema": SCHEMA},
    )

    org_unit_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="CASCADE"), primary_key=True)
    )
    skill_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.skills.id", ondelete="RESTRICT"), primary_key=True)
    )
    level: int = Field(sa_type=SmallInteger, nullable=False)
    count: int = Field(sa_type=Integer, nullable=False)
    position: int = Field(sa_type=SmallInteger, nullable=False, description="Order of the list as sent.")


class Training(SQLModel, table=True):
    __tablename__ = "trainings"
    __table_args__ = (
        CheckConstraint(f"key ~ '{TRAINING_KEY_PATTERN}'", name="key_slug"),
        CheckConstraint("hours IS NULL OR hours > 0", name="hours_positive"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(64), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    hours: float | None = Field(default=None, sa_type=Double)
    created_at: dt.datetime = created_at_field()


class TrainingSkill(SQLModel, table=True):
    """A skill the training develops."""

    __tablename__ = "training_skills"
    __table_args__ = (Index("ix_training_skills_skill_id", "skill_id"), {"schema": SCHEMA})

    training_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.trainings.id", ondelete="CASCADE"), primary_key=True)
    )
    skill_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.skills.id", ondelete="RESTRICT"), primary_key=True)
    )
    position: int = Field(sa_type=SmallInteger, nullable=False)


class Enrolment(SQLModel, table=True):
    __tablename__ = "enrolments"
    __table_args__ = (
        one_of("status", EnrolmentStatus),
        CheckConstraint("(status = 'completed') = (completed_on IS NOT NULL)", name="completed_with_date"),
        CheckConstraint("completed_on IS NULL OR completed_on >= enrolled_on", name="completed_after_enrolment"),
        CheckConstraint("score IS NULL OR status = 'completed'", name="score_when_completed"),
        Index("ix_enrolments_person_id_enrolled_on", "person_id", "enrolled_on"),
        Index("ix_enrolments_training_id_created_at", "training_id", "created_at"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    training_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.trainings.id", ondelete="RESTRICT"), nullable=False)
    )
    person_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.people.id", ondelete="CASCADE"), nullable=False)
    )
    enrolled_on: dt.date = Field(sa_type=Date, nullable=False)
    status: EnrolmentStatus = enum_field(EnrolmentStatus, 16, default=EnrolmentStatus.enrolled)
    completed_on: dt.date | None = Field(default=None, sa_type=Date)
    score: float | None = Field(default=None, sa_type=Double)
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()
