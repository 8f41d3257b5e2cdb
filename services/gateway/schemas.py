"""Wire models of the gateway's own routes."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator

from shared.auth import Scope
from shared.schemas import PublicModel, Rfc3339, StrictModel


class ApiKeyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200, examples=["ERP nightly push"])
    scopes: list[Scope] = Field(min_length=1, examples=[["measurements:write"]])
    expires_at: Rfc3339 | None = Field(default=None, description="RFC 3339 with offset; unset: never.")
    rate_limit_per_second: float | None = Field(
        default=None,
        ge=0.01,  # a bucket refilling slower than one request per 100 s would only be a disguised revocation
        le=100_000,
        description="Overrides the default rate limit for this key (0.01 to 100 000 requests per second).",
    )

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= dt.datetime.now(dt.UTC):
            raise ValueError("must be in the future")
        return value


class ApiKeyPublic(PublicModel):
    id: str
    name: str
    scopes: list[Scope]
    rate_limit_per_second: float | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_by: str | None
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The full API key. Shown once: only its hash is stored.")


class AuditEventPublic(PublicModel):
    id: int
    occurred_at: dt.datetime
    key_id: str
    method: str
    path: str
    resource_id: str | None
    status: int
    request_id: str | None
