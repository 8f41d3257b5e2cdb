"""The gateway application: ``uvicorn services.gateway.main:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from services.gateway.authentication import AuthenticationMiddleware
from services.gateway.config import ROUTES, SERVICE, GatewaySettings, get_settings
from services.gateway.openapi import PlatformDocument
from services.gateway.proxy import ProxyMiddleware, RouteTable
from services.gateway.readiness import service_readiness_check
from services.gateway.router import router
from services.gateway.runtime import GatewayRuntime
from services.gateway.views import router as alignment_router
from shared.app import create_app
from shared.auth import authenticated_upstream, bearer_scheme

PLATFORM_OPENAPI = "/openapi.json"


def build_app(settings: GatewaySettings) -> FastAPI:
    routes = RouteTable(ROUTES, settings.service_urls)
    runtime = GatewayRuntime(settings)

    @asynccontextmanager
    async def gateway_runtime(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start(app.state.database)
        for upstream in routes.upstreams:
            app.state.readiness_checks[upstream.name] = service_readiness_check(runtime.pool, upstream)
        app.state.breakers = {client.service: client.breaker_state for client in runtime.clients}
        try:
            yield
        finally:
            await runtime.stop()

    app = create_app(
        service=SERVICE,
        title="Pilotage",
        description=(
            "The single entry point of Pilotage: strategy objectives, the KPIs that measure them and the "
            "talent that delivers them. Every route but health takes `Authorization: Bearer <API key>`."
        ),
        settings=settings,
        routers=[router, alignment_router],
        lifespans=[gateway_runtime],
        security=bearer_scheme,
        verify_internal_tokens=False,
        # Listed innermost first: CORS answers preflights before authentication is asked for.
        middleware=[
            (ProxyMiddleware, {"routes": routes, "runtime": runtime}),
            (AuthenticationMiddleware, {"runtime": runtime}),
            (
                CORSMiddleware,
                {
                    "allow_origins": settings.cors_origins,
                    "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                    "allow_headers": ["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "X-Request-Id"],
                    "expose_headers": [
                        "ETag",
                        "Location",
                        "Retry-After",
                        "X-Request-Id",
                        "RateLimit-Limit",
                        "RateLimit-Remaining",
                        "RateLimit-Reset",
                    ],
                },
            ),
        ],
    )
    app.state.runtime = runtime
    app.state.authenticator = authenticated_upstream
    document = PlatformDocument(app.openapi, routes, runtime.pool)

    async def platform_openapi(_: Request) -> Response:
        return Response(await document.render(), media_type="application/json")

    async def platform_docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=PLATFORM_OPENAPI, title="Pilotage API")

    # The platform's document replaces the gateway's own at the usual paths.
    app.router.routes[:0] = [
        Route(PLATFORM_OPENAPI, platform_openapi, include_in_schema=False),
        Route("/docs", platform_docs, include_in_schema=False),
    ]
    return app


app = build_app(get_settings())
