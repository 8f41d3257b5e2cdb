"""Trainings and enrolments: creation, idempotency, the enrolled → completed | dropped life cycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, hire, pointers, unit
from tests.talent_service.test_skills import skill


@pytest.fixture
async def setup(talent_client: httpx.AsyncClient) -> dict[str, Any]:
    co = await unit(talent_client, "co", "company")
    await skill(talent_client, "sql")
    await skill(talent_client, "python")
    person = await hire(talent_client, "1", co, hire="2024-01-01")
    response = await talent_client.post(
        "/v1/trainings", json={"key": "data101", "name": "Data 101", "skills": ["sql", "python"], "hours": 12.5}
    )
    assert response.status_code == 201, response.text
    return {"person": person, "training": response.json()}


async def enrol(client: httpx.AsyncClient, person: dict[str, Any], on: str, **headers: str) -> httpx.Response:
    body = {"person_id": person["id"], "enrolled_on": on}
    return await client.post("/v1/trainings/data101/enrolments", json=body, headers=headers)


async def test_trainings_are_listed_and_read(talent_client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    training = setup["training"]
    assert (training["skills"], training["hours"]) == (["sql", "python"], 12.5)
    other = await talent_client.post("/v1/trainings", json={"key": "py", "name": "Python", "skills": ["python"]})
    assert other.json()["hours"] is None
    listed = (await talent_client.get("/v1/trainings", headers=READER)).json()
    assert [t["key"] for t in listed["items"]] == ["data101", "py"]
    by_skill = (await talent_client.get("/v1/trainings", params={"skill": "sql"})).json()
    assert [t["key"] for t in by_skill["items"]] == ["data101"]
    assert (await talent_client.get("/v1/trainings", params={"skill": "nope"})).json()["items"] == []
    assert (await talent_client.get("/v1/trainings/data101")).json() == training
    assert (await talent_client.get(f"/v1/trainings/{training['id']}")).json() == training
    assert (await talent_client.get("/v1/trainings/nope")).status_code == 404


@pytest.mark.usefixtures("setup")
async def test_training_errors(talent_client: httpx.AsyncClient) -> None:
    duplicate = await talent_client.post("/v1/trainings", json={"key": "data101", "name": "X", "skills": ["sql"]})
    assert (duplicate.status_code, pointers(duplicate)) == (409, ["/key"])
    unknown = await talent_client.post(
        "/v1/trainings", json={"key": "x", "name": "X", "skills": ["sql", "cobol", "sql"]}
    )
    assert (unknown.status_code, pointers(unknown)) == (422, ["/skills/1", "/skills/2"])
    empty = await talent_client.post("/v1/trainings", json={"key": "x", "name": "X", "skills": []})
    assert pointers(empty) == ["/skills"]
    hours = await talent_client.post("/v1/trainings", json={"key": "x", "name": "X", "skills": ["sql"], "hours": 0})
    assert pointers(hours) == ["/hours"]


async def test_enrolment_life_cycle(talent_client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    person = setup["person"]
    created = await enrol(talent_client, person, "2025-03-01", **{"Idempotency-Key": "e1"})
    assert created.status_code == 201, created.text
    enrolment = created.json()
    assert (enrolment["status"], enrolment["training"], created.headers["etag"]) == ("enrolled", "data101", '"1"')
    replay = await enrol(talent_client, person, "2025-03-01", **{"Idempotency-Key": "e1"})
    assert replay.json() == enrolment
    again = await enrol(talent_client, person, "2025-03-02")
    assert (again.status_code, pointers(again)) == (409, ["/person_id"])

    url = f"/v1/enrolments/{enrolment['id']}"
    early = await talent_client.patch(url, json={"status": "completed", "completed_on": "2025-02-28"})
    assert (early.status_code, pointers(early)) == (422, ["/completed_on"])
    future = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    ahead = await talent_client.patch(url, json={"status": "completed", "completed_on": str(future)})
    assert pointers(ahead) == ["/completed_on"]
    stale = await talent_client.patch(url, json={"status": "dropped"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    done = await talent_client.patch(
        url, json={"status": "completed", "completed_on": "2025-03-01", "score": 88}, headers={"If-Match": '"1"'}
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["completed_on"], done.json()["score"], done.headers["etag"]) == (
        "completed", "2025-03-01", 88.0, '"2"'
    )  # fmt: skip
    for status in ("dropped", "enrolled", "completed"):
        refused = await talent_client.patch(url, json={"status": status})
        assert (refused.status_code, pointers(refused)) == (409, ["/status"])
    assert (await talent_client.get(url)).json() == done.json()

    # enrolled again once the first is closed; dropping takes no date
    second = (await enrol(talent_client, person, "2025-04-01")).json()
    url2 = f"/v1/enrolments/{second['id']}"
    dated = await talent_client.patch(url2, json={"status": "dropped", "completed_on": "2025-04-02", "score": 1})
    assert (dated.status_code, pointers(dated)) == (422, ["/completed_on", "/score"])
    same = await talent_client.patch(url2, json={"status": "enrolled"})
    assert same.status_code == 409
    dropped = await talent_client.patch(url2, json={"status": "dropped"})
    assert (dropped.json()["status"], dropped.json()["completed_on"]) == ("dropped", None)
    third = (await enrol(talent_client, person, "2025-05-01")).json()
    today = await talent_client.patch(f"/v1/enrolments/{third['id']}", json={"status": "completed"})
    assert today.json()["completed_on"] == str(dt.datetime.now(dt.UTC).date())

    listed = (await talent_client.get("/v1/trainings/data101/enrolments")).json()
    assert [e["id"] for e in listed["items"]] == [enrolment["id"], second["id"], third["id"]]
    completed = await talent_client.get("/v1/enrolments", params={"person_id": person["id"], "status": "completed"})
    assert [e["id"] for e in completed.json()["items"]] == [enrolment["id"], third["id"]]
    assert (await talent_client.get("/v1/enrolments", params={"training": "nope"})).status_code == 404


async def test_enrolment_errors(talent_client: httpx.AsyncClient, setup: dict[str, Any]) -> None:
    before = await enrol(talent_client, setup["person"], "2023-12-31")
    assert (before.status_code, pointers(before)) == (422, ["/enrolled_on"])
    ghost = await enrol(talent_client, {"id": "00000000-0000-4000-8000-000000000000"}, "2025-01-01")
    assert (ghost.status_code, pointers(ghost)) == (422, ["/person_id"])
    nowhere = await talent_client.post(
        "/v1/trainings/nope/enrolments", json={"person_id": setup["person"]["id"], "enrolled_on": "2025-01-01"}
    )
    assert nowhere.status_code == 404
    assert (
        await talent_client.patch("/v1/enrolments/00000000-0000-4000-8000-000000000000", json={"status": "dropped"})
    ).status_code == 404
    created = (await enrol(talent_client, setup["person"], "2025-01-01")).json()
    bad = await talent_client.patch(f"/v1/enrolments/{created['id']}", json={"status": "finished"})
    assert (bad.status_code, pointers(bad)) == (422, ["/status"])
    forbidden = await talent_client.patch(f"/v1/enrolments/{created['id']}", json={"status": "dropped"}, headers=READER)
    assert forbidden.status_code == 403
