"""Anonymous responses: batches of up to 1 000, all or nothing, each bad item by pointer, retried
safely with Idempotency-Key; a stored response holds its unit and answers only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.talent_service.helpers import READER, WRITER, pointers, unit

SURVEY = {"key": "pulse", "name": "Pulse", "period_start": "2026-03-01", "period_end": "2026-03-15"}
URL = "/v1/engagement-surveys/pulse/responses"


@pytest.fixture
async def teams(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    assert (await talent_client.post("/v1/engagement-surveys", json=SURVEY)).status_code == 201
    company = await unit(talent_client, "acme", "company")
    return {"acme": company, **{key: await unit(talent_client, key, "team", company) for key in ("east", "west")}}


async def stored(connection: AsyncConnection) -> list[tuple[Any, ...]]:
    rows = await connection.execute(
        text(
            "SELECT u.key, r.enps, r.satisfaction FROM talent.engagement_responses r"
            " JOIN talent.org_units u ON u.id = r.org_unit_id ORDER BY 1, 2, 3"
        )
    )
    return [tuple(row) for row in rows]


async def test_records_a_batch(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    body = {
        "responses": [
            {"org_unit_id": teams["east"]["id"], "enps": 9, "satisfaction": 4},
            {"org_unit_id": teams["east"]["id"], "enps": 0},
            {"org_unit_id": teams["west"]["id"], "enps": 10, "satisfaction": None},
        ]
    }
    response = await talent_client.post(URL, json=body, headers=WRITER)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 3}
    assert await stored(connection) == [("east", 0, None), ("east", 9, 4), ("west", 10, None)]
    survey = (await talent_client.get("/v1/engagement-surveys/pulse")).json()
    by_id = await talent_client.post(f"/v1/engagement-surveys/{survey['id']}/responses", json=body)
    assert by_id.json() == {"recorded": 3}
    assert len(await stored(connection)) == 6


async def test_a_response_row_holds_no_person_and_no_time(connection: AsyncConnection) -> None:
    rows = await connection.execute(
        text(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'talent' AND table_name = 'engagement_responses' ORDER BY column_name"
        )
    )
    columns: dict[str, str] = {str(name): str(kind) for name, kind in rows.all()}
    assert set(columns) == {"id", "survey_id", "org_unit_id", "enps", "satisfaction"}
    assert not any("time" in kind or kind == "date" for kind in columns.values())


async def test_every_bad_item_is_named_and_nothing_is_recorded(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    east = teams["east"]["id"]
    responses: list[Any] = [
        {"org_unit_id": east, "enps": 7},
        {"org_unit_id": east, "enps": 11},
        {"org_unit_id": east, "enps": "7"},
        {"org_unit_id": "00000000-0000-4000-8000-000000000000", "enps": 8},
        {"org_unit_id": east, "enps": 5, "satisfaction": 0},
        {"org_unit_id": east, "enps": 5, "satisfaction": 6},
        {"org_unit_id": east},
        {"org_unit_id": east, "enps": 3, "person_id": "00000000-0000-4000-8000-000000000001"},
        {"org_unit_id": east, "enps": 7.5},
        {"org_unit_id": east, "enps": True},
        "not an object",
    ]
    response = await talent_client.post(URL, json={"responses": responses}, headers=WRITER)
    assert response.status_code == 422
    assert sorted(pointers(response)) == [
        "/responses/1/enps",
        "/responses/10",
        "/responses/2/enps",
        "/responses/3/org_unit_id",
        "/responses/4/satisfaction",
        "/responses/5/satisfaction",
        "/responses/6/enps",
        "/responses/7/person_id",
        "/responses/8/enps",
        "/responses/9/enps",
    ]
    assert await stored(connection) == []


async def test_an_archived_unit_takes_no_new_responses(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    east = teams["east"]
    archived = await talent_client.patch("/v1/org-units/east", json={"archived": True}, headers={"If-Match": '"1"'})
    assert archived.status_code == 200
    response = await talent_client.post(URL, json={"responses": [{"org_unit_id": east["id"], "enps": 8}]})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["pointer"], error["code"]) == ("/responses/0/org_unit_id", "archived")
    assert await stored(connection) == []


@pytest.mark.usefixtures("teams")
async def test_a_unit_with_responses_is_archived_not_deleted(talent_client: httpx.AsyncClient) -> None:
    solo = await unit(talent_client, "solo", "team")
    await talent_client.post(URL, json={"responses": [{"org_unit_id": solo["id"], "enps": 8}]})
    deleted = await talent_client.delete("/v1/org-units/solo", headers={"If-Match": '"1"'})
    assert deleted.status_code == 200
    assert deleted.json()["archived_at"] is not None


async def test_a_thousand_responses_pass_and_more_is_413(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    item = {"org_unit_id": teams["west"]["id"], "enps": 8}
    too_many = await talent_client.post(URL, json={"responses": [item] * 1001})
    assert too_many.status_code == 413
    assert await stored(connection) == []
    assert (await talent_client.post(URL, json={"responses": [item] * 1000})).json() == {"recorded": 1000}
    assert (await talent_client.post(URL, json={"responses": []})).json() == {"recorded": 0}


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[]", 422), (b'{"responses": {}}', 422), (b'{"responses": [], "person": 1}', 422)],
)
@pytest.mark.usefixtures("teams")
async def test_a_malformed_body_is_refused(talent_client: httpx.AsyncClient, body: bytes, status: int) -> None:
    response = await talent_client.post(URL, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_survey_is_404(talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]]) -> None:
    body = {"responses": [{"org_unit_id": teams["east"]["id"], "enps": 8}]}
    assert (await talent_client.post("/v1/engagement-surveys/nope/responses", json=body)).status_code == 404


async def test_a_retried_batch_with_its_idempotency_key_adds_nothing(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    body = {"responses": [{"org_unit_id": teams["east"]["id"], "enps": e} for e in (1, 9, 10)]}
    headers = {**WRITER, "Idempotency-Key": "upload-1"}
    first = await talent_client.post(URL, json=body, headers=headers)
    again = await talent_client.post(URL, json=body, headers=headers)
    assert first.json() == again.json() == {"recorded": 3}
    assert len(await stored(connection)) == 3
    other = await talent_client.post(URL, json={"responses": body["responses"][:1]}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"
    another_key = await talent_client.post(URL, json=body, headers={**WRITER, "Idempotency-Key": "upload-2"})
    assert another_key.json() == {"recorded": 3}
    assert len(await stored(connection)) == 6


async def test_writing_needs_talent_write(
    talent_client: httpx.AsyncClient, teams: dict[str, dict[str, Any]], connection: AsyncConnection
) -> None:
    body = {"responses": [{"org_unit_id": teams["east"]["id"], "enps": 8}]}
    assert (await talent_client.post(URL, json=body, headers=READER)).status_code == 403
    assert await stored(connection) == []
