from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from services.strategy_service.models import Level, Objective
from tests.database import insert_rows


async def test_lists_objectives_aligned_to_a_parent(
    strategy_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    company = Objective(
        title="Grow margin", level=Level.company, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 12, 31)
    )
    team = Objective(
        title="Cut scrap",
        level=Level.team,
        parent_id=company.id,
        period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 6, 30),
    )
    await insert_rows(connection, company, team)

    response = await strategy_client.get("/v1/objectives", params={"parent_id": str(company.id)})
    assert response.status_code == 200
    assert [o["title"] for o in response.json()["items"]] == ["Cut scrap"]
    response = await strategy_client.get("/v1/objectives", params={"level": "company"})
    assert [o["title"] for o in response.json()["items"]] == ["Grow margin"]
