"""Tables of the ``talent`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.contracts.talent import OrgUnitKind as OrgUnitKind
from shared.models import created_at_field, enum_field, id_field, one_of, updated_at_field


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"
    __table_args__ = (
        one_of("kind", OrgUnitKind),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    name: str = Field(sa_type=String(200), nullable=False)
    kind: OrgUnitKind = enum_field(OrgUnitKind, 16)
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()
