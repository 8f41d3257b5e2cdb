"""Values at the edges of what the KPI service stores: each answered with a 4xx naming the field,
or stored and read back as documented — never a 500."""

from __future__ import annotations

import datetime as dt

import httpx

from services.kpi_service.status import PeriodAggregate, trend
from shared.contracts.kpi import Aggregation, Cadence
from tests.kpi_service.helpers import create_kpi, push


async def test_a_series_ending_before_the_storable_range_is_refused(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client)
    response = await kpi_client.get(f"/v1/kpis/{kpi['key']}/series", params={"to": "0001-03-01T00:00:00Z"})
    assert response.status_code == 422
    assert [e["parameter"] for e in response.json()["errors"]] == ["to"]


async def test_a_nul_in_a_points_kpi_is_refused_at_its_pointer(kpi_client: httpx.AsyncClient) -> None:
    await create_kpi(kpi_client)
    response = await push(kpi_client, ("ops.\x00bad", "2026-03-10T08:00:00Z", 1.0))
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/points/0/kpi"]


async def test_huge_values_whose_sum_overflows_are_refused_at_their_pointer(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="sum")
    key = kpi["key"]
    response = await push(kpi_client, (key, "2026-03-10T08:00:00Z", 1.7e308), (key, "2026-03-10T08:01:00Z", 1e300))
    assert response.status_code == 422, response.text
    assert [(e["pointer"], e["code"]) for e in response.json()["errors"]] == [("/points/0/value", "out_of_range")]
    stored = await kpi_client.get(f"/v1/kpis/{key}/measurements")
    assert stored.json()["items"] == []  # nothing written


async def test_values_up_to_the_bound_give_a_finite_trend(kpi_client: httpx.AsyncClient) -> None:
    kpi = await create_kpi(kpi_client, aggregation="last", cadence="daily")
    key = kpi["key"]
    first = await push(kpi_client, (key, "2026-03-09T08:00:00Z", -1e300))
    second = await push(kpi_client, (key, "2026-03-10T08:00:00Z", 1e300))
    assert first.status_code == second.status_code == 200
    status = await kpi_client.get(f"/v1/kpis/{key}/status")
    assert status.status_code == 200, status.text
    assert status.json()["trend"]["absolute_change"] == 2e300


def test_a_change_beyond_the_float_range_is_no_trend() -> None:
    """Sums of a period may reach 10^308 (10^8 points of 10^300): their difference can overflow, and
    is then no trend — never a trend whose documented number is null."""
    at = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
    before = PeriodAggregate(dt.date(2026, 3, 9), 2, -1.7e308, -1e300, -1e300, -1e300, at)
    now = PeriodAggregate(dt.date(2026, 3, 10), 2, 1.7e308, 1e300, 1e300, 1e300, at)
    assert trend(now, before, Cadence.daily, Aggregation.sum) is None
    assert trend(now, before, Cadence.daily, Aggregation.last) == (dt.date(2026, 3, 9), -1e300, 2e300, 2.0)
