"""The strategy service application: ``uvicorn services.strategy_service.main:app``."""

from __future__ import annotations

from services.strategy_service.config import SERVICE, get_settings
from services.strategy_service.router import router
from shared.app import create_app
from shared.auth import internal_token_scheme

app = create_app(
    service=SERVICE,
    title="Pilotage strategy service",
    description="Objectives, key results, check-ins and progress.",
    settings=get_settings(),
    routers=[router],
    security=internal_token_scheme,
)
