"""``POST /v1/kpi-aggregates``: many KPIs over local date ranges in one call, from the rollups."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.auth import token
from tests.kpi_service.conftest import UseSettings
from tests.kpi_service.helpers import create_kpi, push_ok

QUARTER = {"from": "2026-07-01", "to": "2026-09-30"}
# Paris (CEST, +02:00): the first and last instants of the quarter, a day's edges, and outside.
POINTS = [
    ("2026-06-30T23:59:59+02:00", 1000.0),  # June: outside
    ("2026-07-01T00:00:00+02:00", 4.0),  # the quarter's first instant (still June in UTC)
    ("2026-07-01T23:59:00+02:00", 6.0),
    ("2026-08-15T12:00:00+02:00", 10.0),
    ("2026-09-30T23:45:00+02:00", 2.0),  # the last 15 minutes (October in UTC)
    ("2026-10-01T00:00:00+02:00", 5000.0),  # October: outside
]
INSIDE = [v for _, v in POINTS[1:-1]]


async def aggregates(client: httpx.AsyncClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/v1/kpi-aggregates", json=body)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("sum", sum(INSIDE)), ("avg", statistics.mean(INSIDE)), ("min", 2.0), ("max", 10.0), ("last", 2.0)],
)
async def test_a_quarter_in_paris_equals_the_kpis_own_series(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings, aggregation: str, expected: float
) -> None:
    kpi_settings(org_timezone="Europe/Paris")
    key = (await create_kpi(kpi_client, aggregation=aggregation))["key"]
    await push_ok(kpi_client, *((key, ts, value) for ts, value in POINTS))
    (item,) = await aggregates(kpi_client, {"requests": [{"kpi": key, **QUARTER}], "include": ["daily"]})
    assert (item["kpi"], item["from"], item["to"], item["count"]) == (key, "2026-07-01", "2026-09-30", 4)
    assert item["value"] == pytest.approx(expected)
    assert item["last_measurement_at"] == "2026-09-30T21:45:00Z"
    assert item["status"] is None
    window = {"bucket": "quarter", "from": "2026-07-01T00:00:00+02:00", "to": "2026-10-01T00:00:00+02:00"}
    series = (await kpi_client.get(f"/v1/kpis/{key}/series", params=window)).json()
    (quarter,) = series["buckets"]
    assert item["value"] == pytest.approx(quarter["value"])
    days = (await kpi_client.get(f"/v1/kpis/{key}/series", params=window | {"bucket": "day"})).json()["buckets"]
    assert [d["date"] for d in item["daily"]] == ["2026-07-01", "2026-08-15", "2026-09-30"]
    assert [(d["value"], d["count"], d["sum"], d["min"], d["max"]) for d in item["daily"]] == [
        (pytest.approx(b["value"]), b["count"], b["sum"], b["min"], b["max"]) for b in days
    ]


async def test_many_kpis_in_one_call_in_the_order_asked(kpi_client: httpx.AsyncClient) -> None:
    first = await create_kpi(kpi_client, aggregation="sum")
    empty = await create_kpi(kpi_client)
    await push_ok(kpi_client, (first["key"], "2026-05-01T10:00:00Z", 3.0), (first["key"], "2026-05-02T10:00:00Z", 4.0))
    body = {
        "requests": [
            {"kpi": empty["key"], "from": "2026-05-01", "to": "2026-05-31"},
            {"kpi": first["key"], "from": "2026-05-02", "to": "2026-05-02"},
            {"kpi": first["id"], "from": "2026-05-01", "to": "2026-05-31"},
        ],
        "include": ["status", "daily"],
    }
    items = await aggregates(kpi_client, body)
    assert [(i["kpi"], i["value"], i["count"]) for i in items] == [
        (empty["key"], None, 0), (first["key"], 4.0, 1), (first["key"], 7.0, 2),
    ]  # fmt: skip
    assert items[0]["daily"] == []
    assert items[0]["last_measurement_at"] is None
    status = (await kpi_client.get(f"/v1/kpis/{first['key']}/status")).json()
    assert items[1]["status"] == status
    assert items[0]["status"]["status"] == "no_data"


async def test_archived_kpis_keep_their_history(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="max")
    await push_ok(kpi_client, (kpi["key"], "2026-05-01T10:00:00Z", 3.0))
    assert (await kpi_client.delete(f"/v1/kpis/{kpi['key']}", headers={"If-Match": '"1"'})).status_code == 200
    (item,) = await aggregates(
        kpi_client, {"requests": [{"kpi": kpi["key"], "from": "2026-05-01", "to": "2026-05-01"}]}
    )
    assert item["value"] == 3.0


async def test_bad_requests_are_named_by_pointer(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    ok = {"kpi": kpi["key"], "from": "2026-05-01", "to": "2026-05-31"}

    async def refused(body: dict[str, Any]) -> list[tuple[str, str]]:
        response = await kpi_client.post("/v1/kpi-aggregates", json=body)
        assert response.status_code == 422, response.text
        return [(e["pointer"], e["code"]) for e in response.json()["errors"]]

    unknown = await refused({"requests": [ok, {**ok, "kpi": "no.such"}, ok, {**ok, "kpi": "nor.this"}]})
    assert unknown == [("/requests/1/kpi", "unknown_kpi"), ("/requests/3/kpi", "unknown_kpi")]
    assert (await refused({"requests": [ok, {**ok, "from": "2016-01-01", "to": "2026-12-31"}]}))[0][
        0
    ] == "/requests/1/to"
    assert (await refused({"requests": [{**ok, "to": "2026-04-30"}]}))[0][0].startswith("/requests/0")
    assert (await refused({"requests": [ok] * 501}))[0][0] == "/requests"
    assert (await refused({"requests": []}))[0][0] == "/requests"
    assert (await refused({"requests": [ok], "include": ["everything"]}))[0][0] == "/include/0"
    assert (await refused({"requests": [{**ok, "from": 20260501}]}))[0][0] == "/requests/0/from"


async def test_aggregates_need_kpi_read(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    body = {"requests": [{"kpi": kpi["key"], "from": "2026-05-01", "to": "2026-05-31"}]}
    denied = await kpi_client.post(
        "/v1/kpi-aggregates", json=body, headers={"X-Internal-Token": token("kpi", "strategy:read")}
    )
    assert denied.status_code == 403
    allowed = await kpi_client.post(
        "/v1/kpi-aggregates", json=body, headers={"X-Internal-Token": token("kpi", "kpi:read")}
    )
    assert allowed.status_code == 200


@pytest.mark.parametrize("aggregation", ["sum", "avg", "min", "max", "last"])
async def test_daily_kpis_read_their_day_rollups_and_agree_with_other_cadences(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings, aggregation: str
) -> None:
    """A daily KPI's days come from its period rollups, a weekly or monthly one's from its 15-minute
    rollups: the same points give the same answer, across a 25-hour day and after a replacement."""
    kpi_settings(org_timezone="Europe/Paris")
    keys = [
        (await create_kpi(kpi_client, aggregation=aggregation, cadence=c))["key"]
        for c in ("daily", "weekly", "monthly")
    ]
    points = [
        ("2026-10-24T23:59:59+02:00", 7.0),
        ("2026-10-25T00:00:00+02:00", 3.0),  # the 25-hour day (CEST → CET at 03:00)
        ("2026-10-25T02:30:00+02:00", 9.0),
        ("2026-10-25T02:30:00+01:00", 1.0),  # the same wall time, an hour later
        ("2026-10-25T23:59:00+01:00", 4.0),
        ("2026-10-26T00:00:00+01:00", 8.0),
    ]
    for key in keys:
        await push_ok(kpi_client, *((key, ts, value) for ts, value in points))
        await push_ok(kpi_client, (key, "2026-10-25T02:30:00+02:00", 5.0))  # replaces the 9
    around = [{"kpi": key, "from": "2026-10-24", "to": "2026-10-26"} for key in keys]
    the_day = [{"kpi": key, "from": "2026-10-25", "to": "2026-10-25"} for key in keys]
    body = {"requests": around + the_day, "include": ["daily"]}
    items = await aggregates(kpi_client, body)
    shapes = [(i["value"], i["count"], i["last_measurement_at"], i["daily"]) for i in items]
    assert shapes[0] == shapes[1] == shapes[2]
    assert shapes[3] == shapes[4] == shapes[5]
    assert [d["date"] for d in items[0]["daily"]] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert [d["count"] for d in items[0]["daily"]] == [1, 4, 1]
    assert items[3]["count"] == 4
    expected = {"sum": 13.0, "avg": 3.25, "min": 1.0, "max": 5.0, "last": 4.0}[aggregation]
    assert items[3]["value"] == pytest.approx(expected)


def _sums(points: list[tuple[dt.datetime, float]]) -> dict[str, Any]:
    """The least-squares sums of DESIGN §9's observations, computed here independently."""
    n = len(points)
    seconds = [p[0].timestamp() for p in points]
    mean_t, mean_v = sum(seconds) / n, sum(v for _, v in points) / n
    return {
        "count": n,
        "mean_time": dt.datetime.fromtimestamp(mean_t, dt.UTC),
        "mean_value": pytest.approx(mean_v),
        "sxx": pytest.approx(sum((t - mean_t) ** 2 for t in seconds)),
        "sxy": pytest.approx(sum((t - mean_t) * (v - mean_v) for t, (_, v) in zip(seconds, points, strict=True))),
    }


def _parsed(fit: dict[str, Any]) -> dict[str, Any]:
    return fit | {"mean_time": dt.datetime.fromisoformat(fit["mean_time"])}


@pytest.mark.parametrize(("aggregation", "cadence"), [("avg", "daily"), ("sum", "weekly"), ("max", "daily"),
                                                      ("last", "monthly"), ("min", "daily")])  # fmt: skip
async def test_the_fit_is_the_least_squares_of_the_days_at_midpoint_and_of_the_running_aggregate(
    kpi_client: httpx.AsyncClient, kpi_settings: UseSettings, aggregation: str, cadence: str
) -> None:
    kpi_settings(org_timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    key = (await create_kpi(kpi_client, aggregation=aggregation, cadence=cadence))["key"]
    points = [
        ("2026-10-23T08:00:00+02:00", 4.0),
        ("2026-10-23T18:00:00+02:00", 8.0),
        ("2026-10-25T01:00:00+02:00", 3.0),  # the 25-hour day
        ("2026-10-25T22:00:00+01:00", 9.0),
        ("2026-10-28T12:00:00+01:00", 1.0),
    ]
    await push_ok(kpi_client, *((key, ts, value) for ts, value in points))
    body = {"requests": [{"kpi": key, "from": "2026-10-22", "to": "2026-10-31"}], "include": ["daily", "fit"]}
    (item,) = await aggregates(kpi_client, body)
    daily_points, running_points = [], []
    count = total = 0.0
    low, high = float("inf"), float("-inf")
    for day in item["daily"]:
        # In UTC: Python subtracts two times of one zone on the wall clock, which a 25-hour day defeats.
        first = dt.datetime.combine(dt.date.fromisoformat(day["date"]), dt.time(), paris).astimezone(dt.UTC)
        after = dt.datetime.combine(dt.date.fromisoformat(day["date"]) + dt.timedelta(days=1), dt.time(), paris)
        after = after.astimezone(dt.UTC)
        daily_points.append((first + (after - first) / 2, day["value"]))
        count, total, low, high = count + day["count"], total + day["sum"], min(low, day["min"]), max(high, day["max"])
        running = {"sum": total, "avg": total / count, "min": low, "max": high, "last": day["value"]}[aggregation]
        running_points.append((after, running))
    assert [d["date"] for d in item["daily"]] == ["2026-10-23", "2026-10-25", "2026-10-28"]
    midpoint = daily_points[1][0].astimezone(dt.UTC)
    assert midpoint == dt.datetime(2026, 10, 25, 10, 30, tzinfo=dt.UTC)  # 22:00Z + 25 h / 2
    assert _parsed(item["fit"]["daily"]) == _sums(daily_points)
    assert _parsed(item["fit"]["running"]) == _sums(running_points)
    # Without days to answer, PostgreSQL folds them: the same totals and sums.
    (folded,) = await aggregates(kpi_client, body | {"include": ["fit", "status"]})
    assert {k: folded[k] for k in ("value", "count", "last_measurement_at")} == {
        k: item[k] for k in ("value", "count", "last_measurement_at")
    }
    assert folded["value"] == pytest.approx(item["value"])
    assert _parsed(folded["fit"]["daily"]) == _sums(daily_points)
    assert _parsed(folded["fit"]["running"]) == _sums(running_points)
    assert (folded["daily"], folded["status"]["kpi"]) == (None, key)
    (without,) = await aggregates(kpi_client, {"requests": [{"kpi": key, "from": "2026-10-22", "to": "2026-10-31"}]})
    assert without["fit"] is None
    (empty,) = await aggregates(
        kpi_client, {"requests": [{"kpi": key, "from": "2026-01-01", "to": "2026-01-31"}], "include": ["fit"]}
    )
    assert (empty["fit"], empty["daily"], empty["value"], empty["count"]) == (
        {"daily": None, "running": None},
        None,
        None,
        0,
    )
    both = {"requests": [{"kpi": key, "from": "2026-01-01", "to": "2026-01-31"}], "include": ["fit", "daily"]}
    (empty_days,) = await aggregates(kpi_client, both)
    assert (empty_days["fit"], empty_days["daily"]) == ({"daily": None, "running": None}, [])
