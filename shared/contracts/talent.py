"""Wire contracts of the talent service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from shared.schemas import PublicModel


class OrgUnitKind(StrEnum):
    company = "company"
    department = "department"
    team = "team"


class OrgUnitPublic(PublicModel):
    id: uuid.UUID
    name: str
    kind: OrgUnitKind
    parent_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
