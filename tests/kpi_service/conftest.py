"""Fixtures of the KPI service tests: the settings the app runs with, and a client whose requests
commit for real (for tests of concurrent transactions)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from services.kpi_service.config import KpiSettings
from services.kpi_service.main import app
from shared.auth import INTERNAL_TOKEN_HEADER, internal_token_authenticator
from shared.db import Database, async_url
from tests.auth import token, verifier_for

UseSettings = Callable[..., KpiSettings]


@pytest.fixture
def kpi_settings() -> Iterator[UseSettings]:
    """``kpi_settings(**overrides)`` makes the KPI app run with ``KpiSettings(**overrides)`` from now
    on (called again, with others); the app's own settings come back after the test."""
    original = app.state.settings

    def use(**overrides: Any) -> KpiSettings:
        app.state.settings = KpiSettings(**overrides)
        return app.state.settings  # type: ignore[no-any-return]

    yield use
    app.state.settings = original


@pytest.fixture
async def committed_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the KPI app on a real database connection pool: every request commits (or rolls
    back) for real, concurrently with the others. Tests clean up what they commit."""
    database = Database(async_url(database_url), KpiSettings())
    app.state.database = database
    app.state.authenticator = internal_token_authenticator(verifier_for("kpi"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {INTERNAL_TOKEN_HEADER: token("kpi", "admin")}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
            yield client
    finally:
        del app.state.database
        del app.state.authenticator
        await database.dispose()
