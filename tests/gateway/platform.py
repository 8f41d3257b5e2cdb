"""The whole platform for alignment tests: the three services and the gateway, each a real uvicorn
server on its own port over one real database, with every request each service receives recorded
(to count calls per view), and each service stoppable or slowed on its own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import ServiceIdentity, internal_token_authenticator
from shared.clients import KpiClient
from shared.db import Database
from shared.settings import Settings
from tests.auth import TEST_KEYS, TTL_SECONDS, verifier_for
from tests.gateway.conftest import Gateway, running_gateway
from tests.servers import serve

SERVICES = ("strategy", "kpi", "talent")


@dataclass
class Seen:
    service: str
    method: str
    path: str
    query: str
    request_id: str | None
    token: str | None


@dataclass
class Recorder:
    """An ASGI wrapper: records each request, and waits ``delay`` seconds before passing on those
    whose path starts with ``delayed``."""

    app: ASGIApp
    service: str
    seen: list[Seen]
    delay: float = 0.0
    delayed: str = "/v1/"
    failing: int | None = None  # answer every /v1/ request with this status instead

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            self.seen.append(
                Seen(
                    self.service,
                    scope["method"],
                    scope["path"],
                    scope.get("query_string", b"").decode(),
                    (headers.get(b"x-request-id") or b"").decode() or None,
                    (headers.get(b"x-internal-token") or b"").decode() or None,
                )
            )
            if self.delay and scope["path"].startswith(self.delayed):
                await asyncio.sleep(self.delay)
            if self.failing is not None:
                await send({"type": "http.response.start", "status": self.failing, "headers": []})
                await send({"type": "http.response.body", "body": b"broken"})
                return
        await self.app(scope, receive, send)


@dataclass
class Platform:
    gateway: Gateway
    seen: list[Seen]
    recorders: dict[str, Recorder]
    _stacks: dict[str, AsyncExitStack] = field(default_factory=dict)

    @property
    def admin(self) -> httpx.AsyncClient:
        return self.gateway.client

    def calls(self, service: str | None = None) -> list[Seen]:
        return [s for s in self.seen if service is None or s.service == service]

    def reset_calls(self) -> None:
        self.seen.clear()

    async def stop(self, service: str) -> None:
        """Stop that service's server: its port refuses connections from now on."""
        await self._stacks.pop(service).aclose()

    def slow(self, service: str, seconds: float, path: str = "/v1/") -> None:
        """Delay that service's answers to requests under ``path`` by ``seconds``."""
        self.recorders[service].delay = seconds
        self.recorders[service].delayed = path

    def fail(self, service: str, status: int | None) -> None:
        """Make that service answer every request with ``status`` (``None``: answer normally again)."""
        self.recorders[service].failing = status

    async def key(self, *scopes: str) -> httpx.AsyncClient:
        response = await self.admin.post("/v1/api-keys", json={"name": "alignment test", "scopes": list(scopes)})
        assert response.status_code == 201, response.text
        return self.gateway.as_key(response.json()["key"])

    async def post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = await self.admin.post(path, json=body)
        assert response.status_code == status, (path, response.text)
        answer: dict[str, Any] = response.json()
        return answer

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.admin.put(path, json=body)
        assert response.status_code == 200, (path, response.text)
        answer: dict[str, Any] = response.json()
        return answer


def _apps() -> dict[str, FastAPI]:
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    return {"strategy": strategy, "kpi": kpi, "talent": talent}


async def empty_database(engine: AsyncEngine) -> None:
    """Every table of the services' schemas emptied (the migration version tables kept). The platform
    commits: it empties them before it starts, and again once stopped, for the tests after it."""
    async with engine.begin() as connection:
        rows = await connection.execute(
            text(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('strategy', 'kpi', 'talent') "
                "AND tablename NOT LIKE 'alembic%'"
            )
        )
        tables = ", ".join(f'"{schema}"."{table}"' for schema, table in rows)
        if tables:
            await connection.execute(text(f"TRUNCATE {tables} CASCADE"))


@contextlib.asynccontextmanager
async def running_platform(
    database_url: str, admin_key: str, engine: AsyncEngine, **gateway_settings: object
) -> AsyncIterator[Platform]:
    await empty_database(engine)
    seen: list[Seen] = []
    apps = _apps()
    recorders = {name: Recorder(app, name, seen) for name, app in apps.items()}
    stacks: dict[str, AsyncExitStack] = {}
    urls: dict[str, str] = {}
    databases = []
    async with AsyncExitStack() as outer:
        for name, app in apps.items():
            database = Database(database_url, Settings())
            databases.append(database)
            app.state.database = database
            app.state.authenticator = internal_token_authenticator(verifier_for(name))
            stack = AsyncExitStack()
            stacks[name] = stack
            outer.push_async_callback(stack.aclose)
            urls[f"{name}_url"] = await stack.enter_async_context(serve(recorders[name]))
        strategy = apps["strategy"]
        identity = ServiceIdentity("strategy", TEST_KEYS["strategy"], TTL_SECONDS)
        strategy.state.kpi_client = KpiClient.create(Settings(kpi_url=urls["kpi_url"]), identity)
        try:
            # Set-up goes through the gateway too: a busy machine must not turn it into 504s.
            settings = {"upstream_read_timeout": 10.0, "upstream_connect_timeout": 2.0, **gateway_settings}
            async with running_gateway(database_url, admin_key, **urls, **settings) as gateway:
                yield Platform(gateway, seen, recorders, stacks)
        finally:
            await strategy.state.kpi_client.aclose()
            del strategy.state.kpi_client
            for app in apps.values():
                del app.state.database, app.state.authenticator
            for database in databases:
                await database.dispose()
    # What the platform committed must not be seen by the tests that share the database after it.
    await empty_database(engine)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
