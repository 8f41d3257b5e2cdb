"""Prometheus metrics of every process, served at ``/metrics`` (prometheus-client).

:class:`RequestMetricsMiddleware` is pure ASGI: it counts each request by route template (never the
raw path, so ids do not explode the label set), method and status, times it, tracks the requests in
progress, and writes one structured access record per request. What a process holds rather than
counts — its database pools and the circuit breaker of each dependency — is read when scraped.

With several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` (set by ``pilotage.serve``) makes every
worker write its samples to a shared folder and a scrape sums them; pool and breaker figures are
those of the worker that answers the scrape (labelled with its ``pid``)::

    PILOTAGE_METRICS=open    # default: anyone who reaches the port (loopback in development)
    PILOTAGE_METRICS=token   # Authorization: Bearer $PILOTAGE_METRICS_TOKEN
    PILOTAGE_METRICS=off     # no /metrics route
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as render_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import principal_of

if TYPE_CHECKING:
    from fastapi import FastAPI

    from shared.settings import Settings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
ROUTE_STATE = "pilotage.route"
"""Scope key a middleware that answers before routing (the gateway's proxy) sets to the label it
wants, e.g. ``proxied:kpi``."""
UNMATCHED = "unmatched"

access_log = logging.getLogger("pilotage.access")

HTTP_REQUESTS = Counter(
    "pilotage_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "pilotage_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["service", "route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_IN_PROGRESS = Gauge(
    "pilotage_http_requests_in_progress",
    "Requests being handled now.",
    ["service"],
    multiprocess_mode="livesum",
)
POINTS_INGESTED = Counter(
    "pilotage_points_ingested",
    "Measurement points accepted, by what the write did to each.",
    ["outcome"],
)
STATUS_EVENTS = Counter("pilotage_status_events", "KPI status changes recorded, by cause.", ["cause"])
HR_PUBLICATIONS = Counter(
    "pilotage_hr_publications",
    "HR indicator publications to the KPI service, by outcome.",
    ["outcome"],
)

_BREAKER_VALUES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


class ProcessCollector(Collector):
    """What one process holds, read at scrape time: database pool use and dependency breakers."""

    def __init__(self, app: FastAPI, service: str) -> None:
        self._app = app
        self._service = service

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pid = str(os.getpid())
        pools = GaugeMetricFamily(
            "pilotage_db_pool_connections",
            "Connections of the process's database pools, by pool and state.",
            labels=["service", "pid", "pool", "state"],
        )
        database = getattr(self._app.state, "database", None)
        if database is not None:
            for pool, state, value in database.pool_use():
                pools.add_metric([self._service, pid, pool, state], value)
        yield pools
        breakers = GaugeMetricFamily(
            "pilotage_breaker_state",
            "Circuit breaker in front of each dependency: 0 closed, 1 half open, 2 open.",
            labels=["service", "pid", "dependency"],
        )
        reports: Mapping[str, Callable[[], Any]] = getattr(self._app.state, "breakers", {})
        for dependency, report in sorted(reports.items()):
            breakers.add_metric([self._service, pid, dependency], _BREAKER_VALUES[str(report().state)])
        yield breakers


def scrape_registry(app: FastAPI, service: str) -> CollectorRegistry:
    """The registry a scrape renders: this process's, or every worker's when several share a folder."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(ProcessCollector(app, service))
    return registry


class _Default(Collector):
    """The process-wide default registry (counters, histograms, process and GC figures), re-exposed
    so that a per-app registry can add the per-app collector without touching the global one."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def metrics_route(app: FastAPI, service: str, settings: Settings) -> Route | None:
    """``GET /metrics`` as ``PILOTAGE_METRICS`` says: open, behind a bearer token, or absent."""
    if settings.metrics == "off":
        return None
    registry = scrape_registry(app, service)
    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    async def metrics(request: Request) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(given, token):
                return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)

    return Route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)


def route_label(scope: Scope) -> str:
    """The route template that answered, or what an earlier middleware named, never the raw path."""
    named: str | None = scope.get(ROUTE_STATE)
    if named:
        return named
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, service: str, access_log_enabled: bool) -> None:
        self.app = app
        self.service = service
        self.access_log_enabled = access_log_enabled
        self.in_progress = HTTP_IN_PROGRESS.labels(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.in_progress.dec()
            elapsed = time.perf_counter() - started
            route = route_label(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()
            HTTP_DURATION.labels(self.service, route, method).observe(elapsed)
            if self.access_log_enabled:
                principal = principal_of(scope)
                access_log.info(
                    "%s %s %d",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "key_id": principal.key_id if principal else None,
                    },
                )
