"""Tables of the ``kpi`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from services.kpi_service.config import SCHEMA
from shared.contracts.kpi import Aggregation, Cadence, Direction, Domain, Status, ThresholdMode
from shared.idempotency import idempotency_record_table
from shared.models import (
    created_at_field,
    enum_field,
    id_field,
    one_of,
    timestamp_column,
    updated_at_field,
)


class Kpi(SQLModel, table=True):
    __tablename__ = "kpis"
    __table_args__ = (
        one_of("domain", Domain),
        one_of("direction", Direction),
        one_of("aggregation", Aggregation),
        one_of("cadence", Cadence),
        one_of("threshold_mode", ThresholdMode),
        CheckConstraint("(threshold_mode IS NULL) = (threshold_amber IS NULL)", name="thresholds_complete"),
        CheckConstraint("(threshold_mode IS NULL) = (threshold_red IS NULL)", name="thresholds_complete_red"),
        CheckConstraint("threshold_amber >= 0 AND threshold_red >= threshold_amber", name="thresholds_ordered"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(100), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    description: str = Field(default="", sa_type=Text, nullable=False)
    unit: str = Field(sa_type=String(32), nullable=False)
    domain: Domain = enum_field(Domain, 32)
    direction: Direction = enum_field(Direction, 16)
    aggregation: Aggregation = enum_field(Aggregation, 8)
    cadence: Cadence = enum_field(Cadence, 8)
    owner_org_unit_id: uuid.UUID | None = Field(default=None, index=True)
    # A talent person id (never checked here: services refer to each other's data by id only).
    responsible_person_id: uuid.UUID | None = Field(default=None, index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(ARRAY(Text), nullable=False, server_default="{}"))
    # Tolerated shortfall against the target before amber / red (see service.judge).
    threshold_mode: ThresholdMode | None = enum_field(ThresholdMode, 8, nullable=True, default=None)
    threshold_amber: float | None = Field(default=None, sa_type=Double)
    threshold_red: float | None = Field(default=None, sa_type=Double)
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


def _kpi_fk() -> Column[uuid.UUID]:
    return Column(ForeignKey(f"{SCHEMA}.kpis.id", ondelete="CASCADE"), primary_key=True)


class KpiTarget(SQLModel, table=True):
    """A target for the periods starting between ``period_start`` and ``period_end`` (inclusive)."""

    __tablename__ = "kpi_targets"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("(value IS NOT NULL) <> (min IS NOT NULL AND max IS NOT NULL)", name="value_or_band"),
        CheckConstraint("min <= max", name="band_ordered"),
        {"schema": SCHEMA},
    )

    kpi_id: uuid.UUID = Field(sa_column=_kpi_fk())
    period_start: dt.date = Field(sa_type=Date, primary_key=True)
    period_end: dt.date = Field(sa_type=Date, nullable=False)
    value: float | None = Field(default=None, sa_type=Double)
    min: float | None = Field(default=None, sa_type=Double)
    max: float | None = Field(default=None, sa_type=Double)


class Measurement(SQLModel, table=True):
    """The current value of each ``(kpi, ts)``. Replaced values move to ``measurement_revisions`` (by a
    trigger, so that concurrent writers cannot lose one)."""

    __tablename__ = "measurements"
    __table_args__ = {"schema": SCHEMA}

    kpi_id: uuid.UUID = Field(sa_column=Column(ForeignKey(f"{SCHEMA}.kpis.id"), primary_key=True))
    ts: dt.datetime = Field(sa_column=timestamp_column(nullable=False, primary_key=True))
    value: float = Field(sa_type=Double, nullable=False)
    recorded_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    recorded_by: str | None = Field(default=None, sa_type=String(64))


class MeasurementRevision(SQLModel, table=True):
    """A value that was current from ``recorded_at`` until ``replaced_at``."""

    __tablename__ = "measurement_revisions"
    __table_args__ = (Index("ix_measurement_revisions_kpi_id_ts", "kpi_id", "ts"), {"schema": SCHEMA})

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kpi_id: uuid.UUID = Field(nullable=False)
    ts: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    value: float = Field(sa_type=Double, nullable=False)
    recorded_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    recorded_by: str | None = Field(default=None, sa_type=String(64))
    replaced_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    replaced_by: str | None = Field(default=None, sa_type=String(64))


class _RollupColumns(SQLModel):
    count: int = Field(sa_type=BigInteger, nullable=False)
    sum: float = Field(sa_type=Double, nullable=False)
    min: float = Field(sa_type=Double, nullable=False)
    max: float = Field(sa_type=Double, nullable=False)
    first_ts: dt.datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    first_value: float = Field(sa_type=Double, nullable=False)
    last_ts: dt.datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    last_value: float = Field(sa_type=Double, nullable=False)


class Rollup15m(_RollupColumns, table=True):
    """Aggregates per KPI and 15-minute UTC bucket, kept exact as points arrive. Every time zone's
    day boundaries fall on a quarter hour, so any local calendar bucket is a sum of these."""

    __tablename__ = "rollups_15m"
    __table_args__ = {"schema": SCHEMA}

    kpi_id: uuid.UUID = Field(primary_key=True)
    bucket_start: dt.datetime = Field(sa_column=timestamp_column(nullable=False, primary_key=True))


class RollupPeriod(_RollupColumns, table=True):
    """Aggregates per KPI and cadence period (local day / ISO week / month in the organisation's time
    zone): what status reads need, one row per period."""

    __tablename__ = "rollups_period"
    __table_args__ = {"schema": SCHEMA}

    kpi_id: uuid.UUID = Field(primary_key=True)
    period_start: dt.date = Field(sa_type=Date, primary_key=True)


class StatusState(SQLModel, table=True):
    """The last status recorded for each KPI, to record each change once."""

    __tablename__ = "status_states"
    __table_args__ = {"schema": SCHEMA}

    kpi_id: uuid.UUID = Field(sa_column=_kpi_fk())
    status: Status = enum_field(Status, 16)
    changed_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))


class StatusEvent(SQLModel, table=True):
    __tablename__ = "status_events"
    __table_args__ = (
        Index("ix_status_events_occurred_at_id", "occurred_at", "id"),
        Index("ix_status_events_kpi_id_occurred_at", "kpi_id", "occurred_at"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    kpi_id: uuid.UUID = Field(sa_column=Column(ForeignKey(f"{SCHEMA}.kpis.id", ondelete="CASCADE"), nullable=False))
    occurred_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    from_status: Status | None = enum_field(Status, 16, nullable=True, default=None)
    to_status: Status = enum_field(Status, 16)
    value: float | None = Field(default=None, sa_type=Double)
    period_start: dt.date | None = Field(default=None, sa_type=Date)
    cause: str = Field(sa_type=String(16), nullable=False)


IdempotencyRecord = idempotency_record_table(SCHEMA)


class ServiceState(SQLModel, table=True):
    """Facts the service must remember about itself (e.g. the time zone its period rollups use)."""

    __tablename__ = "service_state"
    __table_args__ = {"schema": SCHEMA}

    name: str = Field(sa_type=String(64), primary_key=True)
    value: str = Field(sa_type=Text, nullable=False)
