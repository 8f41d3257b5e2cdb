"""Listing KPI definitions: filters and cursor pagination on real PostgreSQL."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from services.kpi_service.models import Kpi
from shared.contracts.kpi import Aggregation, Cadence, Direction, Domain
from tests.database import insert_rows
from tests.kpi_service.helpers import create_kpi


async def _add_kpis(connection: AsyncConnection, count: int, **overrides: object) -> list[Kpi]:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    kpis = [
        Kpi(
            key=f"ops.kpi_{i:03d}",
            name=f"KPI {i}",
            unit="%",
            domain=Domain(str(overrides.get("domain", "operations"))),
            direction=Direction.increase,
            aggregation=Aggregation.avg,
            cadence=Cadence.daily,
            # Ties on created_at are broken by id, so pages stay stable.
            created_at=base + dt.timedelta(minutes=i // 2),
        )
        for i in range(count)
    ]
    await insert_rows(connection, *kpis)
    return kpis


async def test_pages_cover_every_kpi_once_in_stable_order(
    kpi_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    created = await _add_kpis(connection, 7)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = await kpi_client.get("/v1/kpis", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(item["key"] for item in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    expected = [k.key for k in sorted(created, key=lambda k: (k.created_at, k.id))]
    assert seen == expected


async def test_filters_by_domain(kpi_client: httpx.AsyncClient, connection: AsyncConnection) -> None:
    await _add_kpis(connection, 2, domain="finance")
    await create_kpi(kpi_client, domain="quality")  # present, so that an ignored filter shows
    response = await kpi_client.get("/v1/kpis", params={"domain": "finance"})
    assert [item["domain"] for item in response.json()["items"]] == ["finance", "finance"]
    response = await kpi_client.get("/v1/kpis", params={"domain": "hr"})
    assert response.json() == {"items": [], "next_cursor": None}


async def test_unknown_domain_is_a_422_naming_the_parameter(kpi_client: httpx.AsyncClient) -> None:
    response = await kpi_client.get("/v1/kpis", params={"domain": "astrology"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "domain"


async def test_a_forged_cursor_is_a_400(kpi_client: httpx.AsyncClient) -> None:
    for cursor in ("not-base64!!", "WyJ4Il0", "e30"):  # garbage, wrong arity, not a list
        response = await kpi_client.get("/v1/kpis", params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["parameter"] == "cursor"
