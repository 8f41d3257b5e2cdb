"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: its checks pass).

A service registers readiness checks by name on ``app.state.readiness_checks``; each is an async
callable that raises when its dependency is not usable. The database check is registered by
:func:`shared.app.create_app`. ``/readyz`` is unauthenticated, so its checks run at most once per
``readiness_cache_seconds``: concurrent callers wait for the run in progress, later ones reuse its
answer.

A process that calls other services reports the circuit breaker of each in ``dependencies``
(registered on ``app.state.breakers`` by :mod:`shared.clients`): detail for operators only, since a
dependency that is down does not stop this process from serving what it can.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

logger = logging.getLogger("pilotage.health")

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 3.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    service: str


class CheckStatus(StrEnum):
    ok = "ok"
    failing = "failing"


class ReadinessStatus(StrEnum):
    ready = "ready"
    not_ready = "not_ready"


class CheckResult(BaseModel):
    status: CheckStatus
    detail: str | None = None


class CircuitState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class BreakerState(BaseModel):
    """The circuit breaker in front of one dependency."""

    state: CircuitState = Field(
        description="`open`: calls are answered 503 without reaching it; `half_open`: the next call is a probe."
    )
    failures: int = Field(description="Consecutive failures counted while closed.")
    retry_in: float | None = Field(description="Seconds until an open breaker lets a probe through.")


BreakerReport = Callable[[], BreakerState]


class Readiness(BaseModel):
    status: ReadinessStatus
    service: str
    checks: dict[str, CheckResult]
    dependencies: dict[str, BreakerState] = Field(
        default_factory=dict, description="Circuit breaker of each service this one calls; does not affect `status`."
    )


async def _run_check(check: ReadinessCheck) -> CheckResult:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await check()
    except Exception as exc:  # any failure means "not ready"; the reason is reported, not raised
        # The reason goes to the log; the unauthenticated answer names only the kind of failure.
        logger.warning("readiness check failed: %r", exc)
        return CheckResult(status="failing", detail=exc.__class__.__name__)
    return CheckResult(status="ok")


async def run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, CheckResult]:
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


class ReadinessCache:
    """One run of the checks at a time, its answer reused for ``ttl`` seconds (single flight)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._answer: dict[str, CheckResult] | None = None
        self._expires = 0.0
        self._running: asyncio.Task[dict[str, CheckResult]] | None = None

    async def results(self, checks: dict[str, ReadinessCheck]) -> dict[str, CheckResult]:
        if self._answer is not None and time.monotonic() < self._expires:
            return self._answer
        if self._running is None:
            self._running = asyncio.ensure_future(self._run(checks))
        # Shielded: a caller that leaves does not cancel the run the others wait for.
        return await asyncio.shield(self._running)

    async def _run(self, checks: dict[str, ReadinessCheck]) -> dict[str, CheckResult]:
        try:
            answer = await run_checks(checks)
            self._answer, self._expires = answer, time.monotonic() + self.ttl
            return answer
        finally:
            self._running = None


def health_router(service: str) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health, summary="Liveness: the process answers.")
    async def healthz() -> Health:
        return Health(service=service)

    @router.get(
        "/readyz",
        response_model=Readiness,
        summary="Readiness: every dependency answers.",
        responses={503: {"model": Readiness, "description": "A dependency is failing."}},
    )
    async def readyz(request: Request, response: Response) -> Readiness:
        state = request.app.state
        cache: ReadinessCache | None = getattr(state, "readiness_cache", None)
        if cache is None:
            cache = state.readiness_cache = ReadinessCache(state.settings.readiness_cache_seconds)
        results = await cache.results(state.readiness_checks)
        ready = all(r.status is CheckStatus.ok for r in results.values())
        if not ready:
            response.status_code = 503
            response.headers["Retry-After"] = "2"
        breakers: dict[str, BreakerReport] = getattr(request.app.state, "breakers", {})
        return Readiness(
            status=ReadinessStatus.ready if ready else ReadinessStatus.not_ready,
            service=service,
            checks=results,
            dependencies={name: report() for name, report in breakers.items()},
        )

    return router
