"""Clients created in the app's lifespan, used through ``KpiClientDep``, reported in ``/readyz``
and closed at shutdown: a real caller app in uvicorn calling the real KPI app in uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, Query

from shared.app import create_app
from shared.auth import Scope, TokenVerifier, internal_token_authenticator, internal_token_scheme
from shared.clients import KpiClient, KpiClientDep, client_lifespan
from shared.contracts.kpi import KpiStatus
from tests.auth import TEST_SECRET
from tests.probe import HEADERS
from tests.servers import free_port, serve
from tests.shared.conftest import client_settings, tokens
from tests.shared.test_clients import kpi_create

router = APIRouter(prefix="/v1", tags=["probe"])


@router.get("/kpi-status")
async def kpi_status(kpi: KpiClientDep, key: Annotated[str, Query()]) -> list[KpiStatus]:
    return await kpi.statuses([key])


def caller_app(kpi_url: str, **settings: object) -> FastAPI:
    """A service that calls the KPI service with ``kpi:read``, built the way a service's main.py is."""
    app = create_app(
        service="probe",
        title="probe",
        description="",
        settings=client_settings(kpi_url=kpi_url, **settings),
        routers=[router],
        uses_database=False,
        security=internal_token_scheme,
        lifespans=[client_lifespan(KpiClient, Scope.kpi_read)],
    )
    app.state.authenticator = internal_token_authenticator(TokenVerifier(TEST_SECRET, audience="probe"))
    return app


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app, lifespan="on") as url, httpx.AsyncClient(base_url=url, headers=HEADERS) as client:
        yield client


async def test_a_service_calls_the_kpi_service_through_its_lifespan_client(kpi_app: FastAPI, kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("lifespan.linked"))
    async with serve(kpi_app) as kpi_url:
        app = caller_app(kpi_url)
        async with running(app) as caller:
            client: KpiClient = app.state.kpi_client
            answer = await caller.get("/v1/kpi-status", params={"key": "lifespan.linked"})
            assert answer.status_code == 200, answer.text
            assert answer.json()[0]["kpi"] == "lifespan.linked"
            # Uncaught, the KPI service's 404 is the caller's 502 saying what it said.
            unknown = await caller.get("/v1/kpi-status", params={"key": "lifespan.ghost"})
            assert unknown.status_code == 502
            body = unknown.json()
            assert (body["source"], body["dependency_status"]) == ("kpi", 404)
            assert body["dependency_problem"]["errors"][0]["code"] == "unknown_kpi"
            assert "lifespan.ghost" in body["detail"]
            ready = await caller.get("/readyz")
            assert ready.json()["dependencies"] == {"kpi": {"state": "closed", "failures": 0, "retry_in": None}}
    assert client.closed
    assert not hasattr(app.state, "kpi_client")
    assert app.state.breakers == {}


async def test_readyz_shows_an_open_breaker_and_stays_ready() -> None:
    app = caller_app(f"http://127.0.0.1:{free_port()}", breaker_failures=2, breaker_reset_seconds=60)
    async with running(app) as caller:
        for _ in range(3):
            answer = await caller.get("/v1/kpi-status", params={"key": "ops.anything"})
            assert answer.status_code == 503
            assert answer.json()["source"] == "kpi"
            assert "retry-after" in answer.headers
        ready = await caller.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready"
        assert body["dependencies"]["kpi"]["state"] == "open"
        assert 58 < body["dependencies"]["kpi"]["retry_in"] <= 60


async def test_the_client_acts_for_the_caller_of_the_request() -> None:
    seen: list[tuple[str, str | None]] = []
    signed = tokens("kpi:read")

    def recording(audience: str, act: str | None) -> str:
        seen.append((audience, act))
        return signed(audience, act)

    app = caller_app(f"http://127.0.0.1:{free_port()}")
    app.state.token_source = recording
    async with running(app) as caller:
        await caller.get("/v1/kpi-status", params={"key": "ops.anything"})
    assert seen == [("kpi", "testkey01")]  # the key id in the caller's token (tests.probe.HEADERS)
