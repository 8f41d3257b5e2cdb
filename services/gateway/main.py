"""The gateway application: ``uvicorn services.gateway.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.gateway.config import ROUTES, SERVICE, GatewaySettings, get_settings
from services.gateway.proxy import ProxyMiddleware, RouteTable, UpstreamPool
from services.gateway.readiness import service_readiness_check
from shared.app import create_app


def build_app(settings: GatewaySettings) -> FastAPI:
    routes = RouteTable(ROUTES, settings.service_urls)
    pool = UpstreamPool(settings)

    @asynccontextmanager
    async def upstreams(app: FastAPI) -> AsyncIterator[None]:
        await pool.start()
        for upstream in routes.upstreams:
            app.state.readiness_checks[upstream.name] = service_readiness_check(pool, upstream)
        try:
            yield
        finally:
            await pool.close()

    return create_app(
        service=SERVICE,
        title="Pilotage",
        description=(
            "The single entry point of Pilotage: strategy objectives, the KPIs that measure them and the "
            "talent that delivers them."
        ),
        settings=settings,
        routers=[],
        lifespans=[upstreams],
        uses_database=False,
        middleware=[(ProxyMiddleware, {"routes": routes, "pool": pool})],
    )


app = build_app(get_settings())
