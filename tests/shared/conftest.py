"""Fixtures of the typed-client tests: the real KPI app bound to the test database, tokens signed
with the suite's keys, and ASGI wrappers that count what reaches a server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import INTERNAL_TOKEN_HEADER
from shared.clients import KpiClient, TokenSource
from shared.settings import Settings
from tests.auth import token
from tests.conftest import bind_app


def tokens(*scopes: str, key_id: str = "testkey01") -> TokenSource:
    """A token source forwarding ``key_id`` with ``scopes`` as the gateway does: the client tests are
    about the client, not about what a service's own identity may carry (tests/test_service_auth.py)."""
    return lambda audience, _act: token(audience, *scopes, key_id=key_id)


def client_settings(**overrides: object) -> Settings:
    """Quick failures for tests: short timeouts, no retries unless a test asks."""
    values: dict[str, object] = {
        "upstream_retries": 0,
        "upstream_retry_backoff": 0.01,
        "upstream_connect_timeout": 0.5,
        "upstream_deadline": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Recorder:
    """Pure-ASGI pass-through recording every HTTP request that reaches ``app``."""

    app: ASGIApp
    requests: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
            url = f"http://server{scope['path']}?{scope['query_string'].decode()}"
            self.requests.append(httpx.Request(scope["method"], url, headers=headers))
        await self.app(scope, receive, send)


@pytest.fixture
async def kpi_app(database_url: str, connection: AsyncConnection) -> AsyncIterator[FastAPI]:
    """The real KPI service app on the test's transaction, trusting the suite's signing key."""
    from services.kpi_service.main import app

    bind_app(app, database_url, connection)
    yield app
    del app.state.database
    del app.state.authenticator


@pytest.fixture
def kpi_recorder(kpi_app: FastAPI) -> Recorder:
    return Recorder(kpi_app)


@pytest.fixture
async def kpi(kpi_recorder: Recorder) -> AsyncIterator[KpiClient]:
    """A KpiClient calling the real KPI app in-process, with the scopes of every KPI operation."""
    transport = httpx.ASGITransport(app=kpi_recorder)
    client = KpiClient.create(
        client_settings(),
        tokens("kpi:read", "kpi:write", "measurements:write"),
        base_url="http://kpi",
        transport=transport,
    )
    async with client:
        yield client


def token_header(request: httpx.Request) -> str:
    return request.headers[INTERNAL_TOKEN_HEADER]
