"""Tables of the ``strategy`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, Date, Float, ForeignKey, Index, Integer, Numeric, String, Text
from sqlmodel import Field, SQLModel

from services.strategy_service.config import SCHEMA

# The initiatives sub-domain's tables live in the same schema (registered with the metadata here).
from services.strategy_service.initiatives.models import Initiative as Initiative
from services.strategy_service.initiatives.models import ProgressUpdate as ProgressUpdate
from shared.contracts.kpi import Aggregation
from shared.contracts.strategy import KeyResultKind, KpiValue, ObjectiveStatus, PaceStatus
from shared.contracts.strategy import Level as Level
from shared.idempotency import idempotency_record_table
from shared.models import (
    StrEnumString,
    created_at_field,
    enum_field,
    id_field,
    one_of,
    timestamp_column,
    updated_at_field,
)

IdempotencyRecord = idempotency_record_table(SCHEMA)


def _version_field() -> int:
    result: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    return result


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
    version: int = _version_field()
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    # Set once, by closing the objective: the figures every later read shows instead of live ones.
    closed_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    retrospective: str | None = Field(default=None, sa_type=Text, nullable=True)
    final_progress: float | None = Field(default=None, sa_type=Float, nullable=True)
    final_expected_progress: float | None = Field(default=None, sa_type=Float, nullable=True)
    final_pace_status: PaceStatus | None = enum_field(PaceStatus, 16, nullable=True, default=None)
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class KeyResult(SQLModel, table=True):
    __tablename__ = "key_results"
    __table_args__ = (
        one_of("kind", KeyResultKind),
        one_of("kpi_value", KpiValue),
        CheckConstraint("weight > 0", name="weight_positive"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    objective_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.objectives.id", ondelete="RESTRICT"), nullable=False, index=True)
    )
    title: str = Field(sa_type=String(200), nullable=False)
    kind: KeyResultKind = enum_field(KeyResultKind, 16)
    unit: str = Field(default="", sa_type=String(32), nullable=False)
    start_value: float = Field(sa_type=Float, nullable=False)
    target_value: float = Field(sa_type=Float, nullable=False)
    weight: float = Field(default=1.0, sa_type=Numeric(asdecimal=False), nullable=False)
    kpi: str | None = Field(default=None, sa_type=String(100), nullable=True, index=True)
    kpi_value: KpiValue = Field(
        default=KpiValue.latest,
        sa_type=StrEnumString(KpiValue, 8),
        nullable=False,
        sa_column_kwargs={"server_default": KpiValue.latest.value},
    )
    # The linked KPI's aggregation when it was linked: what a ``period`` forecast accumulates.
    kpi_aggregation: Aggregation | None = enum_field(Aggregation, 8, nullable=True, default=None)
    version: int = _version_field()
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class CheckIn(SQLModel, table=True):
    """Append-only: a check-in is never changed or deleted."""

    __tablename__ = "check_ins"
    __table_args__ = (
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        Index("ix_check_ins_key_result_id_checked_at", "key_result_id", "checked_at"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key_result_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.key_results.id", ondelete="RESTRICT"), nullable=False)
    )
    value: float | None = Field(default=None, sa_type=Float, nullable=True)
    confidence: float = Field(sa_type=Float, nullable=False)
    note: str = Field(default="", sa_type=Text, nullable=False)
    checked_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    author: str = Field(sa_type=String(16), nullable=False)
    created_at: dt.datetime = created_at_field()
