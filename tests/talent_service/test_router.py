from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from services.talent_service.models import OrgUnit, OrgUnitKind
from tests.database import insert_rows


async def test_lists_org_units_by_kind_and_parent(
    talent_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    company = OrgUnit(key="acme", name="Acme", kind=OrgUnitKind.company)
    plant = OrgUnit(key="plant_lyon", name="Plant Lyon", kind=OrgUnitKind.department, parent_id=company.id)
    await insert_rows(connection, company, plant)

    response = await talent_client.get("/v1/org-units", params={"parent_id": str(company.id)})
    assert [u["name"] for u in response.json()["items"]] == ["Plant Lyon"]
    response = await talent_client.get("/v1/org-units", params={"kind": "company"})
    assert [u["name"] for u in response.json()["items"]] == ["Acme"]
