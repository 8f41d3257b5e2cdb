"""``create_app()``: the one way a Pilotage service builds its FastAPI application.

It wires what every service needs so that no service can forget it: problem+json errors, request
ids, metrics and access records, the body limit, health and readiness, the database (engine
created at start-up, disposed at shutdown), operation ids of the form ``tag:name``, and the shared
OpenAPI error responses.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.auth import ISSUERS, authenticate, internal_token_authenticator
from shared.db import Database
from shared.embedded_postgres import resolve_database_url
from shared.errors import FieldError, Problem, UnprocessableContent, install_problem_handlers, problem_responses
from shared.health import health_router
from shared.limits import BodyLimitMiddleware
from shared.metrics import RequestMetricsMiddleware, metrics_route
from shared.observability import RequestIdMiddleware, configure_logging
from shared.scope_gate import ScopeGate
from shared.settings import Settings
from shared.token_keys import service_identity, token_verifier

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

VERSION = "0.1.0"


def operation_id(route: APIRoute) -> str:
    """``tag:name`` — stable, unique and readable in generated clients (``kpis:get_kpi``)."""
    if not route.tags:
        raise ValueError(f"route {route.path} has no tag")
    return f"{route.tags[0]}:{route.name}"


async def open_database(settings: Settings, service: str) -> Database:
    url = await asyncio.to_thread(resolve_database_url, settings.database_url, settings.data_dir)
    return Database(url, settings, application_name=f"pilotage-{service}")


async def refuse_nul_parameters(request: Request) -> None:
    """PostgreSQL cannot store or compare text holding a NUL character: refuse it in any query or
    path parameter with a 422 naming the parameter (bodies are checked by their models)."""
    errors = [
        FieldError(location=location, parameter=name, message="Contains a NUL character.", code="nul_character")
        for location, items in (("path", request.path_params.items()), ("query", request.query_params.multi_items()))
        for name, value in items
        if isinstance(value, str) and "\x00" in value
    ]
    if errors:
        raise UnprocessableContent("A parameter contains a NUL character.", errors=errors)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without the ``null`` FastAPI writes for an optional one: a parameter is
    absent or a string, never JSON null (and clients and fuzzers would otherwise send ``null``)."""
    alternatives = schema.get("anyOf")
    if not isinstance(alternatives, list) or {"type": "null"} not in alternatives:
        return schema
    rest = [a for a in alternatives if a != {"type": "null"}]
    others = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**rest[0], **others} if len(rest) == 1 else {**others, "anyOf": rest}


def _finish_document(app: FastAPI, models: Sequence[type[BaseModel]]) -> None:
    """Add models to ``components/schemas`` that routes reference by hand: the problem details every
    error response names, and bodies a route parses itself, for speed, but documents for clients.
    And say of optional parameters that they may be left out, not that they may be null."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            _, definitions = models_json_schema(
                [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
            )
            spec.setdefault("components", {}).setdefault("schemas", {}).update(definitions.get("$defs", {}))
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    for parameter in operation.get("parameters", ()):
                        if "schema" in parameter:
                            parameter["schema"] = _without_null(parameter["schema"])
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    *,
    service: str,
    title: str,
    description: str,
    settings: Settings,
    routers: Sequence[APIRouter],
    lifespans: Sequence[Lifespan] = (),
    uses_database: bool = True,
    middleware: Sequence[tuple[Any, dict[str, Any]]] = (),
    security: Callable[..., Any],
    verify_internal_tokens: bool = True,
    extra_schemas: Sequence[type[BaseModel]] = (),
) -> FastAPI:
    """Build a service app. Every route of ``routers`` requires authentication (deny by default):
    ``security`` is the scheme OpenAPI declares, and the caller is established by
    ``app.state.authenticator`` — internal-token verification unless ``verify_internal_tokens`` is
    false (the gateway authenticates API keys itself). A service's ``app.state.identity`` (a
    :class:`~shared.auth.ServiceIdentity`) signs the calls it makes to other services; both need
    their keys at start-up (``shared.token_keys``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, service, settings.effective_log_format)
        async with AsyncExitStack() as stack:
            # Keys first: a missing or exposed key stops start-up before anything else is opened.
            if verify_internal_tokens and getattr(app.state, "authenticator", None) is None:
                app.state.authenticator = internal_token_authenticator(token_verifier(settings, service))
            if verify_internal_tokens and service in ISSUERS and getattr(app.state, "identity", None) is None:
                app.state.identity = service_identity(settings, service)  # signs this service's own calls
            if uses_database:
                if getattr(app.state, "database", None) is None:  # tests bind their own beforehand
                    app.state.database = await open_database(settings, service)
                    stack.callback(delattr, app.state, "database")  # a later start opens a new one
                    stack.push_async_callback(app.state.database.dispose)
                app.state.readiness_checks.setdefault("database", app.state.database.ping)
            for extra in lifespans:
                await stack.enter_async_context(extra(app))
            # What start-up made lives as long as the process: keep it out of the collector's full
            # passes, which otherwise pause request handling for tens of milliseconds (the p99).
            gc.collect()
            gc.freeze()
            yield

    switch = settings.telemetry
    app = FastAPI(
        telemetry={"tracing": switch, "metrics": switch, "logs": switch},
        title=title,
        description=description,
        version=VERSION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        responses=problem_responses(400, 413, 422, 500),
        openapi_url="/openapi.json",
    )
    _finish_document(app, [Problem, *extra_schemas])
    app.state.settings = settings
    app.state.service = service
    app.state.readiness_checks = {}
    install_problem_handlers(app)
    app.include_router(health_router(service))
    scrape = metrics_route(app, service, settings)
    if scrape is not None:
        app.router.routes.append(scrape)
    for router in routers:
        app.include_router(
            router,
            dependencies=[Security(security), Depends(authenticate), Depends(refuse_nul_parameters)],
            responses=problem_responses(401, 403, 503),
        )
    app.add_middleware(ScopeGate)  # innermost: 401/403 before a body is read
    for cls, options in middleware:
        app.add_middleware(cls, **options)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, read_timeout=settings.body_read_timeout_seconds
    )
    app.add_middleware(RequestMetricsMiddleware, service=service, access_log_enabled=settings.access_log)
    app.add_middleware(RequestIdMiddleware)
    return app
