"""Tables of the ``talent`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

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
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.contracts.talent import OrgUnitKind as OrgUnitKind
from shared.contracts.talent import SeparationReason as SeparationReason
from shared.idempotency import IdempotencyRecordBase
from shared.models import created_at_field, enum_field, id_field, one_of, timestamp_column, updated_at_field

ORG_UNIT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"
    __table_args__ = (
        one_of("kind", OrgUnitKind),
        CheckConstraint(f"key ~ '{ORG_UNIT_KEY_PATTERN}'", name="key_slug"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(40), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    kind: OrgUnitKind = enum_field(OrgUnitKind, 16)
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class IdempotencyRecord(IdempotencyRecordBase, table=True):
    """The first answer to each creating POST sent with an ``Idempotency-Key`` (see shared.idempotency)."""

    # Declared here rather than with ``idempotency_record_table``, whose class name and module are
    # the same for every schema: two services in one process would collide in SQLAlchemy's registry.
    __tablename__ = "idempotency_records"
    __table_args__ = ({"schema": SCHEMA},)


class Person(SQLModel, table=True):
    """Someone employed from ``hire_date`` to ``end_date`` (the last day employed) inclusive."""

    __tablename__ = "people"
    __table_args__ = (
        one_of("separation_reason", SeparationReason),
        CheckConstraint("end_date IS NULL OR end_date >= hire_date", name="employed_after_hire"),
        CheckConstraint("(end_date IS NULL) = (separation_reason IS NULL)", name="end_with_reason"),
        CheckConstraint("manager_id IS NULL OR manager_id <> id", name="not_own_manager"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    employee_number: str = Field(sa_type=String(64), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    email: str = Field(sa_type=String(254), nullable=False)
    job_title: str | None = Field(default=None, sa_type=String(200))
    manager_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.people.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    hire_date: dt.date = Field(sa_type=Date, nullable=False)
    end_date: dt.date | None = Field(default=None, sa_type=Date)
    separation_reason: SeparationReason | None = enum_field(SeparationReason, 16, nullable=True, default=None)
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class Assignment(SQLModel, table=True):
    """From ``effective_date`` on, the person belongs to ``org_unit_id`` (until their next one).
    The first is effective on the hire date; at most one per person and day."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("person_id", "effective_date"),
        Index("ix_assignments_org_unit_id_effective_date", "org_unit_id", "effective_date"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    person_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.people.id", ondelete="CASCADE"), nullable=False)
    )
    org_unit_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=False)
    )
    effective_date: dt.date = Field(sa_type=Date, nullable=False)
    job_title: str | None = Field(default=None, sa_type=String(200))
    created_at: dt.datetime = created_at_field()


class Salary(SQLModel, table=True):
    """Sensitive: from ``effective_date`` on, the person's salary (until the next record)."""

    __tablename__ = "salaries"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        Index("ix_salaries_person_id_effective_date", "person_id", "effective_date"),
        {"schema": SCHEMA},
    )

    # A sequence, not a timestamp, orders records of one day: "latest" ties go to the later created.
    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    person_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.people.id", ondelete="CASCADE"), nullable=False)
    )
    effective_date: dt.date = Field(sa_type=Date, nullable=False)
    amount: float = Field(sa_type=Double, nullable=False)
    currency: str = Field(sa_type=String(3), nullable=False)
    created_at: dt.datetime = created_at_field()


# The capability side's tables live in their sub-domain; imported here so that every table of the
# schema is known wherever the service's models are (migrations, tests).
from services.talent_service.capability import models as capability_models  # noqa: E402

__all__ = ["capability_models"]
