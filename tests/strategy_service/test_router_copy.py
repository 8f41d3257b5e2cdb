"""Copying an objective into another period: key results restart from their current value (those
that reached their target keep their start), the parent is kept only when its period overlaps the
new one, and the copy is a create like any other (201, ETag, Idempotency-Key)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from services.strategy_service import service
from services.strategy_service.main import app
from tests.auth import token
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.strategy_service.conftest import check_in, key_result, objective, refused

NEXT = {"period_start": "2026-01-01", "period_end": "2026-03-31"}


def _recent() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {"period_start": str(today - dt.timedelta(days=20)), "period_end": str(today + dt.timedelta(days=20))}


async def _copy(client: httpx.AsyncClient, objective_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/objectives/{objective_id}/copy", json=NEXT | body)
    assert response.status_code == 201, response.text
    copied: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/v1/objectives/{copied['id']}"
    assert response.headers["ETag"] == '"1"'
    return copied


async def test_key_results_restart_from_their_current_value_unless_they_reached_the_target(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client, aggregation="last")
    await push_ok(kpi_client, (kpi["key"], dt.datetime.now(dt.UTC).isoformat(), 30.0))
    owner = "7f1d3c1e-9d1a-4c55-9a57-0f6f0a1d2b3c"
    original = await objective(
        strategy_client, title="Ship", description="why", owner_org_unit_id=owner, weight=3, status="active",
        **_recent(),
    )  # fmt: skip
    halfway = await key_result(strategy_client, original["id"], title="halfway", unit="%", weight=2)
    await check_in(strategy_client, halfway["id"], value=40, confidence=0.6)
    beyond = await key_result(strategy_client, original["id"], title="beyond")
    await check_in(strategy_client, beyond["id"], value=120, confidence=1)
    await key_result(strategy_client, original["id"], title="untouched", start_value=5)
    down = await key_result(strategy_client, original["id"], title="down", kind="decrease", start_value=100,
                            target_value=50)  # fmt: skip
    await check_in(strategy_client, down["id"], value=70, confidence=0.5)
    wrong_way = await key_result(strategy_client, original["id"], title="wrong way", start_value=10)
    await check_in(strategy_client, wrong_way["id"], value=4, confidence=0.2)
    done = await key_result(strategy_client, original["id"], title="done", kind="milestone", start_value=0,
                            target_value=1)  # fmt: skip
    await check_in(strategy_client, done["id"], value=1, confidence=1)
    above = await key_result(strategy_client, original["id"], title="above", kind="stay_above", start_value=3,
                             target_value=9)  # fmt: skip
    await check_in(strategy_client, above["id"], value=8, confidence=0.4)
    await key_result(strategy_client, original["id"], title="measured", kpi=kpi["key"], kpi_value="latest")
    archived = await key_result(strategy_client, original["id"], title="archived")
    await strategy_client.delete(f"/v1/key-results/{archived['id']}", headers={"If-Match": '"1"'})

    copied = await _copy(strategy_client, original["id"])
    assert copied["id"] != original["id"]
    assert (copied["copied_from"], copied["parent_kept"], copied["parent_id"]) == (original["id"], False, None)
    assert {k: copied[k] for k in ("title", "description", "level", "owner_org_unit_id", "weight", "status")} == {
        "title": "Ship", "description": "why", "level": "company", "owner_org_unit_id": owner, "weight": 3.0,
        "status": "draft",
    }  # fmt: skip
    assert (copied["period_start"], copied["period_end"], copied["version"]) == ("2026-01-01", "2026-03-31", 1)
    starts = {k["title"]: (k["kind"], k["start_value"], k["target_value"]) for k in copied["key_results"]}
    assert starts == {
        "halfway": ("increase", 40.0, 100.0),
        "beyond": ("increase", 0.0, 100.0),  # reached its target: keeps its start
        "untouched": ("increase", 5.0, 100.0),  # no current value: keeps its start
        "down": ("decrease", 70.0, 50.0),
        "wrong way": ("increase", 4.0, 100.0),  # moved the wrong way: restarts from where it stands
        "done": ("milestone", 0.0, 1.0),
        "above": ("stay_above", 8.0, 9.0),
        "measured": ("increase", 30.0, 100.0),
    }
    assert [k["title"] for k in copied["key_results"]] == [
        "halfway", "beyond", "untouched", "down", "wrong way", "done", "above", "measured",
    ]  # fmt: skip
    halfway_copy = copied["key_results"][0]
    assert (halfway_copy["unit"], halfway_copy["weight"], halfway_copy["current_source"]) == ("%", 2.0, "none")
    measured_copy = copied["key_results"][-1]
    assert (measured_copy["kpi"], measured_copy["kpi_value"], measured_copy["current_source"]) == (
        kpi["key"], "latest", "kpi",
    )  # fmt: skip
    read = await strategy_client.get(f"/v1/objectives/{copied['id']}")
    assert read.status_code == 200
    assert read.json() == {k: v for k, v in copied.items() if k not in ("key_results", "copied_from", "parent_kept")}
    assert (await strategy_client.get(f"/v1/key-results/{halfway['id']}/check-ins")).json()["items"][0]["value"] == 40
    assert (await strategy_client.get(f"/v1/key-results/{halfway_copy['id']}/check-ins")).json()["items"] == []


@pytest.mark.parametrize(
    ("parent_period", "kept"),
    [
        ({"period_start": "2025-01-01", "period_end": "2025-12-31"}, False),
        ({"period_start": "2025-01-01", "period_end": "2026-01-01"}, True),  # one shared day is an overlap
        ({"period_start": "2025-07-01", "period_end": "2026-06-30"}, True),
    ],
)
async def test_the_copy_keeps_its_parent_only_when_the_parents_period_overlaps(
    strategy_client: httpx.AsyncClient, parent_period: dict[str, str], kept: bool
) -> None:
    parent = await objective(strategy_client, **parent_period)
    child = await objective(strategy_client, level="department", parent_id=parent["id"],
                            period_start="2025-10-01", period_end="2025-12-31")  # fmt: skip
    copied = await _copy(strategy_client, child["id"])
    assert (copied["parent_kept"], copied["parent_id"]) == (kept, parent["id"] if kept else None)
    children = (await strategy_client.get("/v1/objectives", params={"parent_id": parent["id"]})).json()["items"]
    assert len(children) == (2 if kept else 1)


async def test_an_archived_parent_is_not_kept(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client, period_start="2025-01-01", period_end="2026-12-31")
    child = await objective(strategy_client, level="team", parent_id=parent["id"])
    await strategy_client.delete(f"/v1/objectives/{parent['id']}", headers={"If-Match": '"1"'})
    copied = await _copy(strategy_client, child["id"])
    assert (copied["parent_kept"], copied["parent_id"]) == (False, None)


async def test_the_copy_honours_idempotency_keys(strategy_client: httpx.AsyncClient) -> None:
    original = await objective(strategy_client, title="Once more")
    await key_result(strategy_client, original["id"])
    path = f"/v1/objectives/{original['id']}/copy"
    headers = {"Idempotency-Key": "copy-1"}
    first = await strategy_client.post(path, json=NEXT, headers=headers)
    again = await strategy_client.post(path, json=NEXT, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    listed = (await strategy_client.get("/v1/objectives", params={"q": "Once more"})).json()["items"]
    assert len(listed) == 2  # the original and one copy
    other = await strategy_client.post(path, json=NEXT | {"period_end": "2026-06-30"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_copy_errors(strategy_client: httpx.AsyncClient) -> None:
    original = await objective(strategy_client)
    path = f"/v1/objectives/{original['id']}/copy"
    refused(await strategy_client.post(path, json=NEXT | {"period_end": "2025-12-31"}), "/period_end", "period_order")
    refused(await strategy_client.post(path, json={"period_end": "2026-03-31"}), "/period_start")
    refused(await strategy_client.post(path, json=NEXT | {"period_start": "2026-02-30"}), "/period_start")
    refused(await strategy_client.post(path, json=NEXT | {"title": "x"}), "/title")
    unknown = await strategy_client.post("/v1/objectives/00000000-0000-4000-8000-000000000000/copy", json=NEXT)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    reader = {"X-Internal-Token": token("strategy", "strategy:read")}
    assert (await strategy_client.post(path, json=NEXT, headers=reader)).status_code == 403
    listed = (await strategy_client.get("/v1/objectives")).json()["items"]
    assert [o["id"] for o in listed] == [original["id"]]  # nothing was copied


async def test_a_copy_needs_the_kpi_values_it_restarts_from(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    original = await objective(strategy_client, **_recent())
    await key_result(strategy_client, original["id"], kpi=kpi["key"])
    service._kpi_cache.clear()
    fallback = app.state.kpi_client
    del app.state.kpi_client  # reads degrade as with the KPI service down
    try:
        response = await strategy_client.post(f"/v1/objectives/{original['id']}/copy", json=NEXT)
        assert response.status_code == 503
        assert (response.json()["source"], "Retry-After" in response.headers) == ("kpi", True)
        # An objective measured by check-ins only copies without the KPI service.
        plain = await objective(strategy_client)
        await key_result(strategy_client, plain["id"])
        assert (await strategy_client.post(f"/v1/objectives/{plain['id']}/copy", json=NEXT)).status_code == 201
    finally:
        app.state.kpi_client = fallback
