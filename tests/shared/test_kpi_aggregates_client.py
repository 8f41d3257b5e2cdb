"""KpiClient.aggregates against the real KPI service: contract models in the order asked, one call
per 500 requests, unknown KPIs as a typed rejection, retried like a read."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kpi_service.models import Kpi
from shared.clients import KpiClient
from shared.contracts.kpi import AggregateInclude, KpiAggregate, KpiAggregateRequest, MeasurementPointIn, Status
from shared.errors import DependencyRejected
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.shared.test_clients import FailsFirst, errors_of, kpi_create

MAY = {"from_": dt.date(2026, 5, 1), "to": dt.date(2026, 5, 31)}


async def test_aggregates_in_the_order_asked_with_status_and_daily(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.agg_a", aggregation="sum"))
    await kpi.create_kpi(kpi_create("clients.agg_b"))
    at = dt.datetime(2026, 5, 2, 10, tzinfo=dt.UTC)
    await kpi.ingest([MeasurementPointIn(kpi="clients.agg_a", ts=at, value=3.0)])
    asked = [KpiAggregateRequest(kpi="clients.agg_b", **MAY), KpiAggregateRequest(kpi="clients.agg_a", **MAY)]
    items = await kpi.aggregates(asked, include=[AggregateInclude.daily, AggregateInclude.status])
    assert [type(i) for i in items] == [KpiAggregate, KpiAggregate]
    assert [(i.kpi, i.value, i.count) for i in items] == [("clients.agg_b", None, 0), ("clients.agg_a", 3.0, 1)]
    assert items[1].daily is not None
    assert [(d.date, d.value) for d in items[1].daily] == [(dt.date(2026, 5, 2), 3.0)]
    assert items[0].status is not None
    assert items[0].status.status is Status.no_data
    plain = await kpi.aggregates(asked)
    assert (plain[1].status, plain[1].daily) == (None, None)


async def test_1200_requests_are_three_calls(
    kpi: KpiClient, kpi_recorder: Recorder, connection: AsyncConnection
) -> None:
    row = {"key": "clients.agg_many", "name": "n", "unit": "%", "domain": "quality", "direction": "increase",
           "aggregation": "avg", "cadence": "daily"}  # fmt: skip
    await connection.execute(insert(Kpi), [row])
    kpi_recorder.requests.clear()
    items = await kpi.aggregates([KpiAggregateRequest(kpi="clients.agg_many", **MAY)] * 1200)
    assert len(items) == 1200
    assert [r.url.path for r in kpi_recorder.requests] == ["/v1/kpi-aggregates"] * 3


async def test_unknown_kpis_are_a_typed_rejection_by_pointer(kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.agg_known"))
    asked = [KpiAggregateRequest(kpi="clients.agg_known", **MAY), KpiAggregateRequest(kpi="clients.nope", **MAY)]
    with pytest.raises(DependencyRejected) as rejected:
        await kpi.aggregates(asked)
    assert rejected.value.dependency_status == 422
    assert [(e.pointer, e.code) for e in errors_of(rejected.value)] == [("/requests/1/kpi", "unknown_kpi")]


async def test_aggregates_are_retried_like_a_read(kpi_app: FastAPI, kpi: KpiClient) -> None:
    await kpi.create_kpi(kpi_create("clients.agg_retry"))
    upstream = FailsFirst(kpi_app)
    client = KpiClient.create(
        client_settings(upstream_retries=2), tokens("kpi:read"), base_url="http://kpi",
        transport=httpx.ASGITransport(app=upstream),
    )  # fmt: skip
    async with client:
        (item,) = await client.aggregates([KpiAggregateRequest(kpi="clients.agg_retry", **MAY)])
    assert item.kpi == "clients.agg_retry"
    assert upstream.calls == 2
