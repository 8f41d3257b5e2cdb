"""Clients created in the app's lifespan, used through ``KpiClientDep``, reported in ``/readyz``
and closed at shutdown: a real caller app in uvicorn calling the real KPI app in uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI, Query
from starlette.types import Receive, Send
from starlette.types import Scope as Scope_

from shared.app import create_app
from shared.auth import (
    INTERNAL_TOKEN_HEADER,
    ConfigurationError,
    Scope,
    ServiceIdentity,
    internal_token_authenticator,
    internal_token_scheme,
)
from shared.clients import KpiClient, KpiClientDep, client_lifespan
from shared.contracts.kpi import KpiStatus
from tests.auth import TEST_KEYS, token, verifier_for
from tests.servers import free_port, serve
from tests.shared.conftest import client_settings, tokens
from tests.shared.test_clients import kpi_create

router = APIRouter(prefix="/v1", tags=["probe"])


@router.get("/kpi-status")
async def kpi_status(kpi: KpiClientDep, key: Annotated[str, Query()]) -> list[KpiStatus]:
    return await kpi.statuses([key])


def caller_app(kpi_url: str, *scopes: Scope, **settings: object) -> FastAPI:
    """The strategy service's way of calling the KPI service (``kpi:read``, signed as itself), built
    the way a service's main.py is, around a probe route."""
    app = create_app(
        service="strategy",
        title="probe",
        description="",
        settings=client_settings(kpi_url=kpi_url, **settings),
        routers=[router],
        uses_database=False,
        security=internal_token_scheme,
        lifespans=[client_lifespan(KpiClient, *(scopes or (Scope.kpi_read,)))],
    )
    app.state.authenticator = internal_token_authenticator(verifier_for("strategy"))
    app.state.identity = ServiceIdentity("strategy", TEST_KEYS["strategy"], ttl_seconds=60)
    return app


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    headers = {INTERNAL_TOKEN_HEADER: token("strategy")}  # a caller with the key id testkey01
    async with serve(app, lifespan="on") as url, httpx.AsyncClient(base_url=url, headers=headers) as client:
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
    assert seen == [("kpi", "testkey01")]  # the key id in the caller's token


async def test_calls_are_signed_as_the_service_for_the_caller(kpi_app: FastAPI) -> None:
    seen: list[str] = []

    async def remember(scope: Scope_, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(dict(scope["headers"])[INTERNAL_TOKEN_HEADER.encode()].decode())
        await kpi_app(scope, receive, send)

    async with serve(remember) as kpi_url, running(caller_app(kpi_url)) as caller:
        await caller.get("/v1/kpi-status", params={"key": "ops.anything"})
    claims = jwt.decode(seen[-1], TEST_KEYS["strategy"].public_key(), algorithms=["EdDSA"], audience="kpi")
    assert (claims["iss"], claims["sub"], claims["scopes"], claims["act"]) == (
        "strategy",
        "strategy",
        ["kpi:read"],
        "testkey01",
    )


async def test_start_up_refuses_scopes_the_services_policy_does_not_grant() -> None:
    app = caller_app(f"http://127.0.0.1:{free_port()}", Scope.kpi_write)
    with pytest.raises(ConfigurationError, match="may not call kpi"):
        async with app.router.lifespan_context(app):
            pass
