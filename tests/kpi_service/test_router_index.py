"""A KPI's responsible person, and the KPI index: every active KPI with its owner unit and
responsible person in one complete answer, read through ``KpiClient.index``."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.kpi_service.main import app as kpi_app
from shared.clients import KpiClient
from tests.auth import token
from tests.kpi_service.helpers import ago, create_kpi, kpi_body, push_ok
from tests.shared.conftest import Recorder, client_settings, tokens


async def test_the_responsible_person_is_set_changed_cleared_and_filtered(kpi_client: httpx.AsyncClient) -> None:
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    kpi = await create_kpi(kpi_client, responsible_person_id=person)
    assert kpi["responsible_person_id"] == person
    assert (await create_kpi(kpi_client))["responsible_person_id"] is None
    path = f"/v1/kpis/{kpi['key']}"
    changed = await kpi_client.patch(path, json={"responsible_person_id": other}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["responsible_person_id"], changed.json()["version"]) == (other, 2)
    listed = (await kpi_client.get("/v1/kpis", params={"responsible_person_id": other})).json()["items"]
    assert [item["key"] for item in listed] == [kpi["key"]]
    assert (await kpi_client.get("/v1/kpis", params={"responsible_person_id": person})).json()["items"] == []
    cleared = await kpi_client.patch(path, json={"responsible_person_id": None}, headers={"If-Match": '"2"'})
    assert cleared.json()["responsible_person_id"] is None
    assert (await kpi_client.get(path)).json()["responsible_person_id"] is None


@pytest.mark.parametrize("value", ["not-a-uuid", 7, ""])
async def test_a_responsible_person_that_is_not_a_uuid_is_a_422_at_its_field(
    kpi_client: httpx.AsyncClient, value: object
) -> None:
    created = await kpi_client.post("/v1/kpis", json=kpi_body(responsible_person_id=value))
    assert created.status_code == 422
    assert "/responsible_person_id" in {e["pointer"] for e in created.json()["errors"]}
    kpi = await create_kpi(kpi_client)
    patched = await kpi_client.patch(
        f"/v1/kpis/{kpi['key']}", json={"responsible_person_id": value}, headers={"If-Match": '"1"'}
    )
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["pointer"] == "/responsible_person_id"
    filtered = await kpi_client.get("/v1/kpis", params={"responsible_person_id": "nobody"})
    assert filtered.status_code == 422
    assert filtered.json()["errors"][0]["parameter"] == "responsible_person_id"


async def test_the_index_lists_every_active_kpi_by_key_without_paging(kpi_client: httpx.AsyncClient) -> None:
    person, unit = str(uuid.uuid4()), str(uuid.uuid4())
    made = [
        await create_kpi(kpi_client, key=f"idx.kpi_{i:03d}", owner_org_unit_id=unit if i % 2 else None)
        for i in reversed(range(120))  # more than a page of any list, created out of key order
    ]
    await kpi_client.patch(
        f"/v1/kpis/{made[0]['key']}", json={"responsible_person_id": person}, headers={"If-Match": '"1"'}
    )
    archived = await create_kpi(kpi_client, key="idx.archived")
    await push_ok(kpi_client, (archived["key"], "2026-01-01T00:00:00Z", 1.0))
    assert (await kpi_client.delete("/v1/kpis/idx.archived", headers={"If-Match": '"1"'})).status_code == 200
    response = await kpi_client.get("/v1/kpi-index")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [item["key"] for item in items] == [f"idx.kpi_{i:03d}" for i in range(120)]
    assert items[119] == {
        "key": "idx.kpi_119",
        "name": made[0]["name"],
        "domain": "supply_chain",
        "owner_org_unit_id": unit,
        "responsible_person_id": person,
        "status": None,  # only with include=status
    }
    assert (items[0]["owner_org_unit_id"], items[0]["responsible_person_id"]) == (None, None)


async def test_the_index_needs_kpi_read(kpi_client: httpx.AsyncClient) -> None:
    denied = await kpi_client.get("/v1/kpi-index", headers={"X-Internal-Token": token("kpi", "strategy:read")})
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert (await kpi_client.get("/v1/kpi-index", headers={"X-Internal-Token": ""})).status_code == 401
    allowed = await kpi_client.get("/v1/kpi-index", headers={"X-Internal-Token": token("kpi", "kpi:read")})
    assert (allowed.status_code, allowed.json()) == (200, {"items": []})


async def test_the_client_reads_the_index_in_one_call(kpi_client: httpx.AsyncClient) -> None:
    person = uuid.uuid4()
    await create_kpi(kpi_client, key="idx.b", responsible_person_id=str(person))
    await create_kpi(kpi_client, key="idx.a")
    recorder = Recorder(kpi_app)
    client = KpiClient.create(
        client_settings(), tokens("kpi:read"), base_url="http://kpi", transport=httpx.ASGITransport(app=recorder)
    )
    async with client:
        entries = await client.index()
    assert [(e.key, e.responsible_person_id) for e in entries] == [("idx.a", None), ("idx.b", person)]
    assert [r.url.path for r in recorder.requests] == ["/v1/kpi-index"]


async def test_the_index_filtered_by_owner_or_key_with_status(kpi_client: httpx.AsyncClient) -> None:
    unit, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = await create_kpi(kpi_client, key="idxf.mine", owner_org_unit_id=unit)
    await create_kpi(kpi_client, key="idxf.theirs", owner_org_unit_id=other)
    named = await create_kpi(kpi_client, key="idxf.named")
    await push_ok(kpi_client, ("idxf.mine", ago(hours=1), 5.0))
    plain = await kpi_client.get("/v1/kpi-index", params=[("owner", unit), ("kpi", "idxf.named"), ("kpi", "nope.x")])
    assert plain.status_code == 200, plain.text
    assert [(i["key"], i["status"]) for i in plain.json()["items"]] == [(mine["key"], None), (named["key"], None)]
    judged = await kpi_client.get("/v1/kpi-index", params=[("owner", unit), ("include", "status")])
    [entry] = judged.json()["items"]
    assert (entry["key"], entry["status"]["status"], entry["status"]["value"]) == ("idxf.mine", "no_target", 5.0)
    bad = await kpi_client.get("/v1/kpi-index", params=[("owner", "not-a-uuid"), ("include", "everything")])
    assert bad.status_code == 422
    assert {e["parameter"] for e in bad.json()["errors"]} == {"owner.0", "include.0"}
