"""Wire models of the strategy service; those other services read are in :mod:`shared.contracts.strategy`."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from shared.contracts.strategy import (
    KeyResultKind,
    KeyResultPublic,
    KpiValue,
    Level,
    ObjectivePublic,
    ObjectiveStatus,
    ObjectiveTree,
)
from shared.schemas import CalendarDay, PublicModel, Rfc3339, StrictModel

_WEIGHT = "Share in the weighted mean it counts in (> 0)."

__all__ = [
    "CheckInCreate",
    "CheckInPublic",
    "KeyResultCreate",
    "KeyResultPublic",
    "KeyResultUpdate",
    "ObjectiveClose",
    "ObjectiveCreate",
    "ObjectivePublic",
    "ObjectiveTree",
    "ObjectiveUpdate",
]


class ObjectiveCreate(StrictModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    level: Level
    parent_id: uuid.UUID | None = Field(
        default=None, description="The objective this one contributes to: same or higher level, overlapping period."
    )
    owner_org_unit_id: uuid.UUID | None = None
    period_start: CalendarDay = Field(description="First day of the period (local date).")
    period_end: CalendarDay = Field(description="Last day of the period, inclusive.")
    status: ObjectiveStatus = ObjectiveStatus.draft
    weight: float = Field(default=1.0, gt=0, le=1_000, description=_WEIGHT)


class ObjectiveUpdate(StrictModel):
    """Only the fields sent change; `parent_id: null` detaches the objective."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    level: Level | None = None
    parent_id: uuid.UUID | None = None
    owner_org_unit_id: uuid.UUID | None = None
    period_start: CalendarDay | None = None
    period_end: CalendarDay | None = None
    status: ObjectiveStatus | None = None
    weight: float | None = Field(default=None, gt=0, le=1_000, description=_WEIGHT)


class ObjectiveClose(StrictModel):
    retrospective: str = Field(
        min_length=1, max_length=10_000, description="What was learnt: what worked, what did not, what comes next."
    )


class KeyResultCreate(StrictModel):
    title: str = Field(min_length=1, max_length=200)
    kind: KeyResultKind
    unit: str = Field(default="", max_length=32)
    start_value: float = Field(description="Where it stands when the period starts (milestone: 0).")
    target_value: float = Field(description="Where it must stand at the end (milestone: 1).")
    weight: float = Field(default=1.0, gt=0, le=1_000, description=_WEIGHT)
    kpi: str | None = Field(
        default=None, min_length=1, max_length=100, description="Key of the KPI that measures it (checked there)."
    )
    kpi_value: KpiValue = Field(default=KpiValue.latest, description="The KPI's latest value, or over the period.")


class KeyResultUpdate(StrictModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, max_length=32)
    start_value: float | None = None
    target_value: float | None = None
    weight: float | None = Field(default=None, gt=0, le=1_000, description=_WEIGHT)
    kpi: str | None = Field(default=None, min_length=1, max_length=100, description="`null` unlinks the KPI.")
    kpi_value: KpiValue | None = None


class CheckInCreate(StrictModel):
    value: float | None = Field(
        default=None, description="Required (milestone: 0 or 1); refused for a KPI-linked key result."
    )
    confidence: float = Field(ge=0, le=1, description="How likely the target is reached by the period's end.")
    note: str = Field(default="", max_length=2_000)
    checked_at: Rfc3339 | None = Field(
        default=None, description="Defaults to now; may be in the past, not before the period starts."
    )


class CheckInPublic(PublicModel):
    id: uuid.UUID
    key_result_id: uuid.UUID
    value: float | None
    confidence: float
    note: str
    checked_at: dt.datetime
    author: str
    created_at: dt.datetime
