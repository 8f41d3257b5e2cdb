"""The strategy service application: ``uvicorn services.strategy_service.main:app``."""

from __future__ import annotations

from services.strategy_service.config import SERVICE, get_settings
from services.strategy_service.initiatives.router import router as initiatives_router
from services.strategy_service.router import router
from shared.app import create_app
from shared.auth import Scope, internal_token_scheme
from shared.clients import KpiClient
from shared.clients.lifespan import client_lifespan

app = create_app(
    service=SERVICE,
    title="Pilotage strategy service",
    description="Objectives, key results, check-ins and progress; initiatives and their effect.",
    settings=get_settings(),
    routers=[router, initiatives_router],
    # Progress of KPI-linked key results is read live: the service signs as itself, scope kpi:read.
    lifespans=[client_lifespan(KpiClient, Scope.kpi_read)],
    security=internal_token_scheme,
)
