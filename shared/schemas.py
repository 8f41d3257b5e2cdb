"""Wire models shared by every service: the strict base and the contracts services exchange."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base of every request body: unknown fields and NaN/Infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class PublicModel(BaseModel):
    """Base of every response body; built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
