"""The talent service application: ``uvicorn services.talent_service.main:app``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.talent_service.capability.router import router as capability_router
from services.talent_service.config import SERVICE, TalentSettings, get_settings
from services.talent_service.engagement.router import router as engagement_router
from services.talent_service.engagement.schemas import EngagementResponseBatch
from services.talent_service.publishing import service as publishing
from services.talent_service.publishing.router import router as publishing_router
from services.talent_service.router import router
from services.talent_service.schemas import PeopleBatch
from shared.app import create_app
from shared.auth import Scope, internal_token_scheme
from shared.clients import KpiClient
from shared.clients.lifespan import client_lifespan


@asynccontextmanager
async def hr_publishing(app: FastAPI) -> AsyncIterator[None]:
    """Publish the HR indicators to the KPI service periodically (``hr_publish_interval_seconds``;
    0 disables it), in a background task that logs its failures and never stops the service."""
    settings: TalentSettings = app.state.settings
    if settings.hr_publish_interval_seconds == 0:
        yield
        return
    client: KpiClient = app.state.kpi_client
    job = publishing.publish_forever(app.state.database, client.acting_for(publishing.JOB), settings)
    task = asyncio.create_task(job, name="hr-publish")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


app = create_app(
    service=SERVICE,
    title="Pilotage talent service",
    description="Org units, people, skills, trainings, engagement and HR indicators.",
    settings=get_settings(),
    routers=[router, capability_router, engagement_router, publishing_router],
    # HR indicators are published as hr.* KPIs: the service signs as itself, kpi:write + measurements:write.
    lifespans=[client_lifespan(KpiClient, Scope.kpi_write, Scope.measurements_write), hr_publishing],
    security=internal_token_scheme,
    extra_schemas=[PeopleBatch, EngagementResponseBatch],
)
