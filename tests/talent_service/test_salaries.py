"""Salaries are sensitive: without `talent:sensitive` no salary field appears in any response that
carries a person, and a write carrying one is 403 (even a malformed one, never described)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, SENSITIVE, WRITER, person_body, unit

SALARY = {"amount": 4321.5, "currency": "EUR"}


def no_salary_anywhere(response: httpx.Response) -> None:
    assert "salary" not in response.text
    assert "4321" not in response.text


@pytest.fixture
async def team(talent_client: httpx.AsyncClient) -> dict[str, Any]:
    return await unit(talent_client, "east", "team")


@pytest.fixture
async def person(talent_client: httpx.AsyncClient, team: dict[str, Any]) -> dict[str, Any]:
    response = await talent_client.post("/v1/people", json=person_body("E1", team, salary=SALARY), headers=SENSITIVE)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_sensitive_caller_sees_the_salary_on_every_person_route(
    talent_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    expected = {"effective_date": "2024-01-01", "amount": 4321.5, "currency": "EUR"}
    assert {k: person["salary"][k] for k in expected} == expected
    read = (await talent_client.get(f"/v1/people/{person['id']}", headers=SENSITIVE)).json()
    assert read["salary"]["amount"] == 4321.5
    listed = (await talent_client.get("/v1/people", headers=SENSITIVE)).json()["items"]
    assert listed[0]["salary"]["amount"] == 4321.5
    patched = await talent_client.patch(
        f"/v1/people/{person['id']}", json={"name": "Renamed"}, headers={**SENSITIVE, "If-Match": '"1"'}
    )
    assert patched.json()["salary"]["amount"] == 4321.5


async def test_a_sensitive_caller_sees_null_for_someone_without_a_salary(
    talent_client: httpx.AsyncClient, team: dict[str, Any]
) -> None:
    response = await talent_client.post("/v1/people", json=person_body("E2", team), headers=SENSITIVE)
    assert response.json()["salary"] is None


@pytest.mark.parametrize("headers", [READER, WRITER], ids=["read", "write"])
async def test_without_the_scope_no_route_returns_a_salary_field(
    talent_client: httpx.AsyncClient, person: dict[str, Any], team: dict[str, Any], headers: dict[str, str]
) -> None:
    responses = [
        await talent_client.get(f"/v1/people/{person['id']}", headers=headers),
        await talent_client.get("/v1/people", headers=headers),
        await talent_client.get("/v1/people", params={"org_unit": "east"}, headers=headers),
    ]
    if headers is WRITER:
        responses += [
            await talent_client.patch(
                f"/v1/people/{person['id']}", json={"name": "Renamed"}, headers={**headers, "If-Match": '"1"'}
            ),
            await talent_client.post("/v1/people", json=person_body("E2", team), headers=headers),
        ]
    for response in responses:
        assert response.status_code in (200, 201), response.text
        no_salary_anywhere(response)
    assert len(responses[1].json()["items"]) >= 1


@pytest.mark.parametrize("salary", [SALARY, {"amount": -4321, "currency": "EUR"}, {"amount": "lots"}, "4321"], ids=str)
async def test_writes_carrying_a_salary_are_403_without_the_scope(
    talent_client: httpx.AsyncClient, person: dict[str, Any], team: dict[str, Any], salary: Any
) -> None:
    responses = [
        await talent_client.post("/v1/people", json=person_body("E2", team, salary=salary), headers=WRITER),
        await talent_client.patch(
            f"/v1/people/{person['id']}", json={"salary": salary}, headers={**WRITER, "If-Match": '"1"'}
        ),
        await talent_client.post(
            "/v1/people/batch", json={"people": [person_body("E3", team, salary=salary)]}, headers=WRITER
        ),
    ]
    for response in responses:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "4321" not in response.text
    assert len((await talent_client.get("/v1/people")).json()["items"]) == 1


async def test_salary_routes_need_the_scope(talent_client: httpx.AsyncClient, person: dict[str, Any]) -> None:
    path = f"/v1/people/{person['id']}/salaries"
    body = {"effective_date": "2025-01-01", "amount": 5000, "currency": "EUR"}
    for headers in (READER, WRITER):
        assert (await talent_client.get(path, headers=headers)).status_code == 403
        assert (await talent_client.post(path, json=body, headers=headers)).status_code == 403
    read_only_sensitive = {**READER}
    assert (await talent_client.post(path, json=body, headers=read_only_sensitive)).status_code == 403
    created = await talent_client.post(path, json=body, headers=SENSITIVE)
    assert created.status_code == 201
    history = (await talent_client.get(path, headers=SENSITIVE)).json()["items"]
    assert [(s["effective_date"], s["amount"]) for s in history] == [("2024-01-01", 4321.5), ("2025-01-01", 5000)]
    read = (await talent_client.get(f"/v1/people/{person['id']}", headers=SENSITIVE)).json()
    assert read["salary"]["amount"] == 5000  # the salary today


async def test_a_salary_before_the_hire_date_or_malformed_is_refused(
    talent_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    path = f"/v1/people/{person['id']}/salaries"
    early = await talent_client.post(
        path, json={"effective_date": "2023-12-31", "amount": 5000, "currency": "EUR"}, headers=SENSITIVE
    )
    assert early.status_code == 422
    for bad in ({"amount": 0}, {"currency": "euro"}, {"amount": float("1e13")}):
        body = {"effective_date": "2025-01-01", "amount": 5000, "currency": "EUR"} | bad
        assert (await talent_client.post(path, json=body, headers=SENSITIVE)).status_code == 422


async def test_a_patched_salary_starts_today_only_when_it_changes(
    talent_client: httpx.AsyncClient, person: dict[str, Any]
) -> None:
    path = f"/v1/people/{person['id']}"
    same = await talent_client.patch(path, json={"salary": SALARY}, headers={**SENSITIVE, "If-Match": '"1"'})
    assert same.headers["etag"] == '"1"'  # nothing changed
    raised = await talent_client.patch(
        path, json={"salary": {"amount": 5000, "currency": "EUR"}}, headers={**SENSITIVE, "If-Match": '"1"'}
    )
    assert raised.headers["etag"] == '"2"'
    assert raised.json()["salary"]["amount"] == 5000
    history = (await talent_client.get(f"{path}/salaries", headers=SENSITIVE)).json()["items"]
    assert len(history) == 2


async def test_no_salary_reaches_the_logs(
    talent_client: httpx.AsyncClient, team: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await talent_client.post(
        "/v1/people", json=person_body("E9", team, salary={"amount": 98765.25, "currency": "EUR"}), headers=SENSITIVE
    )
    assert created.status_code == 201, created.text
    person_id = created.json()["id"]
    salaries = f"/v1/people/{person_id}/salaries"
    body = {"effective_date": "2025-01-01", "amount": 87654.75, "currency": "EUR"}
    assert (await talent_client.post(salaries, json=body, headers=SENSITIVE)).status_code == 201
    assert (await talent_client.post(salaries, json=body, headers=WRITER)).status_code == 403
    refused = {"effective_date": "1990-01-01", "amount": 76543.5, "currency": "EUR"}  # before the hire
    assert (await talent_client.post(salaries, json=refused, headers=SENSITIVE)).status_code == 422
    assert (await talent_client.get(salaries, headers=SENSITIVE)).status_code == 200
    access = [r for r in caplog.records if r.name == "pilotage.access"]
    assert len(access) >= 5, "each request writes an access record"
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the test's client
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server)
    for amount in ("98765", "87654", "76543"):
        assert amount not in logged
    assert person_id not in logged  # routes are logged by template, never by path
