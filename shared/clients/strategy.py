"""Client of the strategy service, speaking :mod:`shared.contracts.strategy`.

::

    objectives = await strategy.objectives(level=Level.company)
    measured = {link.kpi: link.key_result_ids for link in await strategy.kpi_links()}
    view = await strategy.lineage(objective_id)  # None: no such objective
    trees = (await strategy.forest(active_on=day)).objectives
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import httpx
from fastapi import Depends, Request

from shared.auth import CurrentPrincipal
from shared.clients.base import ServiceClient
from shared.contracts.strategy import KpiLink, KpiLinks, Level, ObjectiveForest, ObjectiveLineage, ObjectivePublic
from shared.pagination import Page


class StrategyClient(ServiceClient):
    service = "strategy"

    async def objectives_page(
        self,
        *,
        level: Level | None = None,
        parent_id: uuid.UUID | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[ObjectivePublic]:
        """One page of ``GET /v1/objectives``."""
        params = _filters(level, parent_id) | {"limit": str(limit) if limit else None, "cursor": cursor}
        return await self._page("/v1/objectives", params, Page[ObjectivePublic])

    async def objectives(
        self, *, level: Level | None = None, parent_id: uuid.UUID | None = None
    ) -> list[ObjectivePublic]:
        """Every objective matching the filters, in the service's order (pages of 500)."""
        return await self._every_page("/v1/objectives", _filters(level, parent_id), Page[ObjectivePublic])

    async def kpi_links(self, *, active_on: dt.date | None = None) -> list[KpiLink]:
        """Every KPI key that measures a key result (not archived, under an objective not archived;
        with ``active_on``, one whose period holds that day), with those key results and their
        objectives, ordered by key (``GET /v1/kpi-links``: complete, one call)."""
        params = httpx.QueryParams({"active_on": active_on.isoformat()} if active_on else {})
        return self._answer(await self._send("GET", "/v1/kpi-links", params=params), KpiLinks).items

    async def lineage(self, objective_id: uuid.UUID) -> ObjectiveLineage | None:
        """The objective with its progress and key results and its parent chain up to the root
        (``GET /v1/objectives/{id}/lineage``, one call), or ``None`` when there is no such objective."""
        response = await self._send("GET", f"/v1/objectives/{objective_id}/lineage")
        if response.status_code == 404:
            return None
        return self._answer(response, ObjectiveLineage)

    async def forest(self, *, active_on: dt.date | None = None, level: Level | None = None) -> ObjectiveForest:
        """Every objective active on ``active_on`` (default: the organisation's today), at ``level``
        when given, as trees with progress, key results and their latest check-in times
        (``GET /v1/objective-forest``: complete, one call)."""
        params = {"active_on": active_on.isoformat() if active_on else None, "level": level.value if level else None}
        sent = httpx.QueryParams({name: value for name, value in params.items() if value is not None})
        return self._answer(await self._send("GET", "/v1/objective-forest", params=sent), ObjectiveForest)


def _filters(level: Level | None, parent_id: uuid.UUID | None) -> dict[str, str | None]:
    return {"level": level.value if level else None, "parent_id": str(parent_id) if parent_id else None}


async def _strategy_client(request: Request, principal: CurrentPrincipal) -> StrategyClient:
    client: StrategyClient = request.app.state.strategy_client
    return client.acting_for(principal.key_id)


StrategyClientDep = Annotated[StrategyClient, Depends(_strategy_client)]
"""The process's :class:`StrategyClient`, acting for the caller of the request being served."""
