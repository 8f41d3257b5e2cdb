"""The reads the alignment views are built on: an objective's lineage (itself, its key results and
its parent chain with progress, in one request) and the forest of objectives active on a day (one
KPI call for all of it), read through ``StrategyClient.lineage`` and ``StrategyClient.forest``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from services.strategy_service import service
from services.strategy_service.main import app
from shared.clients import StrategyClient
from shared.contracts.strategy import Level, ObjectiveForest, ObjectiveLineage
from tests.auth import token
from tests.kpi_service.helpers import create_kpi, push_ok
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.strategy_service.conftest import check_in, key_result, objective

TODAY = dt.datetime.now(dt.UTC).date()


def _days(first: int, last: int) -> dict[str, str]:
    return {"period_start": str(TODAY + dt.timedelta(days=first)), "period_end": str(TODAY + dt.timedelta(days=last))}


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _same(read: dict[str, Any], again: dict[str, Any]) -> None:
    """Two reads of one objective at two instants: equal but for the time elapsed in between."""
    assert read.keys() == again.keys()
    assert read["expected_progress"] == pytest.approx(again["expected_progress"], abs=1e-4)
    assert read | {"expected_progress": None} == again | {"expected_progress": None}


async def _progress_of(client: httpx.AsyncClient, objective_id: str) -> dict[str, Any]:
    read = await _get(client, f"/v1/objectives/{objective_id}")
    return {k: read[k] for k in ("id", "title", "level", "progress", "expected_progress", "pace_status", "degraded")}


async def _cascade(client: httpx.AsyncClient, kpi_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """company ← department ← team (50 %), the department's own key result done, a second team
    measured by a KPI at 20 %, and an archived team that no longer counts."""
    kpi = await create_kpi(kpi_client, aggregation="last")
    await push_ok(kpi_client, (kpi["key"], dt.datetime.now(dt.UTC).isoformat(), 20.0))
    company = await objective(client, title="Company", **_days(-100, 100))
    department = await objective(client, title="Department", level="department", parent_id=company["id"],
                                 **_days(-50, 50))  # fmt: skip
    team = await objective(client, title="Team", level="team", parent_id=department["id"], **_days(-10, 10))
    measured = await objective(client, title="Measured team", level="team", parent_id=department["id"],
                               **_days(-10, 10))  # fmt: skip
    gone = await objective(client, title="Gone", level="team", parent_id=department["id"], **_days(-10, 10))
    await key_result(client, gone["id"])
    await client.delete(f"/v1/objectives/{gone['id']}", headers={"If-Match": '"1"'})
    halfway = await key_result(client, team["id"], title="halfway")
    await check_in(client, halfway["id"], value=50, confidence=0.8)
    done = await key_result(client, department["id"], title="done", kind="milestone", start_value=0, target_value=1)
    await check_in(client, done["id"], value=1, confidence=1)
    linked = await key_result(client, measured["id"], title="linked", kpi=kpi["key"])
    return {"company": company, "department": department, "team": team, "measured": measured,
            "halfway": halfway, "linked": linked}  # fmt: skip


async def test_the_lineage_is_the_objective_its_key_results_and_its_parents_to_the_root(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    made = await _cascade(strategy_client, kpi_client)
    kpi_service.requests.clear()
    lineage = await _get(strategy_client, f"/v1/objectives/{made['team']['id']}/lineage")
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    _same(lineage["objective"], await _get(strategy_client, f"/v1/objectives/{made['team']['id']}"))
    assert lineage["objective"]["progress"] == pytest.approx(0.5)
    [halfway] = lineage["key_results"]
    assert (halfway["id"], halfway["current_value"], halfway["current_source"], halfway["confidence"]) == (
        made["halfway"]["id"], 50.0, "check_in", 0.8,
    )  # fmt: skip
    assert {"forecast_value", "forecast_progress", "progress"} <= halfway.keys()
    parents = lineage["parents"]
    assert [p["id"] for p in parents] == [made["department"]["id"], made["company"]["id"]]
    for parent in parents:
        fields = await _progress_of(strategy_client, parent["id"])
        _same({k: parent[k] for k in fields}, fields)
    # The department: its own key result (1), the team (0.5) and the measured team (0.2).
    assert parents[0]["progress"] == pytest.approx((1 + 0.5 + 0.2) / 3)
    assert parents[1]["progress"] == pytest.approx(parents[0]["progress"])
    assert (parents[0]["level"], parents[1]["level"], parents[1]["title"]) == ("department", "company", "Company")
    root = await _get(strategy_client, f"/v1/objectives/{made['company']['id']}/lineage")
    assert (root["parents"], root["key_results"]) == ([], [])


async def test_the_lineage_goes_through_an_archived_parent(strategy_client: httpx.AsyncClient) -> None:
    company = await objective(strategy_client, title="Root")
    department = await objective(strategy_client, level="department", parent_id=company["id"])
    team = await objective(strategy_client, level="team", parent_id=department["id"])
    measured = await key_result(strategy_client, team["id"])
    await check_in(strategy_client, measured["id"], value=25, confidence=0.5, checked_at="2025-06-01T00:00:00Z")
    await strategy_client.delete(f"/v1/objectives/{department['id']}", headers={"If-Match": '"1"'})
    lineage = await _get(strategy_client, f"/v1/objectives/{team['id']}/lineage")
    assert [(p["id"], p["archived_at"] is not None) for p in lineage["parents"]] == [
        (department["id"], True), (company["id"], False),
    ]  # fmt: skip
    assert lineage["parents"][0]["progress"] == pytest.approx(0.25)
    assert lineage["parents"][1]["progress"] is None  # its only child is archived


async def test_lineage_errors(strategy_client: httpx.AsyncClient) -> None:
    unknown = await strategy_client.get(f"/v1/objectives/{uuid.uuid4()}/lineage")
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/problem+json")
    malformed = await strategy_client.get("/v1/objectives/not-an-id/lineage")
    assert malformed.status_code == 422
    made = await objective(strategy_client)
    denied = await strategy_client.get(
        f"/v1/objectives/{made['id']}/lineage", headers={"X-Internal-Token": token("strategy", "kpi:read")}
    )
    assert denied.status_code == 403


async def test_the_forest_holds_every_objective_active_on_the_day_with_one_kpi_call(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    made = await _cascade(strategy_client, kpi_client)
    later = await objective(strategy_client, title="Later", **_days(30, 60))
    past_department = await objective(strategy_client, title="Past", level="department",
                                      parent_id=made["company"]["id"], **_days(-90, -60))  # fmt: skip
    orphan = await objective(strategy_client, title="Orphan", level="team", parent_id=past_department["id"],
                             **_days(-70, 5))  # fmt: skip
    past_kr = await key_result(strategy_client, past_department["id"])
    await check_in(strategy_client, past_kr["id"], value=100, confidence=1,
                   checked_at=f"{TODAY - dt.timedelta(days=80)}T12:00:00Z")  # fmt: skip
    orphan_kpi = await create_kpi(kpi_client, aggregation="last")
    await push_ok(kpi_client, (orphan_kpi["key"], dt.datetime.now(dt.UTC).isoformat(), 90.0))
    await key_result(strategy_client, orphan["id"], kpi=orphan_kpi["key"])
    first_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    await check_in(strategy_client, made["halfway"]["id"], value=45, confidence=0.7, checked_at=first_at.isoformat())

    kpi_service.requests.clear()
    forest = await _get(strategy_client, "/v1/objective-forest")
    assert [r.url.path for r in kpi_service.requests] == ["/v1/kpi-aggregates"]
    assert (forest["active_on"], forest["level"], forest["degraded"]) == (str(TODAY), None, [])
    roots = forest["objectives"]
    assert [r["title"] for r in roots] == ["Company", "Orphan"]  # the orphan's parent is not active today
    company = roots[0]
    assert [c["title"] for c in company["children"]] == ["Department"]
    assert [c["title"] for c in company["children"][0]["children"]] == ["Team", "Measured team"]
    assert later["id"] not in str(forest)
    # Progress counts every child, active today or not: the past department (done) counts.
    assert company["progress"] == (await _get(strategy_client, f"/v1/objectives/{company['id']}"))["progress"]
    # The past department: its own key result done (1) and the orphan team (0.9).
    assert company["progress"] == pytest.approx(((1 + 0.5 + 0.2) / 3 + (1 + 0.9) / 2) / 2)
    team = company["children"][0]["children"][0]
    [halfway] = team["key_results"]
    assert halfway["current_value"] == 50.0  # the check-in made last is back-dated: the other stays latest
    latest = (await _get(strategy_client, f"/v1/key-results/{halfway['id']}/check-ins"))["items"][0]
    assert halfway["last_check_in_at"] == latest["checked_at"]
    measured = company["children"][0]["children"][1]
    assert (measured["key_results"][0]["current_source"], measured["key_results"][0]["last_check_in_at"]) == (
        "kpi", None,
    )  # fmt: skip
    assert roots[1]["key_results"][0]["current_value"] == 90.0
    fields = await _progress_of(strategy_client, team["id"])
    _same({k: team[k] for k in fields}, fields)

    teams = await _get(strategy_client, "/v1/objective-forest", level="team")
    assert [(r["title"], r["children"]) for r in teams["objectives"]] == [
        ("Team", []), ("Measured team", []), ("Orphan", []),
    ]  # fmt: skip
    past = await _get(strategy_client, "/v1/objective-forest", active_on=str(TODAY - dt.timedelta(days=80)))
    assert [r["title"] for r in past["objectives"]] == ["Company"]
    assert [c["title"] for c in past["objectives"][0]["children"]] == ["Past"]
    assert [c["title"] for c in past["objectives"][0]["children"][0]["children"]] == []
    empty = await _get(strategy_client, "/v1/objective-forest", active_on="1990-01-01")
    assert empty == {"active_on": "1990-01-01", "level": None, "objectives": [], "degraded": [], "initiatives": []}


async def test_the_forest_says_when_the_kpi_service_is_down(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    made = await _cascade(strategy_client, kpi_client)
    service._kpi_cache.clear()
    fallback = app.state.kpi_client
    del app.state.kpi_client
    try:
        forest = await _get(strategy_client, "/v1/objective-forest")
        lineage = await _get(strategy_client, f"/v1/objectives/{made['measured']['id']}/lineage")
    finally:
        app.state.kpi_client = fallback
    assert forest["degraded"] == ["kpi"]
    [company] = forest["objectives"]
    department = company["children"][0]
    assert (company["degraded"], department["children"][0]["degraded"]) == (["kpi"], [])  # the team: check-ins only
    assert department["children"][1]["key_results"][0]["current_source"] == "kpi_unavailable"
    assert lineage["objective"]["degraded"] == ["kpi"]
    assert lineage["key_results"][0]["current_source"] == "kpi_unavailable"
    assert [p["degraded"] for p in lineage["parents"]] == [["kpi"], ["kpi"]]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"active_on": "2026-02-30"}, "active_on"), ({"active_on": "yesterday"}, "active_on"),
     ({"level": "division"}, "level")],
)  # fmt: skip
async def test_forest_parameters_are_checked(
    strategy_client: httpx.AsyncClient, params: dict[str, str], parameter: str
) -> None:
    response = await strategy_client.get("/v1/objective-forest", params=params)
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == parameter


async def test_the_forest_needs_strategy_read(strategy_client: httpx.AsyncClient) -> None:
    denied = await strategy_client.get(
        "/v1/objective-forest", headers={"X-Internal-Token": token("strategy", "kpi:read")}
    )
    assert denied.status_code == 403


async def test_the_client_reads_lineage_and_forest_in_one_call_each(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    made = await _cascade(strategy_client, kpi_client)
    recorder = Recorder(app)
    client = StrategyClient.create(
        client_settings(), tokens("strategy:read", key_id="gateway"), base_url="http://strategy",
        transport=httpx.ASGITransport(app=recorder),
    )  # fmt: skip
    async with client:
        lineage = await client.lineage(uuid.UUID(made["team"]["id"]))
        assert isinstance(lineage, ObjectiveLineage)
        assert [p.title for p in lineage.parents] == ["Department", "Company"]
        assert await client.lineage(uuid.uuid4()) is None
        forest = await client.forest(active_on=TODAY, level=Level.department)
        assert isinstance(forest, ObjectiveForest)
        assert [o.title for o in forest.objectives] == ["Department"]
        assert forest.objectives[0].key_results[0].last_check_in_at is not None
        everything = await client.forest()
        assert [o.title for o in everything.objectives] == ["Company"]
    assert [(r.url.path, str(r.url.params)) for r in recorder.requests][2:] == [
        ("/v1/objective-forest", f"active_on={TODAY}&level=department"), ("/v1/objective-forest", ""),
    ]  # fmt: skip
