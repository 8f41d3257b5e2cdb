"""Key results measured by a KPI: the link checked with the real KPI service, progress read live on
every read in one aggregates call, and reads that degrade (never fail) when the KPI service is down."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from services.kpi_service.config import KpiSettings
from services.strategy_service import service
from services.strategy_service.main import app
from shared.clients import KpiClient
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.servers import serve
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.strategy_service.conftest import UseSettings, key_result, objective, refused


def _ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


def _current_period() -> dict[str, str]:
    today = dt.datetime.now(dt.UTC).date()
    return {"period_start": str(today - dt.timedelta(days=30)), "period_end": str(today + dt.timedelta(days=30))}


async def test_the_link_is_checked_with_the_kpi_service(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    parent = await objective(strategy_client)
    path = f"/v1/objectives/{parent['id']}/key-results"
    body = {"title": "OTD", "kind": "increase", "start_value": 80, "target_value": 95}
    refused(await strategy_client.post(path, json=body | {"kpi": "no.such_kpi"}), "/kpi", "unknown_kpi")
    archived = await create_kpi(kpi_client)
    await push_ok(kpi_client, (archived["key"], _ago(days=1), 1.0))
    await kpi_client.delete(f"/v1/kpis/{archived['key']}", headers={"If-Match": '"1"'})
    refused(await strategy_client.post(path, json=body | {"kpi": archived["key"]}), "/kpi", "archived_kpi")
    kpi = await create_kpi(kpi_client)
    linked = await strategy_client.post(path, json=body | {"kpi": kpi["key"], "kpi_value": "period"})
    assert linked.status_code == 201, linked.text
    assert (linked.json()["kpi"], linked.json()["kpi_value"], linked.json()["current_source"]) == (
        kpi["key"], "period", "none",
    )  # fmt: skip
    made = linked.json()
    patch = f"/v1/key-results/{made['id']}"
    refused(await strategy_client.patch(patch, json={"kpi": "no.such_kpi"}, headers={"If-Match": '"1"'}), "/kpi")
    unlinked = await strategy_client.patch(patch, json={"kpi": None}, headers={"If-Match": '"1"'})
    assert (unlinked.json()["kpi"], unlinked.json()["version"]) == (None, 2)


async def test_a_new_measurement_shows_on_the_very_next_read(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client, aggregation="last")
    parent = await objective(strategy_client, **_current_period())
    made = await key_result(strategy_client, parent["id"], kpi=kpi["key"], start_value=0, target_value=100)
    await push_ok(kpi_client, (kpi["key"], _ago(minutes=10), 40.0))
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (read["current_value"], read["current_source"], read["progress"]) == (40.0, "kpi", 0.4)
    await push_ok(kpi_client, (kpi["key"], _ago(minutes=5), 70.0))
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (read["current_value"], read["progress"]) == (70.0, 0.7)
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == 0.7


async def test_period_value_over_a_quarter_equals_the_kpis_own_series(
    strategy_client: httpx.AsyncClient,
    kpi_client: httpx.AsyncClient,
    strategy_settings: UseSettings,
) -> None:
    from services.kpi_service.main import app as kpi_app

    strategy_settings(org_timezone="Europe/Paris")  # one organisation, one calendar, in both services
    kpi_settings = kpi_app.state.settings
    kpi_app.state.settings = KpiSettings(org_timezone="Europe/Paris")
    try:
        await _period_over_a_quarter(strategy_client, kpi_client)
    finally:
        kpi_app.state.settings = kpi_settings


async def _period_over_a_quarter(strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="sum")
    await push_ok(
        kpi_client,
        (kpi["key"], "2026-06-30T23:59:00+02:00", 1000.0),  # before the quarter in Paris
        (kpi["key"], "2026-07-01T00:00:00+02:00", 5.0),
        (kpi["key"], "2026-08-15T12:00:00+02:00", 10.0),
        (kpi["key"], "2026-09-30T23:59:00+02:00", 15.0),
        (kpi["key"], "2026-10-01T00:00:00+02:00", 1000.0),  # after it
    )
    parent = await objective(strategy_client, period_start="2026-07-01", period_end="2026-09-30")
    made = await key_result(
        strategy_client, parent["id"], kpi=kpi["key"], kpi_value="period", start_value=0, target_value=60
    )
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    window = {
        "bucket": "quarter",
        "tz": "Europe/Paris",
        "from": "2026-07-01T00:00:00+02:00",
        "to": "2026-10-01T00:00:00+02:00",
    }
    (quarter,) = (await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params=window)).json()["buckets"]
    assert read["current_value"] == quarter["value"] == 30.0
    assert read["progress"] == 0.5
    # Running sums at each day's end: 5, 15, 30 on days 0, 45 and 91 of a 92-day quarter.
    assert read["forecast_value"] is not None
    assert read["forecast_value"] == pytest.approx(_least_squares([(1, 5.0), (46, 15.0), (92, 30.0)], 92), rel=1e-3)


def _least_squares(points: list[tuple[float, float]], at: float) -> float:
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my + slope * (at - mx)


async def test_check_ins_on_a_kpi_linked_key_result_carry_confidence_only(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    parent = await objective(strategy_client, **_current_period())
    made = await key_result(strategy_client, parent["id"], kpi=kpi["key"])
    path = f"/v1/key-results/{made['id']}/check-ins"
    refused(await strategy_client.post(path, json={"value": 3, "confidence": 0.4}), "/value", "kpi_linked")
    assert (await strategy_client.post(path, json={"confidence": 0.4})).status_code == 201
    assert (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()["confidence"] == 0.4


async def test_one_kpi_call_for_a_tree_of_50_key_results(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    kpis = [(await create_kpi(kpi_client, aggregation="last"))["key"] for _ in range(5)]
    await push_ok(kpi_client, *((key, _ago(minutes=3), 50.0) for key in kpis))
    root = await objective(strategy_client, **_current_period())
    departments = [
        (await objective(strategy_client, level="department", parent_id=root["id"], **_current_period()))["id"]
        for _ in range(2)
    ]
    teams = [
        (await objective(strategy_client, level="team", parent_id=d, **_current_period()))["id"]
        for d in departments
        for _ in range(2)
    ]
    parents = [root["id"], *departments, *teams]
    assert len(parents) == 7
    count = 0
    for index in range(50):
        await key_result(strategy_client, parents[index % 7], kpi=kpis[index % 5], start_value=0, target_value=100)
        count += 1
    kpi_service.requests.clear()
    tree = (await strategy_client.get(f"/v1/objectives/{root['id']}/tree")).json()
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    assert tree["progress"] == pytest.approx(0.5)
    kpi_service.requests.clear()
    listed = (await strategy_client.get("/v1/objectives", params={"limit": 100})).json()["items"]
    assert len(listed) >= 7
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    assert count == 50


async def test_reads_degrade_when_the_kpi_service_is_really_stopped(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, strategy_settings: UseSettings
) -> None:
    from services.kpi_service.main import app as kpi_app

    kpi = await create_kpi(kpi_client, aggregation="last")
    await push_ok(kpi_client, (kpi["key"], _ago(minutes=10), 60.0))
    parent = await objective(strategy_client, **_current_period())
    cached = await key_result(strategy_client, parent["id"], kpi=kpi["key"], start_value=0, target_value=100)
    fallback = app.state.kpi_client
    try:
        async with serve(kpi_app) as url:
            app.state.kpi_client = KpiClient.create(client_settings(), tokens("kpi:read"), base_url=url)
            read = (await strategy_client.get(f"/v1/key-results/{cached['id']}")).json()
            assert (read["current_source"], read["current_value"]) == ("kpi", 60.0)  # read (and cached) live
        # The KPI service is stopped: its port refuses connections.
        never_read = await key_result(strategy_client, parent["id"], start_value=0, target_value=10)
        unlinked_write = await strategy_client.patch(
            f"/v1/key-results/{never_read['id']}", json={"title": "x"}, headers={"If-Match": '"1"'}
        )
        assert unlinked_write.status_code == 200  # writes that check no KPI link go on
        down = await strategy_client.get(f"/v1/key-results/{cached['id']}")
        assert down.status_code == 200
        body = down.json()
        assert (body["current_source"], body["current_value"], body["progress"]) == ("kpi_unavailable", 60.0, 0.6)
        assert body["cached_at"] is not None
        objective_read = (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()
        assert objective_read["degraded"] == ["kpi"]
        tree = await strategy_client.get(f"/v1/objectives/{parent['id']}/tree")
        assert tree.status_code == 200
        assert tree.json()["degraded"] == ["kpi"]
        # Past PILOTAGE_KPI_CACHE_SECONDS, nothing is known: progress from nothing.
        strategy_settings(kpi_cache_seconds=0)
        stale = (await strategy_client.get(f"/v1/key-results/{cached['id']}")).json()
        assert (stale["current_source"], stale["current_value"], stale["progress"]) == ("kpi_unavailable", None, 0.0)
        # A link cannot be checked: 503 naming the KPI service.
        link = await strategy_client.post(
            f"/v1/objectives/{parent['id']}/key-results",
            json={"title": "x", "kind": "increase", "start_value": 0, "target_value": 1, "kpi": kpi["key"]},
        )
        assert link.status_code == 503
        assert link.json()["source"] == "kpi"
        assert "Retry-After" in link.headers
        # Objectives measured by check-ins only are not degraded.
        other = await objective(strategy_client)
        assert (await strategy_client.get(f"/v1/objectives/{other['id']}")).json()["degraded"] == []
    finally:
        await app.state.kpi_client.aclose()
        app.state.kpi_client = fallback
        service._kpi_cache.clear()


async def test_without_a_kpi_client_reads_degrade(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    parent = await objective(strategy_client, **_current_period())
    made = await key_result(strategy_client, parent["id"], kpi=kpi["key"])
    service._kpi_cache.clear()
    fallback = app.state.kpi_client
    del app.state.kpi_client
    try:
        read: dict[str, Any] = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
        assert read["current_source"] == "kpi_unavailable"
    finally:
        app.state.kpi_client = fallback


async def test_a_latest_forecast_is_the_line_through_the_kpis_days_at_their_midpoints(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    from services.strategy_service.progress import DayAggregate, daily_observations, linear_forecast

    kpi = await create_kpi(kpi_client, aggregation="avg")
    today = dt.datetime.now(dt.UTC).date()
    values = {10: (20.0, 30.0), 7: (40.0,), 3: (45.0, 47.0, 49.0), 1: (60.0,)}
    await push_ok(kpi_client, *(
        (kpi["key"], f"{today - dt.timedelta(days=ago)}T{8 + i:02d}:00:00Z", value)
        for ago, day in values.items() for i, value in enumerate(day)
    ))  # fmt: skip
    parent = await objective(strategy_client, period_start=str(today - dt.timedelta(days=20)),
                             period_end=str(today + dt.timedelta(days=9)))  # fmt: skip
    made = await key_result(strategy_client, parent["id"], kpi=kpi["key"], start_value=0, target_value=100)
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    days = [
        DayAggregate(
            dt.datetime.combine(today - dt.timedelta(days=ago), dt.time(), dt.UTC),
            dt.datetime.combine(today - dt.timedelta(days=ago - 1), dt.time(), dt.UTC),
            sum(day) / len(day), len(day), sum(day), min(day), max(day),
        )
        for ago, day in values.items()
    ]  # fmt: skip
    end = dt.datetime.combine(today + dt.timedelta(days=10), dt.time(), dt.UTC)
    expected = linear_forecast(daily_observations(days), end)
    assert expected is not None
    assert read["forecast_value"] == pytest.approx(expected)
    assert read["forecast_progress"] == pytest.approx(min(max(expected / 100, 0), 1))
    later = await objective(strategy_client, period_start=str(today + dt.timedelta(days=1)),
                            period_end=str(today + dt.timedelta(days=30)))  # fmt: skip
    waiting = await key_result(strategy_client, later["id"], kpi=kpi["key"], start_value=0, target_value=100)
    early = (await strategy_client.get(f"/v1/key-results/{waiting['id']}")).json()
    assert (early["current_value"], early["forecast_value"]) == (60.0, None)  # the days are before its period
