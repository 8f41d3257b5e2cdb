"""Wire models of the strategy service."""

from __future__ import annotations

import datetime as dt
import uuid

from services.strategy_service.models import Level, ObjectiveStatus
from shared.schemas import PublicModel


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
