"""What contract fuzzing found, each answered by the right 4xx rather than a 500 (or a silent accept)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.kpi_service.helpers import create_kpi, kpi_body, push, push_ok


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=").decode()


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = response.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


UUID = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("path", "values"),
    [
        ("/v1/kpis", ["2026-01-01T00:00:00", UUID]),  # naive time
        ("/v1/kpis", ["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
        ("/v1/kpis", ["0001-01-01T00:00:00+05:00", UUID]),  # before year 1 in UTC
        ("/v1/kpis", [1, 2]),
        ("/v1/kpi-events", ["2026-01-01T00:00:00+00:00", 2**63]),  # beyond bigint
        ("/v1/kpi-events", ["2026-01-01T00:00:00+00:00", True]),
        ("/v1/kpi-events", ["2026-01-01T00:00:00+00:00", 1.5]),
        ("/v1/kpi-events", ["2026-01-01T00:00:00\u0000+00:00", 1]),
        ("/v1/kpis/{key}/measurements", ["0001-01-01T00:00:00+05:00"]),
        ("/v1/kpis/{key}/measurements", ["2026-01-01T00:00:00"]),
        ("/v1/kpis/{key}/measurements", [17]),
    ],
)
async def test_a_tampered_cursor_is_a_400(kpi_client: httpx.AsyncClient, path: str, values: list[Any]) -> None:
    kpi = await create_kpi(kpi_client)
    response = await kpi_client.get(path.format(key=kpi["key"]), params={"cursor": _cursor(values)})
    assert _error(response, 400) == {
        "location": "query", "parameter": "cursor", "message": "Invalid cursor.", "code": "invalid_cursor"
    }  # fmt: skip


async def test_cursors_this_api_issued_still_page(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    await create_kpi(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-01-01T00:00:00Z", 1), (kpi["key"], "2026-01-02T00:00:00Z", 2))
    for path in ("/v1/kpis", f"/v1/kpis/{kpi['key']}/measurements"):
        first = (await kpi_client.get(path, params={"limit": 1})).json()
        second = await kpi_client.get(path, params={"limit": 1, "cursor": first["next_cursor"]})
        assert second.status_code == 200, second.text
        assert second.json()["items"] != first["items"]


@pytest.mark.parametrize("zone", ["right/UTC", "posix/Europe/Paris", "localtime", "Mars/Olympus_Mons"])
async def test_a_series_in_a_zone_postgresql_does_not_know_is_a_422(kpi_client: httpx.AsyncClient, zone: str) -> None:
    kpi = await create_kpi(kpi_client)
    await push_ok(kpi_client, (kpi["key"], "2026-01-01T12:00:00Z", 1))
    response = await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params={"tz": zone})
    assert _error(response, 422) | {"message": ""} == {
        "location": "query", "parameter": "tz", "message": "", "code": "unknown_tz"
    }  # fmt: skip
    paris = await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params={"tz": "Europe/Paris"})
    assert paris.status_code == 200
    assert paris.json()["tz"] == "Europe/Paris"


async def test_a_null_description_is_refused_and_an_empty_one_clears_it(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, description="Delivered on the promised day.")
    path = f"/v1/kpis/{kpi['key']}"
    refused = await kpi_client.patch(path, json={"description": None}, headers={"If-Match": '"1"'})
    error = _error(refused, 422)
    assert (error["pointer"], error["message"]) == ("/description", "Value error, cannot be null")
    cleared = await kpi_client.patch(path, json={"description": ""}, headers={"If-Match": '"1"'})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["description"] == ""


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "1900-01-01T00:30:00+01:00"])
async def test_timestamps_outside_1900_to_2200_are_refused(kpi_client: httpx.AsyncClient, ts: str) -> None:
    kpi = await create_kpi(kpi_client)
    error = _error(await push(kpi_client, (kpi["key"], ts, 1)), 422)
    assert (error["pointer"], error["code"]) == ("/points/0/ts", "invalid_timestamp")
    assert "1900 to 2200" in error["message"]
    query = await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements", params={"from": ts})
    assert (_error(query, 422)["parameter"]) == "from"


async def test_the_first_instant_of_1900_is_a_measurement_like_any(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    assert (await push_ok(kpi_client, (kpi["key"], "1900-01-01T00:00:00Z", 3)))["inserted"] == 1
    points = (await kpi_client.get(f"/v1/kpis/{kpi['key']}/measurements")).json()["items"]
    assert points == [{"ts": "1900-01-01T00:00:00Z", "value": 3.0}]


async def test_a_nul_character_is_a_422_naming_the_field(kpi_client: httpx.AsyncClient) -> None:
    body = await kpi_client.post("/v1/kpis", json=kpi_body(name="On\u0000time"))
    assert _error(body, 422) == {
        "location": "body",
        "pointer": "/name",
        "message": "Input contains a NUL character, which cannot be stored",
        "code": "nul_character",
    }
    tags = _error(await kpi_client.post("/v1/kpis", json=kpi_body(tags=["ok", "n\u0000"])), 422)
    assert tags["pointer"] == "/tags"
    query = _error(await kpi_client.get("/v1/kpis", params={"q": "on\u0000time"}), 422)
    assert (query["location"], query["parameter"], query["code"]) == ("query", "q", "nul_character")
    path = _error(await kpi_client.get("/v1/kpis/ops%00kpi/status"), 422)
    assert (path["location"], path["parameter"], path["code"]) == ("path", "id_or_key", "nul_character")


TARGET = {"period_start": "2026-01-01", "period_end": "2026-12-31", "value": 1}


@pytest.mark.parametrize(
    ("target", "pointer", "code"),
    [
        ({**TARGET, "value": False}, "/targets/0/value", "float_type"),
        ({**TARGET, "value": "1"}, "/targets/0/value", "float_type"),
        ({**TARGET, "period_start": 0}, "/targets/0/period_start", "date_type"),
        ({**TARGET, "period_end": 1798675200}, "/targets/0/period_end", "date_type"),
    ],
)
async def test_values_only_lax_parsing_would_take_are_refused(
    kpi_client: httpx.AsyncClient, target: dict[str, Any], pointer: str, code: str
) -> None:
    kpi = await create_kpi(kpi_client)
    error = _error(await kpi_client.put(f"/v1/kpis/{kpi['key']}/targets", json={"targets": [target]}), 422)
    assert (error["pointer"], error["code"]) == (pointer, code)


async def test_json_types_are_what_the_document_says(kpi_client: httpx.AsyncClient) -> None:
    thresholds = {"mode": "absolute", "amber": True, "red": 2}
    error = _error(await kpi_client.post("/v1/kpis", json=kpi_body(thresholds=thresholds)), 422)
    assert (error["pointer"], error["code"]) == ("/thresholds/amber", "float_type")
    kpi = await create_kpi(kpi_client)
    path = f"/v1/kpis/{kpi['key']}"
    for archived in (1, "false"):
        error = _error(await kpi_client.patch(path, json={"archived": archived}, headers={"If-Match": '"1"'}), 422)
        assert (error["pointer"], error["code"]) == ("/archived", "bool_type")
    error = _error(await kpi_client.patch(path, json={"owner_org_unit_id": 7}, headers={"If-Match": '"1"'}), 422)
    assert (error["pointer"], error["code"]) == ("/owner_org_unit_id", "uuid_type")
    # Values of the documented type pass: an integer for a number, a boolean where one is asked for.
    assert (await kpi_client.put(f"{path}/targets", json={"targets": [TARGET]})).status_code == 200
    restored = await kpi_client.patch(path, json={"archived": False}, headers={"If-Match": '"2"'})
    assert restored.status_code == 200, restored.text
