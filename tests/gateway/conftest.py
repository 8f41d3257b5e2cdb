from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.config import GatewaySettings
from services.gateway.keys import generate_key
from services.gateway.main import build_app
from services.gateway.runtime import GatewayRuntime
from tests.auth import key_file_settings
from tests.servers import serve


@dataclass
class Gateway:
    url: str
    app: FastAPI
    admin_key: str
    client: httpx.AsyncClient  # authenticated as the admin key

    @property
    def runtime(self) -> GatewayRuntime:
        runtime: GatewayRuntime = self.app.state.runtime
        return runtime

    def as_key(self, key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers)


@pytest.fixture(scope="session")
def admin_key() -> str:
    return generate_key().full


@contextlib.asynccontextmanager
async def running_gateway(database_url: str, admin_key: str, **overrides: object) -> AsyncIterator[Gateway]:
    """A real gateway (uvicorn, lifespan, database) signing with the test gateway key."""
    values: dict[str, object] = {
        "database_url": database_url,
        **key_file_settings("gateway"),
        "bootstrap_admin_key": admin_key,
        "upstream_read_timeout": 0.5,
        "upstream_connect_timeout": 0.5,
        "audit_flush_seconds": 0.05,
    }
    values.update(overrides)
    app = build_app(GatewaySettings(**values))  # type: ignore[arg-type]
    async with serve(app, lifespan="on", settings=app.state.settings) as url:
        headers = {"Authorization": f"Bearer {admin_key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as client:
            yield Gateway(url, app, admin_key, client)
