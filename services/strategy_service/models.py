"""Tables of the ``strategy`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Numeric, String, Text
from sqlmodel import Field, SQLModel

from services.strategy_service.config import SCHEMA
from shared.contracts.strategy import Level as Level
from shared.contracts.strategy import ObjectiveStatus
from shared.models import created_at_field, enum_field, id_field, one_of, updated_at_field


class Objective(SQLModel, table=True):
    __tablename__ = "objectives"
    __table_args__ = (
        one_of("level", Level),
        one_of("status", ObjectiveStatus),
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("weight > 0", name="weight_positive"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    title: str = Field(sa_type=String(200), nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    level: Level = enum_field(Level, 16)
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.objectives.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    owner_org_unit_id: uuid.UUID | None = Field(default=None, index=True)
    period_start: dt.date = Field(sa_type=Date, nullable=False)
    period_end: dt.date = Field(sa_type=Date, nullable=False)
    status: ObjectiveStatus = enum_field(ObjectiveStatus, 16, default=ObjectiveStatus.draft)
    weight: float = Field(default=1.0, sa_type=Numeric(asdecimal=False), nullable=False)
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()
