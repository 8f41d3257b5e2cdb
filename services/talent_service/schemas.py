"""Wire models of the talent service."""

from __future__ import annotations

import datetime as dt
import uuid

from services.talent_service.models import OrgUnitKind
from shared.schemas import PublicModel


class OrgUnitPublic(PublicModel):
    id: uuid.UUID
    name: str
    kind: OrgUnitKind
    parent_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime
