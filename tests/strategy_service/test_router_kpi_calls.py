"""How many KPI calls a strategy read makes — one per 500 KPI-linked ranges, counted at the KPI
app — and a link whose KPI was deleted since, which reads as no data without blinding the others."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.strategy_service.models import KeyResult, Objective
from shared.contracts.kpi import Aggregation
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.shared.conftest import Recorder
from tests.strategy_service.conftest import key_result, objective

TODAY = dt.datetime.now(dt.UTC).date()


async def _children_measured_by(connection: AsyncConnection, root: uuid.UUID, kpi: str, first: int, count: int) -> None:
    """``count`` departments under ``root``, each with its own period (so its own KPI range) and one
    key result measured by ``kpi``."""
    children = [
        {"id": uuid.uuid4(), "title": f"Department {i}", "level": "department", "parent_id": root,
         "period_start": TODAY - dt.timedelta(days=i + 1), "period_end": TODAY + dt.timedelta(days=30)}
        for i in range(first, first + count)
    ]  # fmt: skip
    await connection.execute(insert(Objective), children)
    key_results = [
        {"objective_id": c["id"], "title": "measured", "kind": "increase", "start_value": 0, "target_value": 100,
         "kpi": kpi, "kpi_aggregation": Aggregation.last}
        for c in children
    ]  # fmt: skip
    await connection.execute(insert(KeyResult), key_results)


async def test_one_kpi_call_per_500_linked_ranges(
    strategy_client: httpx.AsyncClient,
    kpi_client: httpx.AsyncClient,
    kpi_service: Recorder,
    connection: AsyncConnection,
) -> None:
    kpi = (await create_kpi(kpi_client, aggregation="last"))["key"]
    await push_ok(kpi_client, (kpi, dt.datetime.now(dt.UTC).isoformat(), 25.0))
    root = await objective(strategy_client, period_start=str(TODAY - dt.timedelta(days=900)),
                           period_end=str(TODAY + dt.timedelta(days=30)))  # fmt: skip
    await _children_measured_by(connection, uuid.UUID(root["id"]), kpi, 0, 500)
    path = f"/v1/objectives/{root['id']}/tree"

    kpi_service.requests.clear()
    tree = (await strategy_client.get(path)).json()
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    assert len(tree["children"]) == 500
    assert {c["key_results"][0]["current_value"] for c in tree["children"]} == {25.0}
    assert tree["progress"] == 0.25

    await _children_measured_by(connection, uuid.UUID(root["id"]), kpi, 500, 1)
    kpi_service.requests.clear()
    tree = (await strategy_client.get(path)).json()
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"] * 2
    assert len(tree["children"]) == 501
    assert {c["key_results"][0]["current_source"] for c in tree["children"]} == {"kpi"}

    kpi_service.requests.clear()
    forest = (await strategy_client.get("/v1/objective-forest")).json()
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"] * 2
    assert len(forest["objectives"][0]["children"]) == 501


async def test_a_kpi_deleted_since_it_was_linked_reads_as_no_data(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    kept = (await create_kpi(kpi_client, aggregation="last"))["key"]
    await push_ok(kpi_client, (kept, dt.datetime.now(dt.UTC).isoformat(), 60.0))
    doomed = (await create_kpi(kpi_client))["key"]
    made = await objective(strategy_client, period_start=str(TODAY - dt.timedelta(days=5)),
                           period_end=str(TODAY + dt.timedelta(days=5)))  # fmt: skip
    gone = await key_result(strategy_client, made["id"], kpi=doomed)
    live = await key_result(strategy_client, made["id"], kpi=kept)
    deleted = await kpi_client.delete(f"/v1/kpis/{doomed}", headers={"If-Match": '"1"'})
    assert deleted.status_code == 204  # no measurements: really deleted

    kpi_service.requests.clear()
    tree = (await strategy_client.get(f"/v1/objectives/{made['id']}/tree")).json()
    assert len(kpi_service.requests) == 2  # refused by pointer, then asked again without it
    by_id = {k["id"]: k for k in tree["key_results"]}
    assert (by_id[live["id"]]["current_source"], by_id[live["id"]]["current_value"]) == ("kpi", 60.0)
    assert (by_id[gone["id"]]["current_source"], by_id[gone["id"]]["progress"]) == ("none", 0.0)
    assert (tree["degraded"], tree["progress"]) == ([], 0.3)
    alone = (await strategy_client.get(f"/v1/key-results/{gone['id']}")).json()
    assert (alone["current_source"], alone["current_value"]) == ("none", None)
