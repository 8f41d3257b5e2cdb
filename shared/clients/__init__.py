"""Typed clients of the Pilotage services: how one service calls another.

One class per service, one method per call, contract models in and out (:mod:`shared.contracts`);
batch methods chunk at the route's limit instead of calling once per item. Failures come back as
problem+json errors naming the dependency (see :mod:`shared.clients.base`)::

    app = create_app(..., lifespans=[client_lifespan(KpiClient, Scope.kpi_read)])

    @router.get("/objectives/{id}")
    async def get_objective(kpi: KpiClientDep, ...) -> ObjectiveView:
        statuses = await kpi.statuses(keys)  # 503/504 naming "kpi" if it is down or slow
"""

from shared.clients.base import ServiceClient, TokenSource
from shared.clients.kpi import KpiClient, KpiClientDep
from shared.clients.lifespan import client_lifespan, service_token_source
from shared.clients.strategy import StrategyClient, StrategyClientDep
from shared.clients.talent import TalentClient, TalentClientDep

__all__ = [
    "KpiClient",
    "KpiClientDep",
    "ServiceClient",
    "StrategyClient",
    "StrategyClientDep",
    "TalentClient",
    "TalentClientDep",
    "TokenSource",
    "client_lifespan",
    "service_token_source",
]
