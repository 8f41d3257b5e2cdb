"""Wire models of the talent service; those other services read are in :mod:`shared.contracts.talent`."""

from __future__ import annotations

from shared.contracts.talent import OrgUnitPublic

__all__ = ["OrgUnitPublic"]
