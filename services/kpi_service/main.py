"""The KPI service application: ``uvicorn services.kpi_service.main:app``."""

from __future__ import annotations

from services.kpi_service.config import SERVICE, get_settings
from services.kpi_service.router import router
from shared.app import create_app
from shared.auth import internal_token_scheme

app = create_app(
    service=SERVICE,
    title="Pilotage KPI service",
    description="KPI definitions, targets, measurements, status, trends and rollups.",
    settings=get_settings(),
    routers=[router],
    security=internal_token_scheme,
)
