"""Tables of the ``gateway`` schema: API keys and the audit trail."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ARRAY, BigInteger, Column, Identity, Index, SmallInteger, String, Text
from sqlmodel import Field, SQLModel

from services.gateway.config import SCHEMA
from shared.models import created_at_field, timestamp_column


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"
    __table_args__ = {"schema": SCHEMA}

    id: str = Field(sa_type=String(16), primary_key=True)
    name: str = Field(sa_type=String(200), nullable=False)
    # SHA-256 of the whole key: the secret is 190+ random bits, so a fast hash is safe; never the secret.
    secret_hash: str = Field(sa_type=String(64), nullable=False)
    scopes: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    rate_limit_per_second: float | None = Field(default=None)
    expires_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_by: str | None = Field(default=None, sa_type=String(16))
    created_at: dt.datetime = created_at_field()


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at_id", "occurred_at", "id"),
        Index("ix_audit_events_key_id_occurred_at", "key_id", "occurred_at"),
        {"schema": SCHEMA},
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    occurred_at: dt.datetime = Field(sa_column=timestamp_column(nullable=False))
    key_id: str = Field(sa_type=String(16), nullable=False)
    method: str = Field(sa_type=String(10), nullable=False)
    path: str = Field(sa_type=Text, nullable=False)
    resource_id: str | None = Field(default=None, sa_type=String(200))
    status: int = Field(sa_type=SmallInteger, nullable=False)
    request_id: str | None = Field(default=None, sa_type=String(128))
