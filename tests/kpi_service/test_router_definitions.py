"""KPI definitions: create, read, change with If-Match, archive, filter, and targets."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.kpi_service.helpers import create_kpi, fetch, forget_kpi, kpi_body, push_ok, set_targets


async def test_create_returns_the_kpi_with_etag_and_location(kpi_client: httpx.AsyncClient) -> None:
    thresholds = {"mode": "relative", "amber": 0.05, "red": 0.1}
    response = await kpi_client.post(
        "/v1/kpis", json=kpi_body(key="supply.otd", tags=["weekly-review", "board"], thresholds=thresholds)
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["etag"] == '"1"'
    assert response.headers["location"] == "/v1/kpis/supply.otd"
    assert body["tags"] == ["board", "weekly-review"]
    assert body["thresholds"] == {"mode": "relative", "amber": 0.05, "red": 0.1}
    by_id = await kpi_client.get(f"/v1/kpis/{body['id']}")
    by_key = await kpi_client.get("/v1/kpis/supply.otd")
    assert by_id.json() == by_key.json() == body
    assert by_key.headers["etag"] == '"1"'
    assert (await kpi_client.get("/v1/kpis/supply.otd", headers={"if-none-match": '"1"'})).status_code == 304


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"key": "Bad Key"}, "/key"),
        ({"key": "x"}, "/key"),
        ({"direction": "sideways"}, "/direction"),
        ({"aggregation": "median"}, "/aggregation"),
        ({"cadence": "hourly"}, "/cadence"),
        ({"domain": "astrology"}, "/domain"),
        ({"name": ""}, "/name"),
        ({"tags": ["Not A Tag"]}, "/tags/0"),
        ({"thresholds": {"mode": "relative", "amber": 0.2, "red": 0.1}}, "/thresholds"),
        ({"thresholds": {"mode": "relative", "amber": -1, "red": 0.1}}, "/thresholds/amber"),
        ({"owner_org_unit_id": "not-a-uuid"}, "/owner_org_unit_id"),
        ({"colour": "blue"}, "/colour"),
    ],
)
async def test_create_refuses_bad_fields_one_by_one(
    kpi_client: httpx.AsyncClient, change: dict[str, object], pointer: str
) -> None:
    response = await kpi_client.post("/v1/kpis", json=kpi_body(**change))
    assert response.status_code == 422
    assert pointer in {e["pointer"] for e in response.json()["errors"]}


async def test_duplicate_key_is_a_409(kpi_client: httpx.AsyncClient) -> None:
    await create_kpi(kpi_client, key="dup.kpi")
    response = await kpi_client.post("/v1/kpis", json=kpi_body(key="dup.kpi"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["pointer"] == "/key"


async def test_idempotency_key_replays_the_first_creation(kpi_client: httpx.AsyncClient) -> None:
    body = kpi_body(key="idem.kpi")
    first = await kpi_client.post("/v1/kpis", json=body, headers={"idempotency-key": "create-1"})
    again = await kpi_client.post("/v1/kpis", json=body, headers={"idempotency-key": "create-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    listed = (await kpi_client.get("/v1/kpis", params={"q": "idem.kpi"})).json()["items"]
    assert len(listed) == 1
    reused = await kpi_client.post("/v1/kpis", json=kpi_body(key="idem.other"), headers={"idempotency-key": "create-1"})
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_patch_needs_the_current_etag(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    path = f"/v1/kpis/{kpi['key']}"
    missing = await kpi_client.patch(path, json={"name": "Renamed"})
    assert missing.status_code == 428
    changed = await kpi_client.patch(path, json={"name": "Renamed", "tags": ["x"]}, headers={"if-match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    assert changed.json()["name"] == "Renamed"
    assert changed.json()["unit"] == "%"  # untouched
    stale = await kpi_client.patch(path, json={"name": "Lost update"}, headers={"if-match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["etag"] == '"2"'
    assert (await kpi_client.get(path)).json()["name"] == "Renamed"


@pytest.mark.parametrize(
    ("change", "pointer"), [({"key": "new.key"}, "/key"), ({"name": None}, "/name"), ({"cadence": None}, "/cadence")]
)
async def test_patch_refuses_key_changes_and_nulls(
    kpi_client: httpx.AsyncClient, change: dict[str, object], pointer: str
) -> None:
    kpi = await create_kpi(kpi_client)
    response = await kpi_client.patch(f"/v1/kpis/{kpi['key']}", json=change, headers={"if-match": '"1"'})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == pointer


async def test_patch_clears_thresholds_with_null(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, thresholds={"mode": "absolute", "amber": 1, "red": 2})
    response = await kpi_client.patch(f"/v1/kpis/{kpi['key']}", json={"thresholds": None}, headers={"if-match": "*"})
    assert response.json()["thresholds"] is None


async def test_delete_removes_an_unused_kpi_and_archives_a_measured_one(kpi_client: httpx.AsyncClient) -> None:
    unused = await create_kpi(kpi_client)
    assert (await kpi_client.delete(f"/v1/kpis/{unused['key']}")).status_code == 428
    assert (await kpi_client.delete(f"/v1/kpis/{unused['key']}", headers={"if-match": '"9"'})).status_code == 412
    assert (await kpi_client.delete(f"/v1/kpis/{unused['key']}", headers={"if-match": '"1"'})).status_code == 204
    assert (await kpi_client.get(f"/v1/kpis/{unused['key']}")).status_code == 404

    measured = await create_kpi(kpi_client)
    await push_ok(kpi_client, (measured["key"], "2026-03-01T10:00:00Z", 1.0))
    response = await kpi_client.delete(f"/v1/kpis/{measured['key']}", headers={"if-match": '"1"'})
    assert response.status_code == 200
    assert response.json()["archived_at"] is not None
    points = await kpi_client.get(f"/v1/kpis/{measured['key']}/measurements")
    assert [p["value"] for p in points.json()["items"]] == [1.0], "measurements are never destroyed"
    refused = await kpi_client.post(
        "/v1/measurements", json={"points": [{"kpi": measured["key"], "ts": "2026-03-02T10:00:00Z", "value": 2}]}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "archived_kpi"
    active = (await kpi_client.get("/v1/kpis", params={"limit": 500})).json()["items"]
    archived = (await kpi_client.get("/v1/kpis", params={"archived": True, "limit": 500})).json()["items"]
    assert measured["key"] not in {k["key"] for k in active}
    assert measured["key"] in {k["key"] for k in archived}
    restored = await kpi_client.patch(
        f"/v1/kpis/{measured['key']}", json={"archived": False}, headers={"if-match": "*"}
    )
    assert restored.json()["archived_at"] is None


async def test_list_filters(kpi_client: httpx.AsyncClient) -> None:
    owner = "6f1c1f7e-6a3e-4d5e-9d1e-0d1f2e3a4b5c"
    a = await create_kpi(
        kpi_client, name="Scrap rate 100%", domain="quality", tags=["plant-a"], owner_org_unit_id=owner
    )
    b = await create_kpi(kpi_client, name="Scrap_rate weekly", domain="quality", tags=["plant-b"])
    c = await create_kpi(kpi_client, name="Headcount", domain="hr", tags=["plant-a"])

    async def keys(**params: str) -> set[str]:
        response = await kpi_client.get("/v1/kpis", params={"limit": 500, **params})
        assert response.status_code == 200, response.text
        return {k["key"] for k in response.json()["items"]} & {a["key"], b["key"], c["key"]}

    assert await keys(domain="quality") == {a["key"], b["key"]}
    assert await keys(tag="plant-a") == {a["key"], c["key"]}
    assert await keys(owner=owner) == {a["key"]}
    assert await keys(q="scrap") == {a["key"], b["key"]}
    assert await keys(q="100%") == {a["key"]}  # % is matched literally
    assert await keys(q="scrap_r") == {b["key"]}  # so is _ (unescaped, it would match "Scrap r" too)
    assert await keys(domain="quality", tag="plant-b") == {b["key"]}


async def test_status_filter(kpi_client: httpx.AsyncClient) -> None:
    good = await create_kpi(kpi_client)
    empty = await create_kpi(kpi_client)
    await set_targets(kpi_client, good["key"], {"period_start": "2020-01-01", "period_end": "2099-12-31", "value": 10})
    await push_ok(kpi_client, (good["key"], _recent(), 12))

    async def keys(status: str) -> set[str]:
        items = (await kpi_client.get("/v1/kpis", params={"status": status, "limit": 500})).json()["items"]
        return {k["key"] for k in items} & {good["key"], empty["key"]}

    assert await keys("green") == {good["key"]}
    assert await keys("no_data") == {empty["key"]}
    assert await keys("red") == set()


def _recent() -> str:
    import datetime as dt

    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()


async def test_targets_are_replaced_as_a_whole(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    first = [
        {"period_start": "2026-01-01", "period_end": "2026-06-30", "value": 90},
        {"period_start": "2026-07-01", "period_end": "2026-12-31", "value": 95},
    ]
    response = await kpi_client.put(f"/v1/kpis/{kpi['key']}/targets", json={"targets": first})
    assert response.status_code == 200
    assert [t["value"] for t in response.json()["targets"]] == [90, 95]
    await set_targets(kpi_client, kpi["key"], {"period_start": "2027-01-01", "period_end": "2027-12-31", "value": 97})
    stored = (await kpi_client.get(f"/v1/kpis/{kpi['key']}/targets")).json()["targets"]
    assert [(t["period_start"], t["value"]) for t in stored] == [("2027-01-01", 97)]
    assert (await kpi_client.get(f"/v1/kpis/{kpi['key']}")).headers["etag"] == '"3"'
    stale = await kpi_client.put(f"/v1/kpis/{kpi['key']}/targets", json={"targets": []}, headers={"if-match": '"1"'})
    assert stale.status_code == 412


@pytest.mark.parametrize(
    ("direction", "targets", "pointer", "code"),
    [
        (
            "increase",
            [{"period_start": "2026-01-01", "period_end": "2026-06-30", "value": 1},
             {"period_start": "2026-03-01", "period_end": "2026-03-31", "value": 2}],
            "/targets/1/period_start", "overlap",
        ),
        (
            "increase",
            [{"period_start": "2026-01-01", "period_end": "2026-12-31", "value": 1},
             {"period_start": "2026-02-01", "period_end": "2026-02-28", "value": 2},
             {"period_start": "2026-05-01", "period_end": "2026-05-31", "value": 3}],
            "/targets/2/period_start", "overlap",
        ),
        ("increase", [{"period_start": "2026-01-01", "period_end": "2026-01-31", "min": 1, "max": 2}], "/targets/0", "value_required"),  # noqa: E501
        ("target_range", [{"period_start": "2026-01-01", "period_end": "2026-01-31", "value": 1}], "/targets/0", "band_required"),  # noqa: E501
    ],
)  # fmt: skip
async def test_invalid_targets_change_nothing(
    kpi_client: httpx.AsyncClient, direction: str, targets: list[dict[str, object]], pointer: str, code: str
) -> None:
    kpi = await create_kpi(kpi_client, direction=direction)
    valid: dict[str, object] = {"period_start": "2020-01-01", "period_end": "2020-12-31"}
    valid |= {"min": 1, "max": 2} if direction == "target_range" else {"value": 1}
    await set_targets(kpi_client, kpi["key"], valid)
    response = await kpi_client.put(f"/v1/kpis/{kpi['key']}/targets", json={"targets": targets})
    assert response.status_code == 422
    assert (pointer, code) in {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    kept = (await kpi_client.get(f"/v1/kpis/{kpi['key']}/targets")).json()["targets"]
    assert [t["period_start"] for t in kept] == ["2020-01-01"]


async def test_unknown_kpi_is_a_404_everywhere(kpi_client: httpx.AsyncClient) -> None:
    for path in ("", "/targets", "/status", "/series", "/measurements"):
        response = await kpi_client.get(f"/v1/kpis/no.such_kpi{path}")
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


async def test_direction_cannot_change_under_targets_of_the_other_shape(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, direction="target_range")
    await set_targets(
        kpi_client, kpi["key"], {"period_start": "2026-01-01", "period_end": "2026-12-31", "min": 1, "max": 2}
    )
    path = f"/v1/kpis/{kpi['key']}"
    refused = await kpi_client.patch(path, json={"direction": "increase"}, headers={"if-match": "*"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/direction"
    assert (await kpi_client.get(f"{path}/status")).status_code == 200
    await set_targets(kpi_client, kpi["key"])  # cleared
    assert (await kpi_client.patch(path, json={"direction": "increase"}, headers={"if-match": "*"})).status_code == 200
    assert (await kpi_client.patch(path, json={"direction": "decrease"}, headers={"if-match": "*"})).status_code == 200


async def post(client: httpx.AsyncClient, body: dict[str, object], *, key: str) -> httpx.Response:
    return await client.post("/v1/kpis", json=body, headers={"idempotency-key": key})


async def test_concurrent_retries_with_one_idempotency_key_create_once(
    committed_client: httpx.AsyncClient, database_url: str
) -> None:
    """Eight real, concurrent transactions with one key: the first creates, the others wait for its
    commit and replay its answer."""
    body = kpi_body(key=f"idem.race_{uuid.uuid4().hex[:8]}")
    try:
        responses = await asyncio.wait_for(
            asyncio.gather(
                *(
                    committed_client.post("/v1/kpis", json=body, headers={"idempotency-key": body["key"]})
                    for _ in range(8)
                )
            ),
            30,
        )
        assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        assert {(r.headers["etag"], r.headers["location"]) for r in responses} == {('"1"', f"/v1/kpis/{body['key']}")}
        rows = await fetch(database_url, "SELECT count(*) AS n FROM kpi.kpis WHERE key = $1", body["key"])
        assert rows[0]["n"] == 1
    finally:
        await forget_kpi(database_url, body["key"])


async def test_concurrent_requests_reusing_a_key_for_other_bodies_are_refused(
    committed_client: httpx.AsyncClient, database_url: str
) -> None:
    key = f"idem.reuse_{uuid.uuid4().hex[:8]}"
    bodies = [kpi_body(key=key, name=f"Name {i}") for i in range(6)]
    try:
        responses = await asyncio.wait_for(
            asyncio.gather(
                *(committed_client.post("/v1/kpis", json=b, headers={"idempotency-key": key}) for b in bodies)
            ),
            30,
        )
        assert sorted(r.status_code for r in responses) == [201] + [422] * 5
        refused = [r.json() for r in responses if r.status_code == 422]
        assert {e["parameter"] for r in refused for e in r["errors"]} == {"Idempotency-Key"}
        winner = next(r.json() for r in responses if r.status_code == 201)
        stored = await fetch(database_url, "SELECT name FROM kpi.kpis WHERE key = $1", key)
        assert [s["name"] for s in stored] == [winner["name"]]
    finally:
        await forget_kpi(database_url, key)


async def test_an_etag_the_client_holds_gives_a_304_without_body(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    path = f"/v1/kpis/{kpi['key']}"
    for held in ('"1"', 'W/"1"', '"7", "1"', "*"):
        response = await kpi_client.get(path, headers={"if-none-match": held})
        assert (response.status_code, response.content, response.headers["etag"]) == (304, b"", '"1"'), held
    changed = await kpi_client.patch(path, json={"name": "Renamed"}, headers={"if-match": '"1"'})
    fresh = await kpi_client.get(path, headers={"if-none-match": '"1"'})
    assert (fresh.status_code, fresh.headers["etag"], fresh.json()) == (200, '"2"', changed.json())
