"""The KPI service application: ``uvicorn services.kpi_service.main:app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.kpi_service import service
from services.kpi_service.config import SERVICE, KpiSettings, get_settings
from services.kpi_service.router import router
from services.kpi_service.schemas import MeasurementBatch
from shared.app import create_app
from shared.auth import internal_token_scheme


@asynccontextmanager
async def rollup_timezone(app: FastAPI) -> AsyncIterator[None]:
    await service.align_rollups_with_timezone(app.state.database, app.state.settings)
    yield


@asynccontextmanager
async def stale_sweep(app: FastAPI) -> AsyncIterator[None]:
    """Staleness happens by the clock: a background task records it (reads never write)."""
    settings: KpiSettings = app.state.settings
    task = asyncio.create_task(service.sweep_stale_forever(app.state.database, settings), name="stale-sweep")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


app = create_app(
    service=SERVICE,
    title="Pilotage KPI service",
    description="KPI definitions, targets, measurements, status, trends and rollups.",
    settings=get_settings(),
    routers=[router],
    lifespans=[rollup_timezone, stale_sweep],
    security=internal_token_scheme,
    extra_schemas=[MeasurementBatch],
)
