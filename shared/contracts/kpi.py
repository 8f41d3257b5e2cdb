"""Wire contracts of the KPI service: what it answers and accepts that other services use.

The KPI service uses these as its own request and response models, and ``KpiClient`` parses its
answers with them, so producer and consumer share one definition. Table models never cross a service.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, field_validator, model_validator

from shared.schemas import PublicModel, StrictModel


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


class ThresholdMode(StrEnum):
    absolute = "absolute"
    relative = "relative"


class Status(StrEnum):
    green = "green"
    amber = "amber"
    red = "red"
    no_target = "no_target"
    stale = "stale"
    no_data = "no_data"


class Bucket(StrEnum):
    """A calendar bucket of a series."""

    day = "day"
    week = "week"
    month = "month"
    quarter = "quarter"
    year = "year"


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
    responsible_person_id: uuid.UUID | None = Field(
        default=None, description="The person who answers for the KPI (a talent person id)."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    thresholds: Thresholds | None = None

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[str]) -> list[str]:
        return sorted(set(tags))


class KpiCreate(KpiFields):
    key: KpiKey


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
    responsible_person_id: uuid.UUID | None
    tags: list[str]
    thresholds: Thresholds | None
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


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


# ---------------------------------------------------------------- aggregates over date ranges

MAX_AGGREGATE_REQUESTS = 500


class AggregateInclude(StrEnum):
    """Optional parts of a KPI aggregate."""

    status = "status"
    daily = "daily"
    fit = "fit"


class KpiAggregateRequest(StrictModel):
    """One KPI over the local days ``from``..``to`` (inclusive, the organisation's time zone)."""

    model_config = StrictModel.model_config | {"populate_by_name": True}

    kpi: str = Field(min_length=1, max_length=100, description="KPI key (or id).")
    from_: dt.date = Field(alias="from")
    to: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.to < self.from_:
            raise ValueError("`to` is before `from`")
        return self


class KpiAggregatesQuery(StrictModel):
    """``POST /v1/kpi-aggregates``: a read (safe to retry) of many KPIs' aggregates at once."""

    requests: list[KpiAggregateRequest] = Field(min_length=1, max_length=MAX_AGGREGATE_REQUESTS)
    include: list[AggregateInclude] = Field(default_factory=list, max_length=3)


class DailyValue(BaseModel):
    """A KPI's aggregation over one local day with data."""

    date: dt.date
    value: float
    count: int
    sum: float
    min: float
    max: float


class LeastSquares(BaseModel):
    """Observations of a value against time, summed for their least-squares line: ``value(t) =
    mean_value + sxy / sxx * (t - mean_time)``, ``t`` in seconds. The line exists when ``count`` ≥ 2
    and ``sxx`` > 0."""

    count: int = Field(description="How many observations (one per local day with data).")
    mean_time: dt.datetime
    mean_value: float
    sxx: float = Field(description="Sum of (t - mean_time)^2, in seconds squared.")
    sxy: float = Field(description="Sum of (t - mean_time) * (value - mean_value).")


class KpiFit(BaseModel):
    """The least-squares sums of the two observation series DESIGN §9 forecasts from: what a forecast
    needs without every day's figures (``include=fit``)."""

    daily: LeastSquares | None = Field(description="Each local day's value, at the day's midpoint.")
    running: LeastSquares | None = Field(
        description="The aggregation from `from` to the end of each day with data, at that day's end."
    )


class KpiAggregate(BaseModel):
    model_config = {"populate_by_name": True}

    kpi: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    value: float | None = Field(description="The KPI's aggregation over the range; null without data.")
    count: int
    last_measurement_at: dt.datetime | None
    status: KpiStatus | None = Field(default=None, description="With `include=status`: as `GET …/status` gives it.")
    daily: list[DailyValue] | None = Field(default=None, description="With `include=daily`: each local day with data.")
    fit: KpiFit | None = Field(default=None, description="With `include=fit`: least-squares sums of the days.")


class KpiAggregates(BaseModel):
    items: list[KpiAggregate]


class KpiIndexInclude(StrEnum):
    """Optional parts of a KPI index entry."""

    status = "status"


class KpiIndexEntry(BaseModel):
    """What the alignment views need of every active KPI: who owns it, who answers for it."""

    key: str
    name: str
    domain: Domain
    owner_org_unit_id: uuid.UUID | None
    responsible_person_id: uuid.UUID | None = Field(description="A talent person id (the KPI's responsible).")
    status: KpiStatus | None = Field(default=None, description="With `include=status`: as `GET …/status` gives it.")


class KpiIndex(BaseModel):
    """Every KPI that is not archived, ordered by key: a complete list, not a page."""

    items: list[KpiIndexEntry]
