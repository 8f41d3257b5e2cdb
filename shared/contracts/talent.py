"""Wire contracts of the talent service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from shared.schemas import PublicModel

OrgUnitKey = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$"),
    Field(
        description="A slug that composes into KPI keys (`hr.turnover_rate.<key>`); never changes.", examples=["sales"]
    ),
]


class OrgUnitKind(StrEnum):
    """Ranked company > department > team: a unit's kind ranks at or below its parent's."""

    company = "company"
    department = "department"
    team = "team"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {OrgUnitKind.company: 0, OrgUnitKind.department: 1, OrgUnitKind.team: 2}


class SeparationReason(StrEnum):
    voluntary = "voluntary"
    involuntary = "involuntary"
    retirement = "retirement"
    other = "other"


class OrgUnitPublic(PublicModel):
    id: uuid.UUID
    key: str
    name: str
    kind: OrgUnitKind
    parent_id: uuid.UUID | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
