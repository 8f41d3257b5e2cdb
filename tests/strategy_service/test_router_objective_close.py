"""Closing an objective: final progress and pace frozen and shown by every later read, status
completed, retrospective kept; once only, with If-Match; never from figures the KPI service could
not give."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from services.strategy_service import service
from services.strategy_service.main import app
from shared.clients import KpiClient
from tests.auth import token
from tests.kpi_service.helpers import ago, create_kpi, push_ok
from tests.servers import serve
from tests.shared.conftest import client_settings, tokens
from tests.strategy_service.conftest import check_in, key_result, objective, refused

TODAY = dt.datetime.now(dt.UTC).date()
CURRENT = {"period_start": str(TODAY - dt.timedelta(days=30)), "period_end": str(TODAY + dt.timedelta(days=30))}
RETRO = {"retrospective": "Scrap fell once the die was re-machined; the supplier audit came too late."}


async def close(client: httpx.AsyncClient, made: dict[str, Any], body: dict[str, Any] = RETRO) -> httpx.Response:
    etag = (await client.get(f"/v1/objectives/{made['id']}")).headers["ETag"]
    return await client.post(f"/v1/objectives/{made['id']}/close", json=body, headers={"If-Match": etag})


async def test_close_freezes_progress_and_pace_and_records_the_retrospective(
    strategy_client: httpx.AsyncClient,
) -> None:
    goal = await objective(strategy_client, status="active", **CURRENT)
    measured = await key_result(strategy_client, goal["id"], start_value=0, target_value=100)
    await check_in(strategy_client, measured["id"], value=40)
    before = (await strategy_client.get(f"/v1/objectives/{goal['id']}")).json()
    response = await close(strategy_client, goal)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    closed = response.json()
    assert (closed["status"], closed["progress"], closed["pace_status"], closed["retrospective"]) == (
        "completed", 0.4, before["pace_status"], RETRO["retrospective"],
    )  # fmt: skip
    assert abs(closed["expected_progress"] - before["expected_progress"]) < 0.01
    assert closed["closed_at"] is not None
    assert closed["version"] == 2
    # Later data changes nothing the objective shows; the key result itself stays live.
    await check_in(strategy_client, measured["id"], value=100)
    assert (await strategy_client.get(f"/v1/key-results/{measured['id']}")).json()["progress"] == 1.0
    read = await strategy_client.get(f"/v1/objectives/{goal['id']}")
    assert (read.json(), read.headers["ETag"]) == (closed, '"2"')
    tree = (await strategy_client.get(f"/v1/objectives/{goal['id']}/tree")).json()
    assert (tree["progress"], tree["expected_progress"], tree["pace_status"]) == (
        closed["progress"], closed["expected_progress"], closed["pace_status"],
    )  # fmt: skip
    listed = (await strategy_client.get("/v1/objectives", params={"status": "completed", "limit": 500})).json()
    assert next(o for o in listed["items"] if o["id"] == goal["id"]) == closed


async def test_a_closed_child_counts_in_its_parent_with_its_frozen_progress(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client, **CURRENT)
    child = await objective(strategy_client, level="department", parent_id=parent["id"], **CURRENT)
    measured = await key_result(strategy_client, child["id"], start_value=0, target_value=10)
    await check_in(strategy_client, measured["id"], value=2)
    assert (await close(strategy_client, child)).json()["progress"] == 0.2
    await check_in(strategy_client, measured["id"], value=8)
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == 0.2
    tree = (await strategy_client.get(f"/v1/objectives/{parent['id']}/tree")).json()
    assert (tree["progress"], tree["children"][0]["progress"], tree["children"][0]["status"]) == (0.2, 0.2, "completed")


async def test_closing_is_done_once_with_the_current_etag(strategy_client: httpx.AsyncClient) -> None:
    goal = await objective(strategy_client)
    path = f"/v1/objectives/{goal['id']}/close"
    assert (await strategy_client.post(path, json=RETRO)).status_code == 428
    assert (await strategy_client.post(path, json=RETRO, headers={"If-Match": '"9"'})).status_code == 412
    refused(await strategy_client.post(path, json={"retrospective": ""}, headers={"If-Match": '"1"'}), "/retrospective")
    refused(await strategy_client.post(path, json={}, headers={"If-Match": '"1"'}), "/retrospective")
    reader = {"X-Internal-Token": token("strategy", "strategy:read"), "If-Match": '"1"'}
    assert (await strategy_client.post(path, json=RETRO, headers=reader)).status_code == 403
    first = await strategy_client.post(path, json=RETRO, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    again = await strategy_client.post(path, json=RETRO, headers={"If-Match": '"2"'})
    assert (again.status_code, "closed once" in again.json()["detail"]) == (409, True)
    unknown = f"/v1/objectives/{uuid.uuid4()}/close"
    assert (await strategy_client.post(unknown, json=RETRO, headers={"If-Match": '"1"'})).status_code == 404


async def test_a_closed_objective_changes_only_its_wording(strategy_client: httpx.AsyncClient) -> None:
    goal = await objective(strategy_client)
    await close(strategy_client, goal)
    path = f"/v1/objectives/{goal['id']}"
    reopened = await strategy_client.patch(path, json={"status": "active"}, headers={"If-Match": '"2"'})
    assert (reopened.status_code, "closed" in reopened.json()["detail"]) == (409, True)
    moved = await strategy_client.patch(path, json={"period_end": "2026-01-31"}, headers={"If-Match": '"2"'})
    assert moved.status_code == 409
    renamed = await strategy_client.patch(path, json={"title": "Renamed"}, headers={"If-Match": '"2"'})
    assert (renamed.status_code, renamed.json()["title"], renamed.json()["status"]) == (200, "Renamed", "completed")


async def test_cancelled_and_archived_objectives_are_not_closed(strategy_client: httpx.AsyncClient) -> None:
    cancelled = await objective(strategy_client, status="cancelled")
    assert (await close(strategy_client, cancelled)).status_code == 409
    archived = await objective(strategy_client)
    await strategy_client.delete(f"/v1/objectives/{archived['id']}", headers={"If-Match": '"1"'})
    response = await close(strategy_client, archived)
    assert (response.status_code, "archived" in response.json()["detail"]) == (409, True)


async def test_nothing_is_frozen_while_a_linked_kpi_cannot_be_read(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    from services.kpi_service.main import app as kpi_app

    kpi = await create_kpi(kpi_client, aggregation="last")
    await push_ok(kpi_client, (kpi["key"], ago(minutes=5), 30.0))
    goal = await objective(strategy_client, **CURRENT)
    await key_result(strategy_client, goal["id"], kpi=kpi["key"], start_value=0, target_value=100)
    fallback = app.state.kpi_client
    try:
        async with serve(kpi_app) as url:
            app.state.kpi_client = KpiClient.create(client_settings(), tokens("kpi:read"), base_url=url)
        down = await close(strategy_client, goal)
        assert (down.status_code, down.json()["source"]) == (503, "kpi")
        assert (await strategy_client.get(f"/v1/objectives/{goal['id']}")).json()["closed_at"] is None
    finally:
        await app.state.kpi_client.aclose()
        app.state.kpi_client = fallback
        service._kpi_cache.clear()
    closed = await close(strategy_client, goal)
    assert (closed.status_code, closed.json()["progress"]) == (200, 0.3)
