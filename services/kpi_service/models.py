"""Tables of the ``kpi`` schema."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import ARRAY, CheckConstraint, Column, String, Text
from sqlmodel import Field, SQLModel

from services.kpi_service.config import SCHEMA
from shared.models import created_at_field, id_field, timestamp_column, updated_at_field


class Domain(StrEnum):
    supply_chain = "supply_chain"
    hr = "hr"
    productivity = "productivity"
    quality = "quality"
    marketing = "marketing"
    customer = "customer"
    finance = "finance"
    operations = "operations"


class Direction(StrEnum):
    increase = "increase"
    decrease = "decrease"
    target_range = "target_range"


class Aggregation(StrEnum):
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"
    last = "last"


class Cadence(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


def _one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    values = ", ".join(f"'{v.value}'" for v in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


class Kpi(SQLModel, table=True):
    __tablename__ = "kpis"
    __table_args__ = (
        _one_of("domain", Domain),
        _one_of("direction", Direction),
        _one_of("aggregation", Aggregation),
        _one_of("cadence", Cadence),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(100), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    unit: str = Field(sa_type=String(32), nullable=False)
    domain: str = Field(sa_type=String(32), nullable=False)
    direction: str = Field(sa_type=String(16), nullable=False)
    aggregation: str = Field(sa_type=String(8), nullable=False)
    cadence: str = Field(sa_type=String(8), nullable=False)
    owner_org_unit_id: uuid.UUID | None = Field(default=None, index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"))
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()
