"""Engagement surveys: a slug key unique (409), an ordered period, Idempotency-Key, reads by id or
key, scopes."""

from __future__ import annotations

import httpx
import pytest

from tests.talent_service.helpers import READER, WRITER, as_scopes, pointers

BODY = {"key": "pulse_2026_q1", "name": "Pulse Q1", "period_start": "2026-03-01", "period_end": "2026-03-15"}


async def test_creates_a_survey_and_reads_it_by_id_or_key(talent_client: httpx.AsyncClient) -> None:
    response = await talent_client.post("/v1/engagement-surveys", json=BODY, headers=WRITER)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/engagement-surveys/pulse_2026_q1"
    created = response.json()
    assert {k: created[k] for k in BODY} == BODY
    for id_or_key in ("pulse_2026_q1", created["id"]):
        read = await talent_client.get(f"/v1/engagement-surveys/{id_or_key}", headers=READER)
        assert read.status_code == 200
        assert read.json() == created
    listed = await talent_client.get("/v1/engagement-surveys", headers=READER)
    assert listed.json() == {"items": [created], "next_cursor": None}


async def test_lists_surveys_by_pages(talent_client: httpx.AsyncClient) -> None:
    for n in range(3):
        await talent_client.post("/v1/engagement-surveys", json={**BODY, "key": f"s{n}"}, headers=WRITER)
    first = (await talent_client.get("/v1/engagement-surveys", params={"limit": 2})).json()
    second = (await talent_client.get("/v1/engagement-surveys", params={"cursor": first["next_cursor"]})).json()
    assert [s["key"] for s in first["items"] + second["items"]] == ["s0", "s1", "s2"]
    assert second["next_cursor"] is None


async def test_a_key_is_unique(talent_client: httpx.AsyncClient) -> None:
    assert (await talent_client.post("/v1/engagement-surveys", json=BODY)).status_code == 201
    again = await talent_client.post("/v1/engagement-surveys", json={**BODY, "name": "Other"})
    assert again.status_code == 409
    assert pointers(again) == ["/key"]


@pytest.mark.parametrize("key", ["Pulse", "1pulse", "pulse-q1", "a" * 65, "", "_x"])
async def test_refuses_a_key_that_is_not_a_slug(talent_client: httpx.AsyncClient, key: str) -> None:
    response = await talent_client.post("/v1/engagement-surveys", json={**BODY, "key": key})
    assert response.status_code == 422
    assert pointers(response) == ["/key"]


async def test_the_period_ends_on_or_after_it_starts(talent_client: httpx.AsyncClient) -> None:
    reversed_ = await talent_client.post("/v1/engagement-surveys", json={**BODY, "period_end": "2026-02-28"})
    assert reversed_.status_code == 422
    assert pointers(reversed_) == ["/period_end"]
    one_day = {**BODY, "period_end": BODY["period_start"]}
    assert (await talent_client.post("/v1/engagement-surveys", json=one_day)).status_code == 201
    missing = await talent_client.post("/v1/engagement-surveys", json={"key": "x", "name": "X"})
    assert sorted(pointers(missing)) == ["/period_end", "/period_start"]


async def test_idempotency_key_replays_the_first_answer(talent_client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "pulse-1"}
    first = await talent_client.post("/v1/engagement-surveys", json=BODY, headers=headers)
    again = await talent_client.post("/v1/engagement-surveys", json=BODY, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    other = await talent_client.post("/v1/engagement-surveys", json={**BODY, "name": "Renamed"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["parameter"] == "Idempotency-Key"
    assert len((await talent_client.get("/v1/engagement-surveys")).json()["items"]) == 1


async def test_an_unknown_survey_is_404(talent_client: httpx.AsyncClient) -> None:
    for id_or_key in ("nope", "00000000-0000-4000-8000-000000000000"):
        assert (await talent_client.get(f"/v1/engagement-surveys/{id_or_key}")).status_code == 404


async def test_reading_needs_talent_read_and_writing_talent_write(talent_client: httpx.AsyncClient) -> None:
    writer_only = as_scopes("talent:write")
    assert (await talent_client.post("/v1/engagement-surveys", json=BODY, headers=READER)).status_code == 403
    assert (await talent_client.post("/v1/engagement-surveys", json=BODY, headers=writer_only)).status_code == 201
    assert (await talent_client.get("/v1/engagement-surveys", headers=writer_only)).status_code == 403
    assert (await talent_client.get("/v1/engagement-surveys/pulse_2026_q1", headers=writer_only)).status_code == 403
    assert (await talent_client.get("/v1/engagement-surveys/pulse_2026_q1", headers=READER)).status_code == 200
