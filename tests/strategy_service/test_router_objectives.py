"""Objectives over HTTP: create (idempotent, ETag), alignment rules, PATCH with If-Match, archive,
filters and cursor pagination."""

from __future__ import annotations

import uuid

import httpx

from tests.auth import token
from tests.strategy_service.conftest import objective, refused

PERIOD = {"period_start": "2025-01-01", "period_end": "2025-12-31"}


async def test_create_answers_201_with_etag_location_and_progress_fields(strategy_client: httpx.AsyncClient) -> None:
    owner = str(uuid.uuid4())
    body = {"title": "Grow margin", "level": "company", "owner_org_unit_id": owner, "weight": 2, **PERIOD}
    response = await strategy_client.post("/v1/objectives", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/objectives/{created['id']}"
    assert created | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None, "title": "Grow margin", "description": "", "level": "company", "parent_id": None,
        "owner_org_unit_id": owner, "period_start": "2025-01-01", "period_end": "2025-12-31", "status": "draft",
        "weight": 2.0, "version": 1, "archived_at": None, "created_at": None, "updated_at": None,
        "progress": None, "expected_progress": 1.0, "pace_status": "no_data", "degraded": [],
        "closed_at": None, "retrospective": None,
    }  # fmt: skip
    read = await strategy_client.get(f"/v1/objectives/{created['id']}")
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    assert read.json() == created


async def test_create_is_idempotent_with_a_key(strategy_client: httpx.AsyncClient) -> None:
    body = {"title": "Once", "level": "company", **PERIOD}
    headers = {"Idempotency-Key": "objective-1"}
    first = await strategy_client.post("/v1/objectives", json=body, headers=headers)
    again = await strategy_client.post("/v1/objectives", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["ETag"] == first.headers["ETag"]
    listed = await strategy_client.get("/v1/objectives", params={"q": "Once"})
    assert len(listed.json()["items"]) == 1
    other = await strategy_client.post("/v1/objectives", json=body | {"title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_bodies_are_validated(strategy_client: httpx.AsyncClient) -> None:
    base = {"title": "Bad", "level": "company", **PERIOD}
    ordered = await strategy_client.post("/v1/objectives", json=base | {"period_end": "2024-12-31"})
    refused(ordered, "/period_end", "period_order")
    refused(await strategy_client.post("/v1/objectives", json=base | {"weight": 0}), "/weight")
    refused(await strategy_client.post("/v1/objectives", json=base | {"level": "division"}), "/level")
    refused(await strategy_client.post("/v1/objectives", json=base | {"title": ""}), "/title")


async def test_writes_need_strategy_write(strategy_client: httpx.AsyncClient) -> None:
    reader = {"X-Internal-Token": token("strategy", "strategy:read")}
    body = {"title": "No", "level": "company", **PERIOD}
    assert (await strategy_client.post("/v1/objectives", json=body, headers=reader)).status_code == 403
    assert (await strategy_client.get("/v1/objectives", headers=reader)).status_code == 200
    nobody = {"X-Internal-Token": token("strategy", "kpi:read")}
    assert (await strategy_client.get("/v1/objectives", headers=nobody)).status_code == 403


async def test_parent_must_exist_and_sit_at_the_same_or_a_higher_level(strategy_client: httpx.AsyncClient) -> None:
    unknown = await strategy_client.post(
        "/v1/objectives", json={"title": "x", "level": "team", "parent_id": str(uuid.uuid4()), **PERIOD}
    )
    refused(unknown, "/parent_id", "unknown_parent")
    team = await objective(strategy_client, level="team")
    higher = await strategy_client.post(
        "/v1/objectives", json={"title": "x", "level": "department", "parent_id": team["id"], **PERIOD}
    )
    assert "level" in refused(higher, "/parent_id", "parent_level")
    department = await objective(strategy_client, level="department")
    assert (await objective(strategy_client, level="department", parent_id=department["id"]))["parent_id"]
    assert (await objective(strategy_client, level="team", parent_id=department["id"]))["level"] == "team"


async def test_parent_period_must_overlap(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client, period_start="2025-01-01", period_end="2025-03-31")
    body = {"title": "x", "level": "team", "parent_id": parent["id"]}
    apart = await strategy_client.post(
        "/v1/objectives", json=body | {"period_start": "2025-04-01", "period_end": "2025-06-30"}
    )
    assert "overlap" in refused(apart, "/parent_id", "parent_period")
    touching = await strategy_client.post(
        "/v1/objectives", json=body | {"period_start": "2025-03-31", "period_end": "2025-06-30"}
    )
    assert touching.status_code == 201  # one shared day is an overlap


async def test_cycles_are_refused(strategy_client: httpx.AsyncClient) -> None:
    a = await objective(strategy_client, title="A")
    b = await objective(strategy_client, title="B", parent_id=a["id"])
    c = await objective(strategy_client, title="C", parent_id=b["id"])
    cycle = await strategy_client.patch(
        f"/v1/objectives/{a['id']}", json={"parent_id": c["id"]}, headers={"If-Match": '"1"'}
    )
    assert "cycle" in refused(cycle, "/parent_id", "cycle")
    itself = await strategy_client.patch(
        f"/v1/objectives/{a['id']}", json={"parent_id": a["id"]}, headers={"If-Match": '"1"'}
    )
    refused(itself, "/parent_id", "cycle")
    unchanged = await strategy_client.get(f"/v1/objectives/{a['id']}")
    assert unchanged.json()["parent_id"] is None
    assert unchanged.headers["ETag"] == '"1"'


async def test_patch_needs_the_current_etag(strategy_client: httpx.AsyncClient) -> None:
    created = await objective(strategy_client, title="Before")
    path = f"/v1/objectives/{created['id']}"
    assert (await strategy_client.patch(path, json={"title": "After"})).status_code == 428
    stale = await strategy_client.patch(path, json={"title": "After"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    changed = await strategy_client.patch(
        path, json={"title": "After", "status": "active", "description": None}, headers={"If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"'
    assert (changed.json()["title"], changed.json()["status"], changed.json()["version"]) == ("After", "active", 2)
    again = await strategy_client.patch(path, json={"title": "Lost"}, headers={"If-Match": '"1"'})
    assert again.status_code == 412
    refused(await strategy_client.patch(path, json={"level": None}, headers={"If-Match": '"2"'}), "/level", "null")
    refused(
        await strategy_client.patch(path, json={"period_end": "2024-06-30"}, headers={"If-Match": '"2"'}),
        "/period_end",
    )


async def test_patch_keeps_the_children_aligned(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client, level="department")
    await objective(strategy_client, level="department", parent_id=parent["id"], period_end="2025-02-28")
    path = f"/v1/objectives/{parent['id']}"
    refused(await strategy_client.patch(path, json={"level": "team"}, headers={"If-Match": '"1"'}), "/level")
    later = {"period_start": "2025-06-01"}
    refused(await strategy_client.patch(path, json=later, headers={"If-Match": '"1"'}), "/period_start")
    up = await strategy_client.patch(path, json={"level": "company"}, headers={"If-Match": '"1"'})
    assert up.status_code == 200
    team = await objective(strategy_client, level="team")
    under = await strategy_client.patch(
        f"/v1/objectives/{team['id']}", json={"parent_id": parent["id"]}, headers={"If-Match": '"1"'}
    )
    assert under.json()["parent_id"] == parent["id"]
    detached = await strategy_client.patch(
        f"/v1/objectives/{team['id']}", json={"parent_id": None}, headers={"If-Match": '"2"'}
    )
    assert detached.json()["parent_id"] is None


async def test_delete_archives(strategy_client: httpx.AsyncClient) -> None:
    created = await objective(strategy_client, title="Old")
    path = f"/v1/objectives/{created['id']}"
    assert (await strategy_client.delete(path)).status_code == 428
    archived = await strategy_client.delete(path, headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert archived.headers["ETag"] == '"2"'
    assert (await strategy_client.get(path)).json()["archived_at"] is not None
    assert (await strategy_client.get("/v1/objectives", params={"q": "Old"})).json()["items"] == []
    listed = await strategy_client.get("/v1/objectives", params={"q": "Old", "archived": "true"})
    assert [o["id"] for o in listed.json()["items"]] == [created["id"]]
    orphan = await strategy_client.post(
        "/v1/objectives", json={"title": "x", "level": "team", "parent_id": created["id"], **PERIOD}
    )
    refused(orphan, "/parent_id", "unknown_parent")
    assert (await strategy_client.get(f"/v1/objectives/{uuid.uuid4()}")).status_code == 404


async def test_list_filters(strategy_client: httpx.AsyncClient) -> None:
    unit = str(uuid.uuid4())
    company = await objective(strategy_client, title="Margin 100%", status="active")
    dept = await objective(
        strategy_client, title="Supply", level="department", parent_id=company["id"], owner_org_unit_id=unit,
        period_start="2025-04-01", period_end="2025-06-30", description="cut lead time",
    )  # fmt: skip

    async def titles(**params: str) -> list[str]:
        response = await strategy_client.get("/v1/objectives", params=params)
        assert response.status_code == 200, response.text
        return [o["title"] for o in response.json()["items"]]

    assert await titles(level="department") == ["Supply"]
    assert await titles(parent_id=company["id"]) == ["Supply"]
    assert await titles(owner_org_unit_id=unit) == ["Supply"]
    assert await titles(status="active") == ["Margin 100%"]
    assert await titles(active_on="2025-03-01") == ["Margin 100%"]
    assert await titles(active_on="2025-06-30") == ["Margin 100%", "Supply"]
    assert await titles(active_on="2026-01-01") == []
    assert await titles(q="LEAD TIME") == ["Supply"]
    assert await titles(q="100%") == ["Margin 100%"]
    assert await titles(q="%") == ["Margin 100%"]  # a wildcard matches itself only
    for bad in ({"status": "done"}, {"active_on": "0"}, {"active_on": "2025-6-1"}, {"level": "division"}):
        assert (await strategy_client.get("/v1/objectives", params=bad)).status_code == 422, bad
    assert dept["parent_id"] == company["id"]


async def test_cursor_pagination_visits_every_objective_once(strategy_client: httpx.AsyncClient) -> None:
    made = [(await objective(strategy_client, title=f"Page {i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", "q": "Page"} | ({"cursor": cursor} if cursor else {})
        page = (await strategy_client.get("/v1/objectives", params=params)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    bad = await strategy_client.get("/v1/objectives", params={"cursor": "nonsense"})
    assert bad.status_code == 400
