"""Wire models of the KPI service."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel

from services.kpi_service.models import Aggregation, Cadence, Direction, Domain
from shared.schemas import PublicModel


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
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DomainInfo(BaseModel):
    key: Domain
    label: str
