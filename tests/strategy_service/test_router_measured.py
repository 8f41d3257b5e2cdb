"""What KPIs measure: ``GET /v1/key-results?kpi=`` (cursor pages, progress read live) and the
complete index ``GET /v1/kpi-links`` read by ``StrategyClient.kpi_links``."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

from services.strategy_service.main import app
from shared.clients import StrategyClient
from tests.auth import token
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.strategy_service.conftest import key_result, objective


def _around_today() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {"period_start": str(today - dt.timedelta(days=10)), "period_end": str(today + dt.timedelta(days=10))}


async def _archive(client: httpx.AsyncClient, path: str) -> None:
    response = await client.delete(path, headers={"If-Match": '"1"'})
    assert response.status_code == 200, response.text


async def test_key_results_of_a_kpi_page_by_cursor_with_live_progress(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    measured, other = (await create_kpi(kpi_client, aggregation="last"))["key"], (await create_kpi(kpi_client))["key"]
    now = dt.datetime.now(dt.UTC).isoformat()
    await push_ok(kpi_client, (measured, now, 40.0))
    first, second = await objective(strategy_client, **_around_today()), await objective(strategy_client)
    made = [
        await key_result(strategy_client, first["id"], kpi=measured),
        await key_result(strategy_client, second["id"], kpi=measured, target_value=80),
        await key_result(strategy_client, first["id"], kpi=other),
        await key_result(strategy_client, first["id"]),
        await key_result(strategy_client, first["id"], kpi=measured),
    ]
    await _archive(strategy_client, f"/v1/key-results/{made[4]['id']}")
    gone = await objective(strategy_client)
    await key_result(strategy_client, gone["id"], kpi=measured)
    await _archive(strategy_client, f"/v1/objectives/{gone['id']}")
    third = await key_result(strategy_client, second["id"], kpi=measured)

    kpi_service.requests.clear()
    page = await strategy_client.get("/v1/key-results", params={"kpi": measured, "limit": 2})
    assert page.status_code == 200, page.text
    body = page.json()
    assert [k["id"] for k in body["items"]] == [made[0]["id"], made[1]["id"]]
    assert [(k["current_source"], k["current_value"], k["progress"]) for k in body["items"]] == [
        ("kpi", 40.0, 0.4), ("kpi", 40.0, 0.5),
    ]  # fmt: skip
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    rest = (
        await strategy_client.get("/v1/key-results", params={"kpi": measured, "cursor": body["next_cursor"]})
    ).json()
    assert ([k["id"] for k in rest["items"]], rest["next_cursor"]) == ([third["id"]], None)
    assert (await strategy_client.get("/v1/key-results", params={"kpi": "no.such"})).json() == {
        "items": [], "next_cursor": None,
    }  # fmt: skip

    every = (await strategy_client.get("/v1/key-results", params={"limit": 500})).json()["items"]
    # Every live key result, check-in ones too; not the archived one, nor the archived objective's.
    assert [k["id"] for k in every] == [*(k["id"] for k in made[:4]), third["id"]]
    assert next(k for k in every if k["id"] == made[3]["id"])["current_source"] == "none"


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [({"kpi": ""}, 422, "kpi"), ({"kpi": "x" * 101}, 422, "kpi"), ({"cursor": "nope!"}, 400, "cursor"),
     ({"limit": 0}, 422, "limit")],
)  # fmt: skip
async def test_key_result_list_parameters_are_checked(
    strategy_client: httpx.AsyncClient, params: dict[str, str | int], status: int, parameter: str
) -> None:
    response = await strategy_client.get("/v1/key-results", params=params)
    assert response.status_code == status
    assert response.json()["errors"][0]["parameter"] == parameter


async def test_kpi_links_list_every_measuring_kpi_with_its_key_results_and_objectives(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    b, a, unused = [(await create_kpi(kpi_client, key=f"links.{n}"))["key"] for n in ("b", "a", "unused")]
    current, past = await objective(strategy_client, **_around_today()), await objective(strategy_client)
    b1 = await key_result(strategy_client, current["id"], kpi=b)
    a1 = await key_result(strategy_client, past["id"], kpi=a)
    b2 = await key_result(strategy_client, past["id"], kpi=b)
    b3 = await key_result(strategy_client, current["id"], kpi=b)
    await key_result(strategy_client, current["id"])  # measured by check-ins: no link
    archived = await key_result(strategy_client, current["id"], kpi=unused)
    await _archive(strategy_client, f"/v1/key-results/{archived['id']}")

    response = await strategy_client.get("/v1/kpi-links")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "items": [
            {"kpi": a, "key_result_ids": [a1["id"]], "objective_ids": [past["id"]]},
            {"kpi": b, "key_result_ids": [b1["id"], b2["id"], b3["id"]], "objective_ids": [current["id"], past["id"]]},
        ]
    }
    today = dt.datetime.now(dt.UTC).date().isoformat()
    active = (await strategy_client.get("/v1/kpi-links", params={"active_on": today})).json()
    assert active == {"items": [{"kpi": b, "key_result_ids": [b1["id"], b3["id"]], "objective_ids": [current["id"]]}]}
    await _archive(strategy_client, f"/v1/objectives/{past['id']}")
    assert [link["kpi"] for link in (await strategy_client.get("/v1/kpi-links")).json()["items"]] == [b]


async def test_kpi_links_need_strategy_read_and_a_day(strategy_client: httpx.AsyncClient) -> None:
    denied = await strategy_client.get("/v1/kpi-links", headers={"X-Internal-Token": token("strategy", "kpi:read")})
    assert denied.status_code == 403
    denied = await strategy_client.get("/v1/key-results", headers={"X-Internal-Token": token("strategy", "kpi:read")})
    assert denied.status_code == 403
    for day in ("2026-13-01", "2026-01-01T00:00:00Z", "today"):
        refused = await strategy_client.get("/v1/kpi-links", params={"active_on": day})
        assert refused.status_code == 422, day
        assert refused.json()["errors"][0]["parameter"] == "active_on"


async def test_the_client_reads_the_links_in_one_call(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    key = (await create_kpi(kpi_client))["key"]
    made = await objective(strategy_client, **_around_today())
    linked = await key_result(strategy_client, made["id"], kpi=key)
    recorder = Recorder(app)
    client = StrategyClient.create(
        client_settings(), tokens("strategy:read", key_id="gateway"), base_url="http://strategy",
        transport=httpx.ASGITransport(app=recorder),
    )  # fmt: skip
    async with client:
        links = await client.kpi_links()
        assert [(link.kpi, link.key_result_ids, link.objective_ids) for link in links] == [
            (key, [uuid.UUID(linked["id"])], [uuid.UUID(made["id"])])
        ]
        assert await client.kpi_links(active_on=dt.date(1999, 1, 1)) == []
    assert [(r.url.path, str(r.url.params)) for r in recorder.requests] == [
        ("/v1/kpi-links", ""), ("/v1/kpi-links", "active_on=1999-01-01"),
    ]  # fmt: skip
