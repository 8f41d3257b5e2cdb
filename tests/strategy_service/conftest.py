"""Fixtures of the strategy service tests: the settings the app runs with, and small request helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from services.strategy_service.config import StrategySettings
from services.strategy_service.main import app
from shared.clients import KpiClient
from tests.shared.conftest import Recorder, client_settings, tokens

UseSettings = Callable[..., StrategySettings]


@pytest.fixture
def strategy_settings() -> Iterator[UseSettings]:
    """``strategy_settings(**overrides)`` makes the app run with ``StrategySettings(**overrides)``."""
    original = app.state.settings

    def use(**overrides: Any) -> StrategySettings:
        app.state.settings = StrategySettings(**overrides)
        return app.state.settings  # type: ignore[no-any-return]

    yield use
    app.state.settings = original


@pytest.fixture(autouse=True)
async def kpi_service(kpi_client: httpx.AsyncClient) -> AsyncIterator[Recorder]:
    """The strategy app's KpiClient, calling the real KPI app in-process (on the test's transaction,
    as ``kpi_client`` binds it) and signing as the strategy service with ``kpi:read``; yields the
    recorder of every call that reaches the KPI app."""
    from services.kpi_service.main import app as kpi_app

    del kpi_client  # requested for its binding of the KPI app
    recorder = Recorder(kpi_app)
    client = KpiClient.create(
        client_settings(), tokens("kpi:read"), base_url="http://kpi", transport=httpx.ASGITransport(app=recorder)
    )
    app.state.kpi_client = client
    yield recorder
    del app.state.kpi_client
    await client.aclose()


async def created(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` and return the 201's JSON (failing the test on anything else)."""
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def objective(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "Objective", "level": "company", "period_start": "2025-01-01", "period_end": "2025-12-31"}
    return await created(client, "/v1/objectives", body | fields)


async def key_result(client: httpx.AsyncClient, objective_id: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Key result", "kind": "increase", "start_value": 0, "target_value": 100}
    return await created(client, f"/v1/objectives/{objective_id}/key-results", body | fields)


async def check_in(client: httpx.AsyncClient, key_result_id: str, **fields: Any) -> dict[str, Any]:
    body = {"value": 0, "confidence": 0.5}
    return await created(client, f"/v1/key-results/{key_result_id}/check-ins", body | fields)


def refused(response: httpx.Response, pointer: str, code: str | None = None) -> str:
    """Assert a 422 problem naming ``pointer`` (and ``code``); return its message."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    matching = [e for e in errors if e.get("pointer") == pointer]
    assert matching, errors
    if code is not None:
        assert matching[0]["code"] == code, matching
    message: str = matching[0]["message"]
    return message
