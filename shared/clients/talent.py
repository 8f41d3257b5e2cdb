"""Client of the talent service, speaking :mod:`shared.contracts.talent`.

::

    teams = await talent.org_units(kind=OrgUnitKind.team)
    health = await talent.org_unit_health(["sales", "ops"])
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Annotated

import httpx
from fastapi import Depends, Request

from shared.auth import CurrentPrincipal
from shared.clients.base import ServiceClient
from shared.contracts.talent import OrgUnitHealthList, OrgUnitKind, OrgUnitPublic
from shared.pagination import Page

HEALTH_UNITS_PER_CALL = 100
"""Units per ``GET /v1/org-unit-health`` call (the service takes 500; ids keep the query string short)."""


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

    async def org_unit_health(self, units: Iterable[str | uuid.UUID]) -> OrgUnitHealthList:
        """The talent health of each unit (id or key) today, in the order asked, one call per 500
        distinct units; names of no unit come back in ``unknown``, not as an error."""
        names = list(dict.fromkeys(str(unit) for unit in units))
        if not names:
            return OrgUnitHealthList(items=[], unknown=[])
        answer = OrgUnitHealthList(items=[], unknown=[])
        for start in range(0, len(names), HEALTH_UNITS_PER_CALL):
            part = names[start : start + HEALTH_UNITS_PER_CALL]
            params = httpx.QueryParams([("org_unit", name) for name in part])
            found = self._answer(await self._send("GET", "/v1/org-unit-health", params=params), OrgUnitHealthList)
            answer.items.extend(found.items)
            answer.unknown.extend(found.unknown)
        return answer


def _filters(kind: OrgUnitKind | None, parent_id: uuid.UUID | None) -> dict[str, str | None]:
    return {"kind": kind.value if kind else None, "parent_id": str(parent_id) if parent_id else None}


async def _talent_client(request: Request, principal: CurrentPrincipal) -> TalentClient:
    client: TalentClient = request.app.state.talent_client
    return client.acting_for(principal.key_id)


TalentClientDep = Annotated[TalentClient, Depends(_talent_client)]
"""The process's :class:`TalentClient`, acting for the caller of the request being served."""
