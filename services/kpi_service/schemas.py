"""Wire models of the KPI service."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator, model_validator

from services.kpi_service.models import Aggregation, Cadence, Direction, Domain, Status, ThresholdMode
from shared.schemas import PublicModel, StrictModel

KpiKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", min_length=2, max_length=100),
    Field(description="Stable machine name: lowercase slug, dot-separated (e.g. `supply.on_time_delivery`).",
          examples=["supply.on_time_delivery"]),
]  # fmt: skip
Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=50)]


class Thresholds(StrictModel):
    """How far short of its target a KPI may fall before it turns amber, then red. The shortfall is
    measured on the bad side of the target (below it for `increase`, above it for `decrease`, outside
    the band for `target_range`): as a fraction of the target (`relative`) or in the KPI's unit
    (`absolute`). "Amber below 95 % of target, red below 90 %" is `{"mode": "relative", "amber":
    0.05, "red": 0.1}`. Without thresholds, any shortfall is red."""

    mode: ThresholdMode
    amber: float = Field(ge=0, description="Largest shortfall that is still green.")
    red: float = Field(ge=0, description="Largest shortfall that is still amber.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.red < self.amber:
            raise ValueError("red must be at least amber")
        return self


class KpiFields(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    unit: str = Field(min_length=1, max_length=32, examples=["%"])
    domain: Domain
    direction: Direction
    aggregation: Aggregation
    cadence: Cadence
    owner_org_unit_id: uuid.UUID | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    thresholds: Thresholds | None = None

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))


class KpiCreate(KpiFields):
    key: KpiKey


class KpiUpdate(StrictModel):
    """Only the fields given change; `null` clears `owner_org_unit_id` or `thresholds`."""

    key: str | None = Field(default=None, description="Cannot change: present only to say so clearly.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    domain: Domain | None = None
    direction: Direction | None = None
    aggregation: Aggregation | None = None
    cadence: Cadence | None = None
    owner_org_unit_id: uuid.UUID | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    thresholds: Thresholds | None = None
    archived: bool | None = Field(default=None, description="false restores an archived KPI.")

    @field_validator("key")
    @classmethod
    def _immutable_key(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("the key of a KPI cannot change after creation")
        return value

    @field_validator("name", "unit", "domain", "direction", "aggregation", "cadence", "tags", "archived")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class KpiPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    description: str
    unit: str
    domain: Domain
    direction: Direction
    aggregation: Aggregation
    cadence: Cadence
    owner_org_unit_id: uuid.UUID | None
    tags: list[str]
    thresholds: Thresholds | None
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


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


class MeasurementPointIn(BaseModel):
    """One measurement (documentation of the wire format; the route validates points itself)."""

    kpi: str = Field(description="KPI key.", examples=["supply.on_time_delivery"])
    ts: AwareDatetime = Field(description="RFC 3339 with an offset.", examples=["2026-11-02T08:00:00+01:00"])
    value: float = Field(description="A finite number.", examples=[97.4])


class MeasurementBatch(BaseModel):
    points: list[MeasurementPointIn] = Field(description="Up to 10 000 points, across any KPIs.")


class IngestResult(BaseModel):
    inserted: int
    updated: int
    unchanged: int
    dry_run: bool = False


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
    bucket: Literal["day", "week", "month", "quarter", "year"]
    tz: str
    aggregation: Aggregation
    buckets: list[SeriesBucket]


class TargetJudged(BaseModel):
    value: float | None
    min: float | None
    max: float | None
    period_start: dt.date
    period_end: dt.date


class Trend(BaseModel):
    previous_period_start: dt.date
    previous_value: float
    absolute_change: float
    relative_change: float | None = Field(description="null when the previous value is 0.")


class KpiStatus(BaseModel):
    kpi: str
    kpi_id: uuid.UUID
    status: Status
    period_start: dt.date | None = Field(description="Start of the cadence period judged (local date).")
    period_end: dt.date | None = Field(description="Its last day (local date).")
    value: float | None
    count: int
    target: TargetJudged | None
    thresholds: Thresholds | None
    trend: Trend | None
    last_measurement_at: dt.datetime | None
    stale_since: dt.datetime | None = Field(description="When the KPI became stale, if it is.")


class KpiStatuses(BaseModel):
    items: list[KpiStatus]


class StatusEventPublic(PublicModel):
    id: int
    kpi_id: uuid.UUID
    kpi: str
    occurred_at: dt.datetime
    from_status: Status | None
    to_status: Status
    value: float | None
    period_start: dt.date | None
    cause: Literal["ingestion", "time", "definition"]
