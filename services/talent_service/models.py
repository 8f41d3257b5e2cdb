"""Tables of the ``talent`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.contracts.talent import OrgUnitKind as OrgUnitKind
from shared.models import created_at_field, id_field, updated_at_field


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"
    __table_args__ = (
        CheckConstraint("kind IN ('company', 'department', 'team')", name="kind_valid"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    name: str = Field(sa_type=String(200), nullable=False)
    kind: str = Field(sa_type=String(16), nullable=False)
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()
