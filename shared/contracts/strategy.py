"""Wire contracts of the strategy service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import Field

from shared.schemas import PublicModel


class Level(StrEnum):
    """Where an objective sits in the cascade."""

    company = "company"
    department = "department"
    team = "team"


class ObjectiveStatus(StrEnum):
    draft = "draft"
    active = "active"
    completed = "completed"
    cancelled = "cancelled"


class KeyResultKind(StrEnum):
    """How a key result's current value turns into progress (DESIGN §9)."""

    increase = "increase"
    decrease = "decrease"
    stay_above = "stay_above"
    stay_below = "stay_below"
    milestone = "milestone"


class PaceStatus(StrEnum):
    """An objective's progress against the share of its period elapsed."""

    not_started = "not_started"
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"
    achieved = "achieved"
    no_data = "no_data"


class KpiValue(StrEnum):
    """Which value of a linked KPI a key result reads: its status value, or its aggregation over
    the objective's period up to today."""

    latest = "latest"
    period = "period"


class CurrentSource(StrEnum):
    """Where a key result's current value came from."""

    check_in = "check_in"
    kpi = "kpi"
    none = "none"
    kpi_unavailable = "kpi_unavailable"


class ObjectivePublic(PublicModel):
    id: uuid.UUID
    title: str
    description: str
    level: Level
    parent_id: uuid.UUID | None
    owner_org_unit_id: uuid.UUID | None
    period_start: dt.date
    period_end: dt.date
    status: ObjectiveStatus
    weight: float
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    progress: float | None = Field(description="Weighted roll-up of key results and children (DESIGN §9).")
    expected_progress: float = Field(description="Share of the period elapsed, in the organisation's time zone.")
    pace_status: PaceStatus
    degraded: list[str] = Field(description="Sources that could not be reached (e.g. `kpi`), else empty.")
