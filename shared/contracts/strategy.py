"""Wire contracts of the strategy service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from shared.schemas import PublicModel


class Level(StrEnum):
    company = "company"
    department = "department"
    team = "team"


class ObjectiveStatus(StrEnum):
    draft = "draft"
    active = "active"
    completed = "completed"
    cancelled = "cancelled"


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
