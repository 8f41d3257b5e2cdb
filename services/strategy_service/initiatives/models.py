"""Tables of the initiatives sub-domain (schema ``strategy``)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from services.strategy_service.config import SCHEMA
from shared.contracts.strategy import InitiativeStatus
from shared.models import created_at_field, enum_field, id_field, one_of, timestamp_column, updated_at_field


class Initiative(SQLModel, table=True):
    __tablename__ = "initiatives"
    __table_args__ = (
        one_of("status", InitiativeStatus),
        CheckConstraint("due_date >= start_date", name="dates_ordered"),
        CheckConstraint("objective_id IS NOT NULL OR key_result_id IS NOT NULL OR kpi IS NOT NULL", name="has_target"),
        CheckConstraint("(status = 'done') = (done_on IS NOT NULL)", name="done_on_when_done"),
        CheckConstraint("done_on IS NULL OR done_on >= start_date", name="done_after_start"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    title: str = Field(sa_type=String(200), nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    owner_org_unit_id: uuid.UUID | None = Field(default=None, index=True)
    responsible_person_id: uuid.UUID | None = Field(default=None)
    objective_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.objectives.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    key_result_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.key_results.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    kpi: str | None = Field(default=None, sa_type=String(100), nullable=True, index=True)
    start_date: dt.date = Field(sa_type=Date, nullable=False)
    due_date: dt.date = Field(sa_type=Date, nullable=False)
    status: InitiativeStatus = enum_field(InitiativeStatus, 16, default=InitiativeStatus.planned)
    done_on: dt.date | None = Field(default=None, sa_type=Date, nullable=True)
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class ProgressUpdate(SQLModel, table=True):
    """A dated note on an initiative's progress. Append-only: never changed or deleted."""

    __tablename__ = "initiative_updates"
    __table_args__ = (
        CheckConstraint("progress IS NULL OR (progress >= 0 AND progress <= 1)", name="progress_range"),
        Index("ix_initiative_updates_initiative_id_created_at", "initiative_id", "created_at"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    initiative_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey(f"{SCHEMA}.initiatives.id", ondelete="RESTRICT"), nullable=False)
    )
    note: str = Field(sa_type=Text, nullable=False)
    progress: float | None = Field(default=None, sa_type=Float, nullable=True)
    author: str = Field(sa_type=String(16), nullable=False)
    created_at: dt.datetime = created_at_field()
