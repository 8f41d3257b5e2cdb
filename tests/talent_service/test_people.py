"""People: hiring with the first assignment, moves, end dates, managers, the subtree filter on a
day, ETag/If-Match and Idempotency-Key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, WRITER, hire, move, person_body, pointers, unit


@pytest.fixture
async def company(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    acme = await unit(talent_client, "acme", "company")
    sales = await unit(talent_client, "sales", "department", acme)
    east = await unit(talent_client, "east", "team", sales)
    ops = await unit(talent_client, "ops", "department", acme)
    return {"acme": acme, "sales": sales, "east": east, "ops": ops}


async def test_hiring_creates_the_first_assignment_on_the_hire_date(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    response = await talent_client.post("/v1/people", json=person_body("E1", company["east"], job_title="Rep"))
    assert response.status_code == 201
    person = response.json()
    assert response.headers["location"] == f"/v1/people/{person['id']}"
    assert response.headers["etag"] == '"1"'
    assert (person["org_unit_id"], person["job_title"], person["end_date"]) == (company["east"]["id"], "Rep", None)
    history = (await talent_client.get(f"/v1/people/{person['id']}/assignments")).json()["items"]
    assert [(a["org_unit_id"], a["effective_date"]) for a in history] == [(company["east"]["id"], "2024-01-01")]
    read = await talent_client.get(f"/v1/people/{person['id']}")
    assert read.json() == person
    assert (await talent_client.get(f"/v1/people/{person['id']}", headers={"If-None-Match": '"1"'})).status_code == 304


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"email": "not-an-email"}, "/email"),
        ({"email": "a@b"}, "/email"),
        ({"hire_date": None}, "/hire_date"),
        ({"employee_number": ""}, "/employee_number"),
        ({"end_date": "2023-12-31", "separation_reason": "voluntary"}, "/end_date"),
        ({"end_date": "2024-06-30"}, "/separation_reason"),
        ({"separation_reason": "voluntary"}, "/end_date"),
        ({"separation_reason": "fired"}, "/separation_reason"),
        ({"org_unit_id": "00000000-0000-4000-8000-000000000000"}, "/org_unit_id"),
        ({"manager_id": "00000000-0000-4000-8000-000000000000"}, "/manager_id"),
        ({"nickname": "x"}, "/nickname"),
    ],
)
async def test_refuses_a_bad_person_naming_the_field(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]], fields: dict[str, Any], pointer: str
) -> None:
    response = await talent_client.post("/v1/people", json=person_body("E1", company["east"]) | fields)
    assert response.status_code == 422, response.text
    assert pointer in pointers(response)
    assert (await talent_client.get("/v1/people")).json()["items"] == []


async def test_hiring_into_an_archived_unit_is_refused(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    await talent_client.patch("/v1/org-units/ops", json={"archived": True}, headers={"If-Match": '"1"'})
    response = await talent_client.post("/v1/people", json=person_body("E1", company["ops"]))
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "archived"


async def test_employee_numbers_are_unique(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    await hire(talent_client, "E1", company["east"])
    again = await talent_client.post("/v1/people", json=person_body("E1", company["ops"]))
    assert again.status_code == 409
    assert pointers(again) == ["/employee_number"]
    other = await hire(talent_client, "E2", company["east"])
    renumber = await talent_client.patch(
        f"/v1/people/{other['id']}", json={"employee_number": "E1"}, headers={"If-Match": '"1"'}
    )
    assert renumber.status_code == 409


async def test_a_manager_is_another_person(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    boss = await hire(talent_client, "B", company["sales"])
    rep = await hire(talent_client, "R", company["east"], manager_id=boss["id"])
    assert rep["manager_id"] == boss["id"]
    selfish = await talent_client.patch(
        f"/v1/people/{boss['id']}", json={"manager_id": boss["id"]}, headers={"If-Match": '"1"'}
    )
    assert selfish.status_code == 422
    assert selfish.json()["errors"][0]["code"] == "self"


async def test_moves_follow_the_rules_of_the_history(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    person = await hire(talent_client, "E1", company["east"], hire="2024-01-10")
    path = f"/v1/people/{person['id']}/assignments"
    for day in ("2024-01-10", "2024-01-09"):
        early = await talent_client.post(path, json={"org_unit_id": company["ops"]["id"], "effective_date": day})
        assert early.status_code == 422
        assert pointers(early) == ["/effective_date"]
    await move(talent_client, person, company["ops"], "2024-03-01")
    same_day = await talent_client.post(
        path, json={"org_unit_id": company["sales"]["id"], "effective_date": "2024-03-01"}
    )
    assert same_day.status_code == 409
    await move(talent_client, person, company["east"], "2024-05-01")  # out and back
    history = (await talent_client.get(path)).json()["items"]
    assert [(a["org_unit_id"], a["effective_date"]) for a in history] == [
        (company["east"]["id"], "2024-01-10"),
        (company["ops"]["id"], "2024-03-01"),
        (company["east"]["id"], "2024-05-01"),
    ]
    # the end date may fall on the last move, not before it
    ended = await talent_client.patch(
        f"/v1/people/{person['id']}",
        json={"end_date": "2024-04-30", "separation_reason": "voluntary"},
        headers={"If-Match": '"1"'},
    )
    assert ended.status_code == 422
    assert pointers(ended) == ["/end_date"]
    ended = await talent_client.patch(
        f"/v1/people/{person['id']}",
        json={"end_date": "2024-05-01", "separation_reason": "voluntary"},
        headers={"If-Match": '"1"'},
    )
    assert ended.status_code == 200
    assert ended.headers["etag"] == '"2"'
    after_end = await talent_client.post(
        path, json={"org_unit_id": company["ops"]["id"], "effective_date": "2024-05-02"}
    )
    assert after_end.status_code == 422


async def test_the_first_assignment_moves_with_the_hire_date(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    person = await hire(talent_client, "E1", company["east"], hire="2024-01-10")
    await move(talent_client, person, company["ops"], "2024-03-01")
    late = await talent_client.patch(
        f"/v1/people/{person['id']}", json={"hire_date": "2024-03-01"}, headers={"If-Match": '"1"'}
    )
    assert late.status_code == 422
    assert pointers(late) == ["/hire_date"]
    earlier = await talent_client.patch(
        f"/v1/people/{person['id']}", json={"hire_date": "2023-12-01"}, headers={"If-Match": '"1"'}
    )
    assert earlier.status_code == 200
    history = (await talent_client.get(f"/v1/people/{person['id']}/assignments")).json()["items"]
    assert [a["effective_date"] for a in history] == ["2023-12-01", "2024-03-01"]


async def test_an_end_date_goes_with_a_reason_and_a_rehire_clears_both(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    person = await hire(talent_client, "E1", company["east"])
    path = f"/v1/people/{person['id']}"
    alone = await talent_client.patch(path, json={"end_date": "2024-06-30"}, headers={"If-Match": '"1"'})
    assert alone.status_code == 422
    assert pointers(alone) == ["/separation_reason"]
    ended = await talent_client.patch(
        path, json={"end_date": "2024-06-30", "separation_reason": "retirement"}, headers={"If-Match": '"1"'}
    )
    assert (ended.json()["end_date"], ended.json()["separation_reason"]) == ("2024-06-30", "retirement")
    rehired = await talent_client.patch(path, json={"end_date": None}, headers={"If-Match": '"2"'})
    assert (rehired.json()["end_date"], rehired.json()["separation_reason"]) == (None, None)
    assert (await talent_client.patch(path, json={"name": "X"})).status_code == 428
    assert (await talent_client.patch(path, json={"name": "X"}, headers={"If-Match": '"1"'})).status_code == 412
    assert (await talent_client.patch(path, json={"name": None}, headers={"If-Match": '"3"'})).status_code == 422


async def test_listing_by_org_unit_covers_its_subtree_on_a_day(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    today = dt.date.today()
    a = await hire(talent_client, "A", company["east"], hire="2024-01-01")
    b = await hire(talent_client, "B", company["ops"], hire="2024-01-01")
    await move(talent_client, b, company["sales"], "2024-06-01")
    c = await hire(talent_client, "C", company["sales"], hire="2024-01-01")
    await talent_client.patch(
        f"/v1/people/{c['id']}",
        json={"end_date": "2024-03-31", "separation_reason": "other"},
        headers={"If-Match": '"1"'},
    )
    await hire(talent_client, "D", company["sales"], hire=(today + dt.timedelta(days=30)).isoformat())

    async def numbers(**params: str) -> list[str]:
        response = await talent_client.get("/v1/people", params=params)
        assert response.status_code == 200, response.text
        return sorted(p["employee_number"] for p in response.json()["items"])

    assert await numbers(org_unit="sales") == ["A", "B"]  # today: C has left, D not yet hired
    assert await numbers(org_unit=company["sales"]["id"], active_on="2024-03-31") == ["A", "C"]
    assert await numbers(org_unit="sales", active_on="2024-04-01") == ["A"]
    assert await numbers(org_unit="acme", active_on="2024-02-01") == ["A", "B", "C"]
    assert await numbers(org_unit="ops", active_on="2024-05-31") == ["B"]
    assert await numbers(active_on="2024-04-01") == ["A", "B"]
    assert await numbers() == ["A", "B", "C", "D"]
    assert await numbers(q="person b") == ["B"]
    on_day = (await talent_client.get("/v1/people", params={"org_unit": "acme", "active_on": "2024-05-31"})).json()
    assert {p["employee_number"]: p["org_unit_id"] for p in on_day["items"]}["B"] == company["ops"]["id"]
    assert (await talent_client.get("/v1/people", params={"org_unit": "nowhere"})).status_code == 404
    assert a["org_unit_id"] == company["east"]["id"]


async def test_listing_pages_with_a_cursor(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    for number in ("1", "2", "3"):
        await hire(talent_client, number, company["east"])
    first = (await talent_client.get("/v1/people", params={"limit": 2})).json()
    rest = (await talent_client.get("/v1/people", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [p["employee_number"] for p in first["items"] + rest["items"]] == ["1", "2", "3"]
    assert rest["next_cursor"] is None


async def test_an_idempotency_key_replays_a_hire_and_a_move(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    body = person_body("E1", company["east"])
    first = await talent_client.post("/v1/people", json=body, headers={"Idempotency-Key": "hire-e1"})
    again = await talent_client.post("/v1/people", json=body, headers={"Idempotency-Key": "hire-e1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    path = f"/v1/people/{first.json()['id']}/assignments"
    move_body = {"org_unit_id": company["ops"]["id"], "effective_date": "2024-02-01"}
    one = await talent_client.post(path, json=move_body, headers={"Idempotency-Key": "move-1"})
    two = await talent_client.post(path, json=move_body, headers={"Idempotency-Key": "move-1"})
    assert (one.status_code, two.status_code) == (201, 201)
    assert one.json() == two.json()
    assert len((await talent_client.get(path)).json()["items"]) == 2


async def test_unknown_people_are_404(talent_client: httpx.AsyncClient) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for method, path in (
        ("GET", f"/v1/people/{missing}"),
        ("PATCH", f"/v1/people/{missing}"),
        ("GET", f"/v1/people/{missing}/assignments"),
        ("GET", f"/v1/people/{missing}/salaries"),
    ):
        response = await talent_client.request(
            method, path, headers={"If-Match": "*"}, json={} if method == "PATCH" else None
        )
        assert response.status_code == 404, (method, path)
    moved = await talent_client.post(
        f"/v1/people/{missing}/assignments", json={"org_unit_id": missing, "effective_date": "2024-01-02"}
    )
    assert moved.status_code == 404


async def test_writing_people_needs_talent_write(
    talent_client: httpx.AsyncClient, company: dict[str, dict[str, Any]]
) -> None:
    assert (
        await talent_client.post("/v1/people", json=person_body("E1", company["east"]), headers=READER)
    ).status_code == 403
    created = await talent_client.post("/v1/people", json=person_body("E1", company["east"]), headers=WRITER)
    assert created.status_code == 201
    batch = await talent_client.post("/v1/people/batch", json={"people": []}, headers=READER)
    assert batch.status_code == 403


@pytest.mark.parametrize("day", ["0", "2024-1-1", "20240101", "2024-02-30"])
async def test_a_day_in_a_query_is_only_an_iso_date(talent_client: httpx.AsyncClient, day: str) -> None:
    response = await talent_client.get("/v1/people", params={"active_on": day})
    assert response.status_code == 422
    assert [(e["location"], e["parameter"]) for e in response.json()["errors"]] == [("query", "active_on")]


async def test_an_undeclared_method_on_the_batch_route_is_405(talent_client: httpx.AsyncClient) -> None:
    """`/people/batch` is not a person id: PATCH there is no PATCH of a person called `batch`."""
    assert (await talent_client.patch("/v1/people/batch", json={})).status_code == 405
    assert (await talent_client.get("/v1/people/not-an-id")).status_code == 404
