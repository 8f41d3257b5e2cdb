"""The KPI service application: ``uvicorn services.kpi_service.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.kpi_service.config import SERVICE, get_settings
from services.kpi_service.router import router
from services.kpi_service.schemas import MeasurementBatch
from services.kpi_service.service import align_rollups_with_timezone
from shared.app import create_app
from shared.auth import internal_token_scheme

settings = get_settings()


@asynccontextmanager
async def rollup_timezone(app: FastAPI) -> AsyncIterator[None]:
    await align_rollups_with_timezone(app.state.database, settings)
    yield


app = create_app(
    service=SERVICE,
    title="Pilotage KPI service",
    description="KPI definitions, targets, measurements, status, trends and rollups.",
    settings=settings,
    routers=[router],
    lifespans=[rollup_timezone],
    security=internal_token_scheme,
    extra_schemas=[MeasurementBatch],
)
