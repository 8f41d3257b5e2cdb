"""Wire contracts of the strategy service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

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
    created_at: dt.datetime
    updated_at: dt.datetime
