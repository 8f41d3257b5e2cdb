"""Wire models of the KPI service that only its own clients see. What other services exchange
with it lives in :mod:`shared.contracts.kpi` (re-exported here so the service has one place to look)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, Field, field_validator, model_validator

from shared.contracts.kpi import (
    Aggregation,
    Bucket,
    Cadence,
    Direction,
    Domain,
    IngestResult,
    KpiCreate,
    KpiPublic,
    KpiStatus,
    KpiStatuses,
    MeasurementBatch,
    MeasurementPointIn,
    Status,
    Tag,
    TargetJudged,
    Thresholds,
    Trend,
)
from shared.schemas import PublicModel, StrictModel

__all__ = [
    "DomainInfo",
    "IngestResult",
    "KpiCreate",
    "KpiPublic",
    "KpiStatus",
    "KpiStatuses",
    "KpiUpdate",
    "MeasurementBatch",
    "MeasurementPointIn",
    "MeasurementPublic",
    "Series",
    "SeriesBucket",
    "StatusEventPublic",
    "TargetIn",
    "TargetJudged",
    "TargetPublic",
    "Targets",
    "TargetsPut",
    "Thresholds",
    "Trend",
]


class KpiUpdate(StrictModel):
    """Only the fields given change; `null` clears `owner_org_unit_id`, `responsible_person_id` or
    `thresholds` (and is refused for every other field: an empty `description` is `""`)."""

    key: str | None = Field(default=None, description="Cannot change: present only to say so clearly.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    domain: Domain | None = None
    direction: Direction | None = None
    aggregation: Aggregation | None = None
    cadence: Cadence | None = None
    owner_org_unit_id: uuid.UUID | None = None
    responsible_person_id: uuid.UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    thresholds: Thresholds | None = None
    archived: bool | None = Field(default=None, description="false restores an archived KPI.")

    @field_validator("key")
    @classmethod
    def _immutable_key(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("the key of a KPI cannot change after creation")
        return value

    @field_validator("name", "description", "unit", "domain", "direction", "aggregation", "cadence", "tags", "archived")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class DomainInfo(BaseModel):
    key: Domain
    label: str


class TargetIn(StrictModel):
    """A target for every period that starts between `period_start` and `period_end` (inclusive):
    `value` for `increase`/`decrease` KPIs, `min` and `max` for `target_range` ones."""

    period_start: dt.date
    period_end: dt.date
    value: float | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class TargetsPut(StrictModel):
    targets: list[TargetIn] = Field(max_length=1000)


class TargetPublic(PublicModel):
    period_start: dt.date
    period_end: dt.date
    value: float | None
    min: float | None
    max: float | None


class Targets(BaseModel):
    kpi: str
    targets: list[TargetPublic]


class MeasurementPublic(BaseModel):
    ts: dt.datetime
    value: float


class SeriesBucket(BaseModel):
    start: dt.datetime
    end: dt.datetime
    value: float = Field(description="The KPI's aggregation over the bucket.")
    count: int
    sum: float
    min: float
    max: float
    first_ts: dt.datetime
    last_ts: dt.datetime


class Series(BaseModel):
    kpi: str
    bucket: Bucket
    tz: str
    aggregation: Aggregation
    buckets: list[SeriesBucket]


class EventCause(StrEnum):
    """What changed a KPI's status: new data, the clock (staleness) or its definition or targets."""

    ingestion = "ingestion"
    time = "time"
    definition = "definition"


class StatusEventPublic(PublicModel):
    id: int
    kpi_id: uuid.UUID
    kpi: str
    occurred_at: dt.datetime
    from_status: Status | None
    to_status: Status
    value: float | None
    period_start: dt.date | None
    cause: EventCause
