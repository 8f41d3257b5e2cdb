"""A service survives its database restarting, without being restarted itself: clean 503s while the
database is away, and service again as soon as it is back (DESIGN §5)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pilotage import migrate
from services.kpi_service.main import app
from shared.auth import INTERNAL_TOKEN_HEADER, internal_token_authenticator
from shared.db import Database
from shared.embedded_postgres import embedded_server_url, stop_embedded_server
from shared.settings import Settings
from tests.auth import token, verifier_for


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Path]:
    """A PostgreSQL of this test's own, which it may stop and start at will."""
    try:
        yield tmp_path
    finally:
        stop_embedded_server(tmp_path)


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    return await client.get(path, headers={INTERNAL_TOKEN_HEADER: token("kpi", "kpi:read")})


async def test_requests_fail_cleanly_while_the_database_is_away_then_recover(own_server: Path) -> None:
    url = await asyncio.to_thread(embedded_server_url, own_server)
    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(url, Settings(db_connect_timeout=2))
    app.state.database = database
    app.state.authenticator = internal_token_authenticator(verifier_for("kpi"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/v1/kpis", "/v1/kpi-statuses?kpi=none.such"):  # the ORM path and the driver pool
                assert (await _get(client, path)).status_code in (200, 404)

            await asyncio.to_thread(stop_embedded_server, own_server)
            for path in ("/v1/kpis", "/v1/kpi-statuses?kpi=none.such") * 2:  # pooled, then new connections
                down = await _get(client, path)
                assert down.status_code == 503, (path, down.text)
                assert down.headers["content-type"] == "application/problem+json"
                assert down.headers["retry-after"] == "2"

            await asyncio.to_thread(embedded_server_url, own_server)  # back
            for path in ("/v1/kpis", "/v1/kpi-statuses?kpi=none.such"):
                statuses = [(await _get(client, path)).status_code for _ in range(3)]
                assert set(statuses[:1]) <= {200, 404, 503}, statuses  # a dead pooled connection may fail once
                assert statuses[1:] == [statuses[-1]] * 2
                assert statuses[-1] in (200, 404), (path, statuses)
    finally:
        del app.state.database
        del app.state.authenticator
        await database.dispose()
