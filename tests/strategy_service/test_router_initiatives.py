"""Initiatives over HTTP: create (validated targets, the KPI checked with the real KPI service,
idempotent, ETag), status transitions, If-Match, archive, filters (overdue in the organisation's
time zone), cursor pagination, dated updates, scopes, and the lookup the alignment views use."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.strategy_service.main import app
from shared.clients import KpiClient
from tests.auth import token
from tests.kpi_service.helpers import ago, create_kpi, push_ok
from tests.servers import serve
from tests.shared.conftest import client_settings, tokens
from tests.strategy_service.conftest import UseSettings, created, key_result, objective, refused

TODAY = dt.datetime.now(dt.UTC).date()
DAY = dt.timedelta(days=1)


def _dates(start: int = -10, due: int = 10) -> dict[str, str]:
    return {"start_date": str(TODAY + start * DAY), "due_date": str(TODAY + due * DAY)}


async def initiative(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    if not {"objective_id", "key_result_id", "kpi"} & fields.keys():
        fields["objective_id"] = (await objective(client))["id"]
    return await created(client, "/v1/initiatives", {"title": "Initiative", **_dates(), **fields})


async def patched(client: httpx.AsyncClient, made: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    current = await client.get(f"/v1/initiatives/{made['id']}")
    return await client.patch(f"/v1/initiatives/{made['id']}", json=body, headers={"If-Match": current.headers["ETag"]})


async def test_create_answers_201_with_etag_location_and_reads_back(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    goal = await objective(strategy_client)
    measured = await key_result(strategy_client, goal["id"])
    owner, person = str(uuid.uuid4()), str(uuid.uuid4())
    body = {
        "title": "Kanban on line 2", "description": "Pull flow", "owner_org_unit_id": owner,
        "responsible_person_id": person, "objective_id": goal["id"], "key_result_id": measured["id"],
        "kpi": kpi["id"], **_dates(-3, 30), "status": "in_progress",
    }  # fmt: skip
    response = await strategy_client.post("/v1/initiatives", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/initiatives/{made['id']}"
    assert made | {"id": None, "created_at": None, "updated_at": None} == body | {
        "id": None, "kpi": kpi["key"], "done_on": None, "overdue": False, "version": 1, "archived_at": None,
        "created_at": None, "updated_at": None,
    }  # fmt: skip  # the KPI given by id is stored by key
    read = await strategy_client.get(f"/v1/initiatives/{made['id']}")
    assert (read.status_code, read.headers["ETag"], read.json()) == (200, '"1"', made)
    assert (await strategy_client.get(f"/v1/initiatives/{uuid.uuid4()}")).status_code == 404


async def test_create_is_idempotent_with_a_key(strategy_client: httpx.AsyncClient) -> None:
    goal = await objective(strategy_client)
    body = {"title": "Once", "objective_id": goal["id"], **_dates()}
    headers = {"Idempotency-Key": "initiative-1"}
    first = await strategy_client.post("/v1/initiatives", json=body, headers=headers)
    again = await strategy_client.post("/v1/initiatives", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    listed = await strategy_client.get("/v1/initiatives", params={"objective_id": goal["id"]})
    assert len(listed.json()["items"]) == 1
    other = await strategy_client.post("/v1/initiatives", json=body | {"title": "Other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"


async def test_bodies_are_validated_field_by_field(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    goal = await objective(strategy_client)
    base = {"title": "Bad", "objective_id": goal["id"], **_dates()}
    post = "/v1/initiatives"
    ordered = await strategy_client.post(post, json=base | _dates(0, -1))
    assert "before it starts" in refused(ordered, "/due_date", "date_order")
    assert (await strategy_client.post(post, json=base | _dates(0, 0))).status_code == 201  # one day is fine
    refused(await strategy_client.post(post, json={"title": "x", **_dates()}), "", "no_target")
    refused(await strategy_client.post(post, json=base | {"objective_id": str(uuid.uuid4())}), "/objective_id",
            "unknown_objective")  # fmt: skip
    refused(await strategy_client.post(post, json=base | {"key_result_id": str(uuid.uuid4())}), "/key_result_id",
            "unknown_key_result")  # fmt: skip
    elsewhere = await key_result(strategy_client, (await objective(strategy_client))["id"])
    refused(await strategy_client.post(post, json=base | {"key_result_id": elsewhere["id"]}), "/key_result_id",
            "other_objective")  # fmt: skip
    refused(await strategy_client.post(post, json=base | {"kpi": "no.such_kpi"}), "/kpi", "unknown_kpi")
    archived = await create_kpi(kpi_client)
    await push_ok(kpi_client, (archived["key"], ago(days=1), 1.0))  # a KPI with data is archived, not deleted
    await kpi_client.delete(f"/v1/kpis/{archived['key']}", headers={"If-Match": '"1"'})
    refused(await strategy_client.post(post, json=base | {"kpi": archived["key"]}), "/kpi", "archived_kpi")
    refused(await strategy_client.post(post, json=base | {"status": "done"}), "/status", "initial_status")
    refused(await strategy_client.post(post, json=base | {"status": "paused"}), "/status")
    refused(await strategy_client.post(post, json=base | {"title": ""}), "/title")
    refused(await strategy_client.post(post, json=base | {"start_date": "2026-02-30"}), "/start_date")
    archived_goal = await objective(strategy_client)
    await strategy_client.delete(f"/v1/objectives/{archived_goal['id']}", headers={"If-Match": '"1"'})
    refused(await strategy_client.post(post, json=base | {"objective_id": archived_goal["id"]}), "/objective_id")


async def test_the_kpi_service_down_is_a_503_naming_it(strategy_client: httpx.AsyncClient) -> None:
    from services.kpi_service.main import app as kpi_app

    goal = await objective(strategy_client)
    fallback = app.state.kpi_client
    try:
        async with serve(kpi_app) as url:
            app.state.kpi_client = KpiClient.create(client_settings(), tokens("kpi:read"), base_url=url)
        # Stopped: its port refuses connections.
        body = {"title": "x", "kpi": "ops.anything", **_dates()}
        down = await strategy_client.post("/v1/initiatives", json=body)
        assert down.status_code == 503, down.text
        assert down.json()["source"] == "kpi"
        assert "Retry-After" in down.headers
        # Without a KPI, nothing needs the KPI service.
        assert (await strategy_client.post("/v1/initiatives", json=body | {"kpi": None, "objective_id": goal["id"]})
                ).status_code == 201  # fmt: skip
    finally:
        await app.state.kpi_client.aclose()
        app.state.kpi_client = fallback


async def test_scopes_are_enforced(strategy_client: httpx.AsyncClient) -> None:
    made = await initiative(strategy_client)
    reader = {"X-Internal-Token": token("strategy", "strategy:read")}
    nobody = {"X-Internal-Token": token("strategy", "kpi:read")}
    path = f"/v1/initiatives/{made['id']}"
    body = {"title": "No", "objective_id": made["objective_id"], **_dates()}
    assert (await strategy_client.post("/v1/initiatives", json=body, headers=reader)).status_code == 403
    assert (await strategy_client.patch(path, json={"title": "y"}, headers=reader | {"If-Match": '"1"'})
            ).status_code == 403  # fmt: skip
    assert (await strategy_client.delete(path, headers=reader | {"If-Match": '"1"'})).status_code == 403
    assert (await strategy_client.post(f"{path}/updates", json={"note": "n"}, headers=reader)).status_code == 403
    for read in ("/v1/initiatives", path, f"{path}/updates"):
        assert (await strategy_client.get(read, headers=reader)).status_code == 200
        assert (await strategy_client.get(read, headers=nobody)).status_code == 403
    assert (await strategy_client.get(f"{path}/effect", headers=nobody)).status_code == 403
    lookup = {"objective_ids": [made["objective_id"]]}
    assert (await strategy_client.post("/v1/initiative-lookups", json=lookup, headers=reader)).status_code == 200
    assert (await strategy_client.post("/v1/initiative-lookups", json=lookup, headers=nobody)).status_code == 403


async def test_status_moves_planned_in_progress_done_only(strategy_client: httpx.AsyncClient) -> None:
    made = await initiative(strategy_client, **_dates(-20, 5))
    early = await patched(strategy_client, made, {"status": "done"})
    assert early.status_code == 409
    assert "in_progress first" in early.json()["detail"]
    refused(await patched(strategy_client, made, {"done_on": str(TODAY)}), "/done_on", "not_done")
    started = await patched(strategy_client, made, {"status": "in_progress"})
    assert (started.status_code, started.json()["status"], started.headers["ETag"]) == (200, "in_progress", '"2"')
    back = await patched(strategy_client, made, {"status": "planned"})
    assert (back.status_code, "go back" in back.json()["detail"]) == (409, True)
    future = await patched(strategy_client, made, {"status": "done", "done_on": str(TODAY + DAY)})
    assert "future" in refused(future, "/done_on", "future")
    before = await patched(strategy_client, made, {"status": "done", "done_on": str(TODAY - 21 * DAY)})
    refused(before, "/done_on", "before_start")
    done = await patched(strategy_client, made, {"status": "done"})
    assert (done.status_code, done.json()["status"], done.json()["done_on"]) == (200, "done", str(TODAY))
    corrected = await patched(strategy_client, made, {"done_on": str(TODAY - 20 * DAY)})  # its start day: fine
    assert (corrected.status_code, corrected.json()["done_on"]) == (200, str(TODAY - 20 * DAY))
    refused(await patched(strategy_client, made, {"start_date": str(TODAY - 19 * DAY)}), "/start_date",
            "before_start")  # fmt: skip
    final = await patched(strategy_client, made, {"status": "cancelled"})
    assert (final.status_code, "final" in final.json()["detail"]) == (409, True)
    unchanged = await strategy_client.get(f"/v1/initiatives/{made['id']}")
    assert (unchanged.json()["status"], unchanged.headers["ETag"]) == ("done", '"4"')


async def test_planned_and_in_progress_may_be_cancelled_and_cancelled_is_final(
    strategy_client: httpx.AsyncClient,
) -> None:
    planned = await initiative(strategy_client)
    cancelled = await patched(strategy_client, planned, {"status": "cancelled"})
    assert (cancelled.status_code, cancelled.json()["status"], cancelled.json()["done_on"]) == (200, "cancelled", None)
    assert (await patched(strategy_client, planned, {"status": "in_progress"})).status_code == 409
    running = await initiative(strategy_client, status="in_progress")
    assert (await patched(strategy_client, running, {"status": "cancelled"})).json()["status"] == "cancelled"


async def test_patch_needs_the_current_etag_and_validates_like_create(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    made = await initiative(strategy_client)
    path = f"/v1/initiatives/{made['id']}"
    assert (await strategy_client.patch(path, json={"title": "After"})).status_code == 428
    stale = await strategy_client.patch(path, json={"title": "After"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    refused(await patched(strategy_client, made, {"due_date": str(TODAY - 11 * DAY)}), "/due_date", "date_order")
    refused(await patched(strategy_client, made, {"start_date": str(TODAY + 11 * DAY)}), "/start_date", "date_order")
    refused(await patched(strategy_client, made, {"objective_id": None}), "", "no_target")
    refused(await patched(strategy_client, made, {"title": None}), "/title", "null")
    refused(await patched(strategy_client, made, {"kpi": "no.such_kpi"}), "/kpi", "unknown_kpi")
    kpi = await create_kpi(kpi_client)
    moved = await patched(strategy_client, made, {"kpi": kpi["key"], "objective_id": None, "title": "After"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["kpi"], moved.json()["objective_id"], moved.json()["title"], moved.json()["version"]) == (
        kpi["key"], None, "After", 2,
    )  # fmt: skip


async def test_delete_archives_and_an_archived_initiative_takes_no_changes(strategy_client: httpx.AsyncClient) -> None:
    made = await initiative(strategy_client)
    path = f"/v1/initiatives/{made['id']}"
    assert (await strategy_client.delete(path)).status_code == 428
    archived = await strategy_client.delete(path, headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    assert (archived.json()["archived_at"] is not None, archived.headers["ETag"]) == (True, '"2"')
    listed = await strategy_client.get("/v1/initiatives", params={"objective_id": made["objective_id"]})
    assert listed.json()["items"] == []
    shown = await strategy_client.get(
        "/v1/initiatives", params={"objective_id": made["objective_id"], "archived": "true"}
    )
    assert [i["id"] for i in shown.json()["items"]] == [made["id"]]
    assert (await strategy_client.get(path)).status_code == 200  # still readable by id
    assert (await patched(strategy_client, made, {"title": "x"})).status_code == 409
    assert (await strategy_client.post(f"{path}/updates", json={"note": "late"})).status_code == 409


async def test_filters_and_cursor_pagination(strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    goal = await objective(strategy_client)
    measured = await key_result(strategy_client, goal["id"])
    unit = str(uuid.uuid4())
    a = await initiative(strategy_client, objective_id=goal["id"], owner_org_unit_id=unit)
    b = await initiative(strategy_client, key_result_id=measured["id"], status="in_progress")
    c = await initiative(strategy_client, kpi=kpi["key"], owner_org_unit_id=unit)

    async def ids(**params: str) -> list[str]:
        response = await strategy_client.get("/v1/initiatives", params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids(objective_id=goal["id"]) == [a["id"]]
    assert await ids(key_result_id=measured["id"]) == [b["id"]]
    assert await ids(kpi=kpi["key"]) == [c["id"]]
    assert await ids(owner_org_unit_id=unit) == [a["id"], c["id"]]
    assert await ids(owner_org_unit_id=unit, status="planned", kpi=kpi["key"]) == [c["id"]]
    assert b["id"] in await ids(status="in_progress")
    assert b["id"] not in await ids(status="planned")
    first = (await strategy_client.get("/v1/initiatives", params={"owner_org_unit_id": unit, "limit": 1})).json()
    assert [i["id"] for i in first["items"]] == [a["id"]]
    second = await strategy_client.get(
        "/v1/initiatives", params={"owner_org_unit_id": unit, "limit": 1, "cursor": first["next_cursor"]}
    )
    assert ([i["id"] for i in second.json()["items"]], second.json()["next_cursor"]) == ([c["id"]], None)
    assert (await strategy_client.get("/v1/initiatives", params={"status": "paused"})).status_code == 422
    assert (await strategy_client.get("/v1/initiatives", params={"cursor": "garbage"})).status_code == 400


async def test_overdue_means_open_and_due_before_the_organisations_today(
    strategy_client: httpx.AsyncClient, strategy_settings: UseSettings
) -> None:
    east, west = ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")  # UTC+14 and UTC-11
    east_today = dt.datetime.now(east).date()
    unit = str(uuid.uuid4())
    yesterday_east = {"start_date": str(east_today - 30 * DAY), "due_date": str(east_today - DAY)}
    late = await initiative(strategy_client, owner_org_unit_id=unit, **yesterday_east)
    running = await initiative(strategy_client, owner_org_unit_id=unit, status="in_progress", **yesterday_east)
    finished = await initiative(strategy_client, owner_org_unit_id=unit, status="in_progress", **yesterday_east)
    assert (await patched(strategy_client, finished, {"status": "done", "done_on": yesterday_east["start_date"]})
            ).status_code == 200  # fmt: skip
    on_time = await initiative(strategy_client, owner_org_unit_id=unit, start_date=str(east_today - DAY),
                               due_date=str(east_today))  # fmt: skip
    params = {"owner_org_unit_id": unit, "overdue": "true"}

    strategy_settings(org_timezone="Pacific/Kiritimati")
    listed = (await strategy_client.get("/v1/initiatives", params=params)).json()["items"]
    assert [i["id"] for i in listed] == [late["id"], running["id"]]
    assert all(i["overdue"] for i in listed)
    assert (await strategy_client.get(f"/v1/initiatives/{on_time['id']}")).json()["overdue"] is False
    assert (await strategy_client.get(f"/v1/initiatives/{finished['id']}")).json()["overdue"] is False
    # Some 25 hours behind, the same due date is today or later: nothing is overdue yet.
    strategy_settings(org_timezone="Pacific/Pago_Pago")
    assert dt.datetime.now(west).date() < east_today
    assert (await strategy_client.get("/v1/initiatives", params=params)).json()["items"] == []
    assert (await strategy_client.get(f"/v1/initiatives/{late['id']}")).json()["overdue"] is False


async def test_updates_are_dated_authored_and_listed_newest_first(strategy_client: httpx.AsyncClient) -> None:
    made = await initiative(strategy_client)
    path = f"/v1/initiatives/{made['id']}/updates"
    first = await strategy_client.post(path, json={"note": "Kick-off done", "progress": 0.1})
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == path
    body = first.json()
    assert (body["initiative_id"], body["note"], body["progress"], body["author"]) == (
        made["id"], "Kick-off done", 0.1, "testkey01",
    )  # fmt: skip
    assert dt.datetime.fromisoformat(body["created_at"]).date() >= TODAY - DAY
    second = (await created(strategy_client, path, {"note": "Halfway", "progress": 0.5}))["id"]
    third = (await created(strategy_client, path, {"note": "No figure"}))["id"]
    listed = (await strategy_client.get(path)).json()["items"]
    assert [u["id"] for u in listed] == [third, second, body["id"]]
    page = (await strategy_client.get(path, params={"limit": 2})).json()
    rest = (await strategy_client.get(path, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [u["id"] for u in page["items"] + rest["items"]] == [third, second, body["id"]]
    assert rest["next_cursor"] is None
    refused(await strategy_client.post(path, json={"note": "x" * 2001}), "/note")
    refused(await strategy_client.post(path, json={"note": ""}), "/note")
    refused(await strategy_client.post(path, json={"note": "x", "progress": 1.5}), "/progress")
    refused(await strategy_client.post(path, json={"note": "x", "progress": -0.1}), "/progress")
    assert (await strategy_client.post(path, json={"note": "x" * 2000, "progress": 1})).status_code == 201
    unknown = f"/v1/initiatives/{uuid.uuid4()}/updates"
    assert (await strategy_client.post(unknown, json={"note": "x"})).status_code == 404
    assert (await strategy_client.get(unknown)).status_code == 404


async def test_one_lookup_finds_the_initiatives_aimed_at_many_targets(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    goals = [await objective(strategy_client) for _ in range(3)]
    measured = await key_result(strategy_client, goals[2]["id"])
    on_goal = await initiative(strategy_client, objective_id=goals[0]["id"], **_dates(-30, -1))
    on_kr = await initiative(strategy_client, key_result_id=measured["id"], status="in_progress")
    on_kpi = await initiative(strategy_client, kpi=kpi["key"])
    closed = await initiative(strategy_client, kpi=kpi["key"], status="in_progress")
    assert (await patched(strategy_client, closed, {"status": "done"})).status_code == 200
    await initiative(strategy_client, objective_id=goals[1]["id"])  # not asked for
    gone = await initiative(strategy_client, objective_id=goals[0]["id"])
    await strategy_client.delete(f"/v1/initiatives/{gone['id']}", headers={"If-Match": '"1"'})
    body = {"objective_ids": [goals[0]["id"]], "key_result_ids": [measured["id"]], "kpis": [kpi["key"]]}
    response = await strategy_client.post("/v1/initiative-lookups", json=body)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["id"] for i in items] == [on_goal["id"], on_kr["id"], on_kpi["id"]]
    assert [i["overdue"] for i in items] == [True, False, False]
    assert set(items[0]) == {
        "id", "title", "status", "objective_id", "key_result_id", "kpi", "owner_org_unit_id",
        "responsible_person_id", "start_date", "due_date", "done_on", "overdue",
    }  # fmt: skip
    every = (await strategy_client.post("/v1/initiative-lookups", json=body | {"open_only": False})).json()["items"]
    assert [i["id"] for i in every] == [on_goal["id"], on_kr["id"], on_kpi["id"], closed["id"]]
    assert (await strategy_client.post("/v1/initiative-lookups", json={})).json() == {"items": []}
    too_many = {"kpis": [f"k.{n}" for n in range(501)]}
    refused(await strategy_client.post("/v1/initiative-lookups", json=too_many), "/kpis")


async def test_dates_stay_within_the_platforms_years(strategy_client: httpx.AsyncClient) -> None:
    goal = await objective(strategy_client)
    body = {"title": "x", "objective_id": goal["id"], "due_date": "2026-01-31"}
    refused(await strategy_client.post("/v1/initiatives", json=body | {"start_date": "0001-01-01"}), "/start_date")
    refused(
        await strategy_client.post(
            "/v1/initiatives", json=body | {"start_date": "1900-01-01", "due_date": "9999-12-31"}
        ),
        "/due_date",
    )


async def test_the_lineage_and_the_forest_carry_the_open_initiatives_aimed_at_them(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    goal = await objective(strategy_client)
    other = await objective(strategy_client)
    measured = await key_result(strategy_client, goal["id"], kpi=kpi["key"])
    on_goal = await initiative(strategy_client, objective_id=goal["id"], **_dates(-30, -1))  # overdue
    on_kr = await initiative(strategy_client, key_result_id=measured["id"], status="in_progress")
    on_kpi = await initiative(strategy_client, kpi=kpi["key"])  # aimed at the KPI the key result reads
    done = await initiative(strategy_client, objective_id=goal["id"], status="in_progress")
    assert (await patched(strategy_client, done, {"status": "done"})).status_code == 200
    elsewhere = await initiative(strategy_client, objective_id=other["id"])

    lineage = (await strategy_client.get(f"/v1/objectives/{goal['id']}/lineage")).json()
    assert [i["id"] for i in lineage["initiatives"]] == [on_goal["id"], on_kr["id"], on_kpi["id"]]
    assert [i["overdue"] for i in lineage["initiatives"]] == [True, False, False]

    forest = (await strategy_client.get("/v1/objective-forest", params={"active_on": goal["period_start"]})).json()
    ids = {i["id"] for i in forest["initiatives"]}
    assert {on_goal["id"], on_kr["id"], on_kpi["id"], elsewhere["id"]} <= ids
    assert done["id"] not in ids
