"""Wire models of the talent service; those other services read are in :mod:`shared.contracts.talent`."""

from __future__ import annotations

import uuid

from pydantic import Field, field_validator

from shared.contracts.talent import OrgUnitKey, OrgUnitKind, OrgUnitPublic
from shared.schemas import StrictModel

__all__ = ["OrgUnitCreate", "OrgUnitKind", "OrgUnitPublic", "OrgUnitTree", "OrgUnitUpdate"]


class OrgUnitCreate(StrictModel):
    key: OrgUnitKey
    name: str = Field(min_length=1, max_length=200)
    kind: OrgUnitKind
    parent_id: uuid.UUID | None = Field(default=None, description="None: a root (several trees may coexist).")


class OrgUnitUpdate(StrictModel):
    """Only the fields given change; `parent_id: null` makes the unit a root."""

    key: str | None = Field(default=None, description="Cannot change: present only to say so clearly.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OrgUnitKind | None = None
    parent_id: uuid.UUID | None = None
    archived: bool | None = Field(default=None, description="false restores an archived unit.")

    @field_validator("key")
    @classmethod
    def _immutable_key(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("the key of an org unit cannot change after creation")
        return value

    @field_validator("name", "kind", "archived")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class OrgUnitTree(OrgUnitPublic):
    """A unit with every descendant nested in ``children`` (ordered by key)."""

    children: list[OrgUnitTree]
