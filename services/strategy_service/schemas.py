"""Wire models of the strategy service; those other services read are in :mod:`shared.contracts.strategy`."""

from __future__ import annotations

from shared.contracts.strategy import ObjectivePublic

__all__ = ["ObjectivePublic"]
