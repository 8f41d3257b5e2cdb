"""Status, trend, events and series through the API, in the organisation's time zone."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kpi_service import service
from services.kpi_service.main import app
from tests.kpi_service.conftest import UseSettings
from tests.kpi_service.helpers import (
    ago,
    committed_kpi,
    create_kpi,
    events_of,
    execute,
    fetch,
    push_ok,
    set_targets,
)

ALWAYS = {"period_start": "2000-01-01", "period_end": "2099-12-31"}


@pytest.fixture
def paris(kpi_settings: UseSettings) -> None:
    """The organisation's calendar is Paris's for this test."""
    kpi_settings(org_timezone="Europe/Paris")


async def status_of(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get(f"/v1/kpis/{key}/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_status_moves_through_no_data_no_target_and_colours(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, thresholds={"mode": "relative", "amber": 0.05, "red": 0.1})
    key = kpi["key"]
    assert (await status_of(kpi_client, key))["status"] == "no_data"
    await push_ok(kpi_client, (key, ago(minutes=2), 93.0))
    assert (await status_of(kpi_client, key))["status"] == "no_target"
    await set_targets(kpi_client, key, {**ALWAYS, "value": 95})
    body = await status_of(kpi_client, key)
    assert body["status"] == "green"  # 93 is within 5 % of 95
    assert body["target"]["value"] == 95
    assert body["thresholds"] == {"mode": "relative", "amber": 0.05, "red": 0.1}
    await push_ok(kpi_client, (key, ago(minutes=1), 80.0))  # same day: the day's average is 86.5
    body = await status_of(kpi_client, key)
    assert (body["status"], body["value"], body["count"]) == ("amber", 86.5, 2)
    await push_ok(kpi_client, (key, ago(minutes=1), 60.0))  # a correction: average 76.5
    assert (await status_of(kpi_client, key))["status"] == "red"
    assert await events_of(kpi_client, key) == [
        ("no_data", "no_target", "ingestion"),
        ("no_target", "green", "definition"),
        ("green", "amber", "ingestion"),
        ("amber", "red", "ingestion"),
    ]
    await push_ok(kpi_client, (key, ago(minutes=1), 60.0))  # a retry changes nothing, records nothing
    assert len(await events_of(kpi_client, key)) == 4


async def test_a_daily_kpi_keeps_yesterdays_status_until_today_has_data(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="sum")
    await set_targets(kpi_client, kpi["key"], {**ALWAYS, "value": 10})
    yesterday = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    await push_ok(
        kpi_client,
        (kpi["key"], yesterday.isoformat(), 6.0),
        (kpi["key"], (yesterday + dt.timedelta(hours=1)).isoformat(), 5.0),
    )
    body = await status_of(kpi_client, kpi["key"])
    assert (body["status"], body["value"], body["period_start"]) == ("green", 11.0, yesterday.date().isoformat())


async def test_trend_compares_with_the_previous_period(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="last")
    today = dt.datetime.now(dt.UTC)
    await push_ok(
        kpi_client, (kpi["key"], (today - dt.timedelta(days=1)).isoformat(), 80.0), (kpi["key"], ago(minutes=1), 90.0)
    )
    trend = (await status_of(kpi_client, kpi["key"]))["trend"]
    assert trend["previous_value"] == 80.0
    assert trend["absolute_change"] == 10.0
    assert trend["relative_change"] == pytest.approx(0.125)


async def test_stale_is_read_without_writing_and_recorded_once_by_the_sweep(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings
) -> None:
    kpi = await create_kpi(kpi_client)
    await set_targets(kpi_client, kpi["key"], {**ALWAYS, "value": 1})
    kpi_settings(stale_grace_hours=1000)  # fresh enough when it arrives...
    await push_ok(kpi_client, (kpi["key"], ago(days=5), 1.0))
    assert (await status_of(kpi_client, kpi["key"]))["status"] == "green"
    settings = kpi_settings()  # ...and stale by the clock afterwards
    first = await status_of(kpi_client, kpi["key"])
    assert first["status"] == "stale"
    assert first["value"] == 1.0  # the last value stays visible
    assert first["stale_since"] is not None
    await kpi_client.get("/v1/kpi-statuses", params={"kpi": kpi["key"]})
    assert [e for e in await events_of(kpi_client, kpi["key"]) if e[2] == "time"] == [], "reads never write"
    stale = (await kpi_client.get("/v1/kpis", params={"status": "stale", "limit": 500})).json()["items"]
    assert kpi["key"] in {k["key"] for k in stale}  # the filter sees what the clock did, unrecorded too

    assert await service.sweep_stale(app.state.database, settings) == 1
    assert await service.sweep_stale(app.state.database, settings) == 0
    assert [e for e in await events_of(kpi_client, kpi["key"]) if e[2] == "time"] == [("green", "stale", "time")]
    await push_ok(kpi_client, (kpi["key"], ago(minutes=1), 1.0))
    assert (await status_of(kpi_client, kpi["key"]))["status"] == "green"
    assert (await events_of(kpi_client, kpi["key"]))[-1] == ("stale", "green", "ingestion")


async def test_a_kpi_asked_by_key_and_by_id_is_answered_once_even_when_just_stale(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings
) -> None:
    a = await create_kpi(kpi_client)
    b = await create_kpi(kpi_client)
    kpi_settings(stale_grace_hours=1000)
    await push_ok(kpi_client, (a["key"], ago(days=5), 1.0), (b["key"], ago(minutes=1), 2.0))
    kpi_settings()  # A has just turned stale
    response = await kpi_client.get("/v1/kpi-statuses", params={"kpi": [a["key"], b["key"], a["id"]]})
    assert response.status_code == 200, response.text
    assert [(s["kpi"], s["status"]) for s in response.json()["items"]] == [(a["key"], "stale"), (b["key"], "no_target")]
    by_id_first = await kpi_client.get("/v1/kpi-statuses", params={"kpi": [b["id"], a["id"], b["key"]]})
    assert [s["kpi"] for s in by_id_first.json()["items"]] == [b["key"], a["key"]]


async def test_many_statuses_in_one_call_keep_the_order_asked(kpi_client: httpx.AsyncClient) -> None:
    keys = [(await create_kpi(kpi_client))["key"] for _ in range(5)]
    await push_ok(kpi_client, *[(k, ago(minutes=1), float(i)) for i, k in enumerate(keys)])
    asked = [keys[3], keys[0], keys[4], keys[0]]
    response = await kpi_client.get("/v1/kpi-statuses", params={"kpi": asked})
    assert response.status_code == 200
    assert [s["kpi"] for s in response.json()["items"]] == [keys[3], keys[0], keys[4]]
    assert [s["value"] for s in response.json()["items"]] == [3.0, 0.0, 4.0]
    unknown = await kpi_client.get("/v1/kpi-statuses", params={"kpi": [keys[0], "no.such_kpi"]})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "unknown_kpi"
    too_many = await kpi_client.get("/v1/kpi-statuses", params={"kpi": [f"k.k{i}" for i in range(501)]})
    assert too_many.status_code == 422
    assert (await kpi_client.get("/v1/kpi-statuses")).status_code == 422


@pytest.mark.usefixtures("paris")
async def test_month_boundaries_follow_the_organisations_calendar(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, cadence="monthly", aggregation="sum")
    key = kpi["key"]
    await push_ok(
        kpi_client,
        (key, "2026-02-28T23:59:59.999999+01:00", 1.0),  # last instant of February in Paris
        (key, "2026-03-01T00:00:00+01:00", 10.0),  # first instant of March (still February in UTC)
        (key, "2026-03-31T23:59:59.999999+02:00", 100.0),  # last instant of March (CEST)
        (key, "2026-04-01T00:00:00+02:00", 1000.0),
    )
    window = {"bucket": "month", "from": "2026-02-01T00:00:00+01:00", "to": "2026-05-01T00:00:00+02:00"}
    months = (await kpi_client.get(f"/v1/kpis/{key}/series", params=window)).json()
    assert months["tz"] == "Europe/Paris"
    assert [(b["start"], b["sum"], b["count"]) for b in months["buckets"]] == [
        ("2026-01-31T23:00:00Z", 1.0, 1),
        ("2026-02-28T23:00:00Z", 110.0, 2),
        ("2026-03-31T22:00:00Z", 1000.0, 1),
    ]
    assert months["buckets"][1]["end"] == "2026-03-31T22:00:00Z"
    window = {"bucket": "month", "tz": "UTC", "from": "2026-02-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"}
    utc = (await kpi_client.get(f"/v1/kpis/{key}/series", params=window)).json()
    assert [b["sum"] for b in utc["buckets"]] == [11.0, 1100.0]  # April 1st 00:00 in Paris is March in UTC
    # Status judges the latest month with data, in Paris.
    body = await status_of(kpi_client, key)
    assert (body["period_start"], body["period_end"], body["value"]) == ("2026-04-01", "2026-04-30", 1000.0)
    assert body["trend"]["previous_value"] == 110.0


@pytest.mark.usefixtures("paris")
@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", 23),  # 2026-03-29: spring forward
        ("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", 25),  # 2026-10-25: fall back
    ],
)
async def test_dst_days_have_23_or_25_hours(kpi_client: httpx.AsyncClient, start: str, end: str, hours: int) -> None:
    kpi = await create_kpi(kpi_client, aggregation="sum")
    first = dt.datetime.fromisoformat(start)
    points = [(kpi["key"], (first + dt.timedelta(hours=h, minutes=30)).isoformat(), 1.0) for h in range(hours)]
    points.append((kpi["key"], (first - dt.timedelta(seconds=1)).isoformat(), 100.0))  # the day before
    points.append((kpi["key"], dt.datetime.fromisoformat(end).isoformat(), 1000.0))  # the day after
    await push_ok(kpi_client, *points)
    series = (
        await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params={"bucket": "day", "from": start, "to": end})
    ).json()
    assert [(b["start"], b["end"], b["count"], b["sum"]) for b in series["buckets"]] == [
        (start, end, hours, float(hours))
    ]


async def test_series_buckets_carry_every_aggregate(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="avg")
    key = kpi["key"]
    await push_ok(
        kpi_client,
        (key, "2026-06-01T08:00:00Z", 4.0), (key, "2026-06-01T18:00:00Z", 2.0), (key, "2026-06-01T12:00:00Z", 9.0),
        (key, "2026-06-03T00:00:00Z", 1.0),
    )  # fmt: skip
    body = (
        await kpi_client.get(
            f"/v1/kpis/{key}/series", params={"from": "2026-06-01T00:00:00Z", "to": "2026-06-04T00:00:00Z"}
        )
    ).json()
    first = body["buckets"][0]
    assert (first["value"], first["count"], first["sum"], first["min"], first["max"]) == (5.0, 3, 15.0, 2.0, 9.0)
    assert (first["first_ts"], first["last_ts"]) == ("2026-06-01T08:00:00Z", "2026-06-01T18:00:00Z")
    assert [b["start"][:10] for b in body["buckets"]] == ["2026-06-01", "2026-06-03"]  # empty days are absent


async def test_a_correction_on_a_day_whose_midnight_happens_twice_keeps_the_whole_day(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings, connection: AsyncConnection
) -> None:
    """Atlantic/Azores, 2026-10-25: clocks go back from 01:00 to 00:00, so the local day starts at
    00:00Z (not at the second midnight, 01:00Z); recomputing the day after a correction counts both."""
    kpi_settings(org_timezone="Atlantic/Azores")
    kpi = await create_kpi(kpi_client, aggregation="sum")
    key = kpi["key"]
    await push_ok(kpi_client, (key, "2026-10-25T00:30:00Z", 10.0), (key, "2026-10-25T12:00:00Z", 20.0))
    await push_ok(kpi_client, (key, "2026-10-25T12:00:00Z", 25.0))  # a correction: the day is recomputed
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    day = await raw.fetchrow(
        "SELECT count, sum FROM kpi.rollups_period WHERE kpi_id = $1 AND period_start = '2026-10-25'",
        uuid.UUID(kpi["id"]),
    )
    assert day is not None
    assert (day["count"], day["sum"]) == (2, 35.0)
    series = await kpi_client.get(
        f"/v1/kpis/{key}/series",
        params={"bucket": "day", "tz": "Atlantic/Azores", "from": "2026-10-25T00:00:00Z", "to": "2026-10-26T01:00:00Z"},
    )
    (bucket,) = series.json()["buckets"]
    assert (bucket["start"], bucket["end"], bucket["count"], bucket["sum"]) == (
        "2026-10-25T00:00:00Z",
        "2026-10-26T01:00:00Z",
        2,
        35.0,
    )  # a 25-hour day


async def test_replacing_a_value_corrects_its_past_bucket(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="max")
    key = kpi["key"]
    await push_ok(
        kpi_client,
        (key, "2026-06-01T08:00:00Z", 4.0),
        (key, "2026-06-01T08:05:00Z", 9.0),
        (key, "2026-06-02T08:00:00Z", 1.0),
    )
    await push_ok(kpi_client, (key, "2026-06-01T08:05:00Z", 3.0))  # the 9 was a typo
    body = (
        await kpi_client.get(
            f"/v1/kpis/{key}/series", params={"from": "2026-06-01T00:00:00Z", "to": "2026-06-03T00:00:00Z"}
        )
    ).json()
    assert [(b["value"], b["max"], b["sum"]) for b in body["buckets"]] == [(4.0, 4.0, 7.0), (1.0, 1.0, 1.0)]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"bucket": "hour"}, "bucket"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"from": "2026-01-01T00:00:00"}, "from"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
        ({"bucket": "day", "from": "1990-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ],
)
async def test_series_refuses_bad_windows(
    kpi_client: httpx.AsyncClient, params: dict[str, str], parameter: str
) -> None:
    kpi = await create_kpi(kpi_client)
    response = await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == parameter


async def test_changing_the_cadence_rebuilds_the_periods(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="sum")
    await push_ok(kpi_client, (kpi["key"], "2026-06-01T08:00:00Z", 1.0), (kpi["key"], "2026-06-02T08:00:00Z", 2.0))
    assert (await status_of(kpi_client, kpi["key"]))["value"] == 2.0
    await kpi_client.patch(f"/v1/kpis/{kpi['key']}", json={"cadence": "weekly"}, headers={"if-match": "*"})
    body = await status_of(kpi_client, kpi["key"])
    assert (body["period_start"], body["value"]) == ("2026-06-01", 3.0)


async def test_kpis_are_addressed_by_hyphenated_id_or_by_key(kpi_client: httpx.AsyncClient) -> None:
    hex_key = "a" + "0123456789abcdef" * 2  # hex digits only: a valid key that also parses as a UUID
    hexy = await create_kpi(kpi_client, key=hex_key[:32])
    other = await create_kpi(kpi_client)
    assert (await kpi_client.get(f"/v1/kpis/{hexy['key']}")).json()["id"] == hexy["id"]
    assert (await kpi_client.get(f"/v1/kpis/{hexy['id']}")).json()["key"] == hexy["key"]
    assert (await status_of(kpi_client, hexy["key"]))["kpi"] == hexy["key"]
    mixed = await kpi_client.get("/v1/kpi-statuses", params={"kpi": [other["id"], hexy["key"]]})
    assert mixed.status_code == 200, mixed.text
    assert [s["kpi"] for s in mixed.json()["items"]] == [other["key"], hexy["key"]]


async def test_status_reads_racing_definition_and_target_changes_do_not_deadlock(
    committed_client: httpx.AsyncClient, database_url: str, kpi_settings: UseSettings
) -> None:
    """Real concurrent transactions on a KPI the clock has just made stale: reads (which write
    nothing) and changes (which record the status) all answer."""
    async with committed_kpi(database_url) as (_, key):
        kpi_settings(stale_grace_hours=1000)
        await push_ok(committed_client, (key, ago(days=5), 1.0))
        kpi_settings()
        path = f"/v1/kpis/{key}"

        async def change(i: int) -> httpx.Response:
            if i % 2:
                return await committed_client.patch(path, json={"name": f"Name {i}"}, headers={"if-match": "*"})
            return await committed_client.put(f"{path}/targets", json={"targets": [{**ALWAYS, "value": i}]})

        async def read(i: int) -> httpx.Response:
            if i % 2:
                return await committed_client.get(f"{path}/status")
            return await committed_client.get("/v1/kpi-statuses", params={"kpi": [key, key]})

        for _ in range(10):  # each round starts with the staleness unrecorded
            await execute(
                database_url,
                "DELETE FROM kpi.status_states WHERE kpi_id = (SELECT id FROM kpi.kpis WHERE key = $1)",
                key,
            )
            calls = [change(i) if i % 4 == 0 else read(i) for i in range(12)]
            responses = await asyncio.wait_for(asyncio.gather(*calls), 30)
            assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses if r.status_code != 200]
        events = await fetch(
            database_url,
            "SELECT e.to_status, e.cause FROM kpi.status_events e JOIN kpi.kpis k ON k.id = e.kpi_id WHERE k.key = $1",
            key,
        )
        assert ("stale", "definition") in {(e["to_status"], e["cause"]) for e in events}
        assert [e for e in events if e["cause"] == "time"] == []
