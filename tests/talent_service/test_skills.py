"""The skills catalogue and assessments: keys, history, the level on a day, error pointers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, hire, pointers, unit


@pytest.fixture
async def team(talent_client: httpx.AsyncClient) -> dict[str, Any]:
    return await unit(talent_client, "acme", "company")


async def skill(client: httpx.AsyncClient, key: str, category: str | None = None) -> dict[str, Any]:
    body = {"key": key, "name": key.title()} | ({"category": category} if category else {})
    response = await client.post("/v1/skills", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def assess(
    client: httpx.AsyncClient, person: dict[str, Any], key: str, level: int, on: str, source: str = "manager"
) -> httpx.Response:
    body = {"skill": key, "level": level, "assessed_on": on, "source": source}
    return await client.post(f"/v1/people/{person['id']}/skill-assessments", json=body)


async def test_the_catalogue_by_key_with_a_category_filter(talent_client: httpx.AsyncClient) -> None:
    created = await skill(talent_client, "sql", "data")
    await skill(talent_client, "negotiation", "sales")
    await skill(talent_client, "data.python", "data")
    assert created["category"] == "data"
    listed = (await talent_client.get("/v1/skills", headers=READER)).json()
    assert [s["key"] for s in listed["items"]] == ["data.python", "negotiation", "sql"]
    data = (await talent_client.get("/v1/skills", params={"category": "data", "limit": 1})).json()
    assert [s["key"] for s in data["items"]] == ["data.python"]
    following = await talent_client.get("/v1/skills", params={"category": "data", "cursor": data["next_cursor"]})
    assert [s["key"] for s in following.json()["items"]] == ["sql"]
    assert (await talent_client.get("/v1/skills/sql")).json() == created
    assert (await talent_client.get("/v1/skills/nope")).status_code == 404


async def test_a_duplicate_key_is_409_and_a_bad_key_422(talent_client: httpx.AsyncClient) -> None:
    await skill(talent_client, "sql")
    again = await talent_client.post("/v1/skills", json={"key": "sql", "name": "Other"})
    assert again.status_code == 409
    assert pointers(again) == ["/key"]
    for key in ("Not A Slug", "abcdef01-2345-4678-9abc-def012345678"):
        bad = await talent_client.post("/v1/skills", json={"key": key, "name": "X"})
        assert (bad.status_code, pointers(bad)) == (422, ["/key"])
    forbidden = await talent_client.post("/v1/skills", json={"key": "ok", "name": "X"}, headers=READER)
    assert forbidden.status_code == 403


async def test_idempotent_creation_replays_the_first_answer(talent_client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k1"}
    first = await talent_client.post("/v1/skills", json={"key": "sql", "name": "SQL"}, headers=headers)
    second = await talent_client.post("/v1/skills", json={"key": "sql", "name": "SQL"}, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()


async def test_the_level_on_a_day_is_the_latest_assessment(talent_client: httpx.AsyncClient, team: Any) -> None:
    await skill(talent_client, "sql")
    await skill(talent_client, "python")
    person = await hire(talent_client, "1", team, hire="2024-01-01")
    for key, level, on, source in [
        ("sql", 2, "2024-02-01", "self"),
        ("sql", 4, "2024-06-01", "certification"),
        ("sql", 3, "2024-06-01", "manager"),  # same day, created later: it counts
        ("python", 1, "2025-01-01", "self"),
    ]:
        response = await assess(talent_client, person, key, level, on, source)
        assert response.status_code == 201, response.text
    assert response.json()["skill"] == "python"
    now = (await talent_client.get(f"/v1/people/{person['id']}/skills")).json()
    assert [(s["skill"], s["level"], s["assessed_on"], s["source"]) for s in now["items"]] == [
        ("python", 1, "2025-01-01", "self"),
        ("sql", 3, "2024-06-01", "manager"),
    ]
    earlier = (await talent_client.get(f"/v1/people/{person['id']}/skills", params={"on": "2024-05-31"})).json()
    assert [(s["skill"], s["level"]) for s in earlier["items"]] == [("sql", 2)]
    assert earlier["on"] == "2024-05-31"
    before = (await talent_client.get(f"/v1/people/{person['id']}/skills", params={"on": "2024-01-15"})).json()
    assert before["items"] == []
    history = (await talent_client.get(f"/v1/people/{person['id']}/skill-assessments", headers=READER)).json()
    assert [(a["skill"], a["level"]) for a in history["items"]] == [("sql", 2), ("sql", 4), ("sql", 3), ("python", 1)]
    sql = await talent_client.get(f"/v1/people/{person['id']}/skill-assessments", params={"skill": "sql"})
    assert [a["level"] for a in sql.json()["items"]] == [2, 4, 3]
    none = await talent_client.get(f"/v1/people/{person['id']}/skill-assessments", params={"skill": "cobol"})
    assert none.json()["items"] == []


async def test_assessment_errors(talent_client: httpx.AsyncClient, team: Any) -> None:
    await skill(talent_client, "sql")
    person = await hire(talent_client, "1", team, hire="2024-01-01")
    unknown = await assess(talent_client, person, "cobol", 3, "2024-02-01")
    assert unknown.status_code == 422
    assert pointers(unknown) == ["/skill"]
    early = await assess(talent_client, person, "sql", 3, "2023-12-31")
    assert early.status_code == 422
    assert pointers(early) == ["/assessed_on"]
    both = await assess(talent_client, person, "cobol", 3, "2023-12-31")
    assert pointers(both) == ["/skill", "/assessed_on"]
    for level in (-1, 6):
        assert pointers(await assess(talent_client, person, "sql", level, "2024-02-01")) == ["/level"]
    assert pointers(await assess(talent_client, person, "sql", 3, "2024-02-01", "peer")) == ["/source"]
    ghost = {"id": "00000000-0000-4000-8000-000000000000"}
    assert (await assess(talent_client, ghost, "sql", 3, "2024-02-01")).status_code == 404
    assert (await talent_client.get(f"/v1/people/{ghost['id']}/skills")).status_code == 404
    assert (await talent_client.get(f"/v1/people/{ghost['id']}/skill-assessments")).status_code == 404
    assert (await talent_client.get(f"/v1/people/{person['id']}/skills", params={"on": "2024-1-1"})).status_code == 422
