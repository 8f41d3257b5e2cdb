"""Tables of the ``talent`` schema."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from services.talent_service.config import SCHEMA
from shared.contracts.talent import OrgUnitKind as OrgUnitKind
from shared.idempotency import IdempotencyRecordBase
from shared.models import created_at_field, enum_field, id_field, one_of, timestamp_column, updated_at_field

ORG_UNIT_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"
    __table_args__ = (
        one_of("kind", OrgUnitKind),
        CheckConstraint(f"key ~ '{ORG_UNIT_KEY_PATTERN}'", name="key_slug"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        {"schema": SCHEMA},
    )

    id: uuid.UUID = id_field()
    key: str = Field(sa_type=String(40), unique=True, nullable=False)
    name: str = Field(sa_type=String(200), nullable=False)
    kind: OrgUnitKind = enum_field(OrgUnitKind, 16)
    parent_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(ForeignKey(f"{SCHEMA}.org_units.id", ondelete="RESTRICT"), nullable=True, index=True),
    )
    version: int = Field(default=1, sa_type=Integer, nullable=False, sa_column_kwargs={"server_default": "1"})
    archived_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: dt.datetime = created_at_field()
    updated_at: dt.datetime = updated_at_field()


class IdempotencyRecord(IdempotencyRecordBase, table=True):
    """The first answer to each creating POST sent with an ``Idempotency-Key`` (see shared.idempotency)."""

    # Declared here rather than with ``idempotency_record_table``, whose class name and module are
    # the same for every schema: two services in one process would collide in SQLAlchemy's registry.
    __tablename__ = "idempotency_records"
    __table_args__ = ({"schema": SCHEMA},)
