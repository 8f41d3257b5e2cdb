"""Client of the talent service, speaking :mod:`shared.contracts.talent`.

::

    teams = await talent.org_units(kind=OrgUnitKind.team)
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from shared.auth import CurrentPrincipal
from shared.clients.base import ServiceClient
from shared.contracts.talent import OrgUnitKind, OrgUnitPublic
from shared.pagination import Page


class TalentClient(ServiceClient):
    service = "talent"

    async def org_units_page(
        self,
        *,
        kind: OrgUnitKind | None = None,
        parent_id: uuid.UUID | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[OrgUnitPublic]:
        """One page of ``GET /v1/org-units``."""
        params = _filters(kind, parent_id) | {"limit": str(limit) if limit else None, "cursor": cursor}
        return await self._page("/v1/org-units", params, Page[OrgUnitPublic])

    async def org_units(
        self, *, kind: OrgUnitKind | None = None, parent_id: uuid.UUID | None = None
    ) -> list[OrgUnitPublic]:
        """Every org unit matching the filters, in the service's order (pages of 500)."""
        return await self._every_page("/v1/org-units", _filters(kind, parent_id), Page[OrgUnitPublic])


def _filters(kind: OrgUnitKind | None, parent_id: uuid.UUID | None) -> dict[str, str | None]:
    return {"kind": kind.value if kind else None, "parent_id": str(parent_id) if parent_id else None}


async def _talent_client(request: Request, principal: CurrentPrincipal) -> TalentClient:
    client: TalentClient = request.app.state.talent_client
    return client.acting_for(principal.key_id)


TalentClientDep = Annotated[TalentClient, Depends(_talent_client)]
"""The process's :class:`TalentClient`, acting for the caller of the request being served."""
