"""POST /v1/people/batch: the HRIS sync — upsert by employee number, all or nothing, every bad item
by pointer, the same body again changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import SENSITIVE, WRITER, move, person_body, pointers, unit


@pytest.fixture
async def teams(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {key: await unit(talent_client, key, "team") for key in ("east", "west")}


async def numbers(client: httpx.AsyncClient) -> list[str]:
    return sorted(p["employee_number"] for p in (await client.get("/v1/people", params={"limit": 500})).json()["items"])


async def test_inserts_updates_and_counts_unchanged_on_a_retry(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]
) -> None:
    body = {"people": [person_body(str(i), teams["east"]) for i in range(3)]}
    first = await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    assert first.status_code == 200, first.text
    assert first.json() == {"inserted": 3, "updated": 0, "unchanged": 0}
    again = await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    assert again.json() == {"inserted": 0, "updated": 0, "unchanged": 3}

    body["people"][0]["name"] = "Renamed"
    body["people"][1] |= {"end_date": "2024-12-31", "separation_reason": "voluntary"}
    body["people"][2]["org_unit_id"] = teams["west"]["id"]  # the unit on the hire date
    body["people"].append(person_body("new", teams["west"]))
    changed = await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    assert changed.json() == {"inserted": 1, "updated": 3, "unchanged": 0}
    people = {p["employee_number"]: p for p in (await talent_client.get("/v1/people")).json()["items"]}
    assert people["0"]["name"] == "Renamed"
    assert people["1"]["end_date"] == "2024-12-31"
    assert people["2"]["org_unit_id"] == teams["west"]["id"]
    history = (await talent_client.get(f"/v1/people/{people['2']['id']}/assignments")).json()["items"]
    assert [(a["org_unit_id"], a["effective_date"]) for a in history] == [(teams["west"]["id"], "2024-01-01")]
    assert (await talent_client.post("/v1/people/batch", json=body, headers=WRITER)).json()["unchanged"] == 4


async def test_one_bad_item_writes_nothing_and_every_bad_item_is_named(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]
) -> None:
    people = [person_body(str(i), teams["east"]) for i in range(6)]
    people[1]["email"] = "nope"
    people[2]["org_unit_id"] = "00000000-0000-4000-8000-000000000000"
    people[3]["employee_number"] = "0"  # a duplicate of item 0
    people[4] |= {"end_date": "2023-01-01", "separation_reason": "other"}
    del people[5]["hire_date"]
    response = await talent_client.post("/v1/people/batch", json={"people": people}, headers=WRITER)
    assert response.status_code == 422
    assert sorted(pointers(response)) == [
        "/people/1/email",
        "/people/2/org_unit_id",
        "/people/3/employee_number",
        "/people/4/end_date",
        "/people/5/hire_date",
    ]
    assert await numbers(talent_client) == []


async def test_a_batch_cannot_leave_a_later_assignment_outside_employment(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]
) -> None:
    body = {"people": [person_body("A", teams["east"])]}
    await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    [person] = (await talent_client.get("/v1/people")).json()["items"]
    await move(talent_client, person, teams["west"], "2024-06-01")
    body["people"][0] |= {"end_date": "2024-05-31", "separation_reason": "voluntary"}
    response = await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    assert response.status_code == 422
    assert pointers(response) == ["/people/0/end_date"]
    body["people"][0] |= {"end_date": None, "separation_reason": None, "hire_date": "2024-07-01"}
    response = await talent_client.post("/v1/people/batch", json=body, headers=WRITER)
    assert pointers(response) == ["/people/0/hire_date"]


async def test_more_than_a_thousand_people_is_413(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]
) -> None:
    people = [person_body(str(i), teams["east"]) for i in range(1_001)]
    response = await talent_client.post("/v1/people/batch", json={"people": people}, headers=WRITER)
    assert response.status_code == 413
    exactly = await talent_client.post("/v1/people/batch", json={"people": people[:1_000]}, headers=WRITER)
    assert exactly.json()["inserted"] == 1_000


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[]", 422),
        (b'{"people": {}}', 422),
        (b'{"people": [], "extra": 1}', 422),
        (b'{"people": [1]}', 422),
    ],
)
async def test_a_malformed_batch_is_refused(talent_client: httpx.AsyncClient, body: bytes, status: int) -> None:
    response = await talent_client.post(
        "/v1/people/batch", content=body, headers={**WRITER, "content-type": "application/json"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_salaries_in_a_batch_need_the_scope_and_a_retry_adds_none(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]
) -> None:
    body = {"people": [person_body("A", teams["east"], salary={"amount": 3000, "currency": "EUR"})]}
    assert (await talent_client.post("/v1/people/batch", json=body, headers=WRITER)).status_code == 403
    assert (await talent_client.post("/v1/people/batch", json=body, headers=SENSITIVE)).json()["inserted"] == 1
    assert (await talent_client.post("/v1/people/batch", json=body, headers=SENSITIVE)).json()["unchanged"] == 1
    body["people"][0]["salary"]["amount"] = 3100
    assert (await talent_client.post("/v1/people/batch", json=body, headers=SENSITIVE)).json()["updated"] == 1
    [person] = (await talent_client.get("/v1/people", headers=SENSITIVE)).json()["items"]
    history = (await talent_client.get(f"/v1/people/{person['id']}/salaries", headers=SENSITIVE)).json()["items"]
    assert [s["amount"] for s in history] == [3000, 3100]
