"""The talent service application: ``uvicorn services.talent_service.main:app``."""

from __future__ import annotations

from services.talent_service.capability.router import router as capability_router
from services.talent_service.config import SERVICE, get_settings
from services.talent_service.router import router
from services.talent_service.schemas import PeopleBatch
from shared.app import create_app
from shared.auth import internal_token_scheme

app = create_app(
    service=SERVICE,
    title="Pilotage talent service",
    description="Org units, people, skills, trainings, engagement and HR indicators.",
    settings=get_settings(),
    routers=[router, capability_router],
    security=internal_token_scheme,
    extra_schemas=[PeopleBatch],
)
