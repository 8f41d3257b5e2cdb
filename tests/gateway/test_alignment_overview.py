"""The overview, org-unit and gaps views through a real gateway over the three real services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.alignment_data import (
    ago,
    check_in,
    days,
    future_period,
    gateway_calls,
    key_result,
    kpi,
    objective,
    org_unit,
    person,
    short_of_skills,
)
from tests.gateway.platform import Platform, running_platform


@pytest.fixture
async def platform(database_url: str, admin_key: str, engine: AsyncEngine) -> AsyncIterator[Platform]:
    async with running_platform(database_url, admin_key, engine, view_deadline_seconds=2.0) as platform:
        yield platform


async def get(platform: Platform, path: str, **params: str) -> dict[str, Any]:
    response = await platform.admin.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from walk(node["children"])


async def three_levels(platform: Platform) -> dict[str, dict[str, Any]]:
    """A company objective on track, a department one behind (red KPI), a team one off track whose
    team is losing people; a cancelled team objective beside it."""
    team = await org_unit(platform)
    for _ in range(4):
        await person(platform, team["id"])
    await person(platform, team["id"], end_date=days(-30), separation_reason="voluntary")
    company = await objective(platform, level="company")
    await check_in(platform, (await key_result(platform, company["id"]))["id"], 60.0)
    red = await kpi(platform, values=(50.0,))
    department = await objective(platform, level="department", parent_id=company["id"])
    await key_result(platform, department["id"], kpi=red, target=100)
    squad = await objective(platform, parent_id=department["id"], owner=team["id"])
    await check_in(platform, (await key_result(platform, squad["id"]))["id"], 0.0)
    cancelled = await objective(platform, parent_id=department["id"], status="cancelled")
    return {"company": company, "department": department, "team": squad, "cancelled": cancelled}


async def test_overview_of_a_three_level_tree_matches_the_objective_views(platform: Platform) -> None:
    made = await three_levels(platform)
    platform.reset_calls()
    body = await get(platform, "/v1/alignment/overview")
    assert gateway_calls(platform) == {"strategy": 1, "kpi": 1, "talent": 1}

    [root] = body["objectives"]
    assert root["id"] == made["company"]["id"]
    [department] = root["children"]
    assert department["id"] == made["department"]["id"]
    assert {c["id"] for c in department["children"]} == {made["team"]["id"], made["cancelled"]["id"]}
    nodes = {n["id"]: n for n in walk(body["objectives"])}
    assert nodes[made["company"]["id"]]["verdict"] == "on_track"
    assert nodes[made["department"]["id"]]["verdict"] == "at_risk"
    assert nodes[made["team"]["id"]]["verdict"] == "off_track"
    assert nodes[made["cancelled"]["id"]]["verdict"] is None
    assert body["summary"] == {"on_track": 1, "at_risk": 1, "off_track": 1, "unknown": 0}
    assert (body["missing"], body["partial"]) == ([], False)

    for node in nodes.values():
        single = await get(platform, f"/v1/alignment/objectives/{node['id']}")
        assert (node["verdict"], same(node["reasons"])) == (single["verdict"], same(single["reasons"])), node["title"]
        assert node["progress"] == single["objective"]["progress"]


def same(reasons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reasons without what moves with the clock between two reads (the period's elapsed share)."""
    return [{k: v for k, v in r.items() if k not in ("message", "expected_progress")} for r in reasons]


async def test_overview_filters_by_level_and_day(platform: Platform) -> None:
    made = await three_levels(platform)
    later = await objective(platform, level="company", period=future_period())
    teams = await get(platform, "/v1/alignment/overview", level="team")
    assert {n["id"] for n in walk(teams["objectives"])} == {made["team"]["id"], made["cancelled"]["id"]}
    assert teams["level"] == "team"
    ahead = await get(platform, "/v1/alignment/overview", active_on=days(35))
    assert [n["id"] for n in ahead["objectives"]] == [later["id"]]
    assert ahead["active_on"] == days(35)
    bad = await platform.admin.get("/v1/alignment/overview", params={"active_on": "tomorrow", "level": "galaxy"})
    assert bad.status_code == 422
    assert {e["parameter"] for e in bad.json()["errors"]} == {"active_on", "level"}


async def test_overview_with_the_talent_service_stopped(platform: Platform) -> None:
    made = await three_levels(platform)
    await platform.stop("talent")
    body = await get(platform, "/v1/alignment/overview")
    assert body["missing"] == [{"source": "talent", "reason": "unavailable"}]
    assert body["partial"] is True
    nodes = {n["id"]: n for n in walk(body["objectives"])}
    assert all(r["source"] != "talent" for n in nodes.values() for r in n["reasons"])
    assert nodes[made["team"]["id"]]["verdict"] == "off_track"  # its pace still judges it


async def test_org_unit_view(platform: Platform) -> None:
    team = await org_unit(platform)
    for _ in range(4):
        await person(platform, team["id"])
    await person(platform, team["id"], end_date=days(-30), separation_reason="voluntary")
    owned = await kpi(platform, values=(99.0,), owner=team["id"])
    await kpi(platform, values=(99.0,))  # someone else's
    mine = await objective(platform, owner=team["id"])
    await check_in(platform, (await key_result(platform, mine["id"]))["id"], 0.0)
    await objective(platform)  # someone else's

    for id_or_key in (team["id"], team["key"]):
        body = await get(platform, f"/v1/alignment/org-units/{id_or_key}")
        assert (body["org_unit_id"], body["org_unit_key"]) == (team["id"], team["key"])
        [goal] = body["objectives"]
        assert (goal["id"], goal["verdict"]) == (mine["id"], "off_track")
        assert [r["code"] for r in goal["reasons"]] == ["pace_off_track", "high_turnover"]
        [indicator] = body["kpis"]
        assert (indicator["key"], indicator["status"]["status"]) == (owned, "green")
        hr = body["hr_indicators"]
        assert (hr["from"], hr["to"], hr["headcount"], hr["separations"]) == (days(-364), days(0), 4, 1)
        assert hr["turnover_rate"] == pytest.approx(1 / 4.5)
        assert body["skill_gaps"] == []
        assert (body["missing"], body["partial"]) == ([], False)

    unknown = await platform.admin.get("/v1/alignment/org-units/nowhere")
    assert unknown.status_code == 404


async def test_gaps(platform: Platform) -> None:
    team = await org_unit(platform)
    ghost = "00000000-0000-4000-8000-000000000001"
    orphan = await kpi(platform, values=(1.0,), owner=team["id"])
    await kpi(platform, key=f"hr.headcount.{team['key']}", values=(5.0,))  # published HR KPIs are no orphans
    lost = await kpi(platform, values=(1.0,), owner=ghost)
    measured = await kpi(platform, values=(1.0,))

    fine = await objective(platform, owner=team["id"])
    await key_result(platform, fine["id"], kpi=measured)
    bare = await objective(platform)
    quiet = await objective(platform, owner=ghost, period={"period_start": days(-60), "period_end": days(29)})
    await check_in(platform, (await key_result(platform, quiet["id"]))["id"], 10.0, checked_at=ago(days=40))
    recent = await objective(platform)
    await check_in(platform, (await key_result(platform, recent["id"]))["id"], 10.0, checked_at=ago(days=2))

    platform.reset_calls()
    body = await get(platform, "/v1/alignment/gaps")
    assert gateway_calls(platform) == {"strategy": 1, "kpi": 1, "talent": 1}
    assert [k["key"] for k in body["orphan_kpis"]] == sorted([orphan, lost])
    assert {(o["objective_id"], o["reason"]) for o in body["unmeasured_objectives"]} == {
        (bare["id"], "no_key_results"),
        (quiet["id"], "no_recent_check_in"),
    }
    assert {(o["kind"], o["id"]) for o in body["unknown_owners"]} == {("objective", quiet["id"]), ("kpi", lost)}
    assert body["capability_gaps"] == []
    assert (body["missing"], body["partial"]) == ([], False)


async def test_gaps_without_talent_read(platform: Platform) -> None:
    ghost = "00000000-0000-4000-8000-000000000002"
    await objective(platform, owner=ghost)
    async with await platform.key("strategy:read", "kpi:read") as reader:
        platform.reset_calls()
        body = (await reader.get("/v1/alignment/gaps")).json()
    assert body["missing"] == [{"source": "talent", "reason": "forbidden"}]
    assert body["unknown_owners"] == []
    assert gateway_calls(platform)["talent"] == 0


async def test_capability_gaps_and_the_units_skill_gaps(platform: Platform) -> None:
    team, forecasting, _ = await short_of_skills(platform)
    owned = [await objective(platform, owner=team["id"]) for _ in range(2)]
    covered, _, _ = await short_of_skills(platform)  # short too, but owns no objective
    body = await get(platform, "/v1/alignment/gaps")
    [gap] = body["capability_gaps"]
    assert (gap["org_unit_id"], gap["org_unit_key"]) == (team["id"], team["key"])
    assert gap["skill_coverage"] == pytest.approx(0.6)
    assert sorted(gap["objectives"]) == sorted(o["id"] for o in owned)
    assert [(s["skill"], s["missing"]) for s in gap["shortfalls"]] == [(forecasting, 2)]
    assert covered["id"] not in {g["org_unit_id"] for g in body["capability_gaps"]}

    unit = await get(platform, f"/v1/alignment/org-units/{team['key']}")
    assert [s["skill"] for s in unit["skill_gaps"]] == [forecasting]
    assert unit["hr_indicators"]["skill_coverage"] == pytest.approx(0.6)
    assert {o["verdict"] for o in unit["objectives"]} == {"at_risk"}


async def test_org_unit_view_calls_and_degradation(platform: Platform) -> None:
    team = await org_unit(platform)
    owned = await kpi(platform, values=(99.0,), owner=team["id"])
    elsewhere = await kpi(platform, values=(50.0,))  # someone else's, read by the team's key result
    goal = await objective(platform, owner=team["id"])
    await key_result(platform, goal["id"], kpi=elsewhere)  # 50 of 100 half-way through: on pace
    platform.reset_calls()
    body = await get(platform, f"/v1/alignment/org-units/{team['id']}")
    # talent names the unit, strategy its objectives, one KPI call what it owns and reads, with status
    assert gateway_calls(platform) == {"strategy": 1, "kpi": 1, "talent": 1}
    assert [(k["key"], k["status"]["status"]) for k in body["kpis"]] == [(owned, "green")]
    [unit_goal] = body["objectives"]
    assert (unit_goal["verdict"], [r["code"] for r in unit_goal["reasons"]]) == (
        "at_risk",
        ["kpi_red", "no_action_plan"],
    )

    await platform.stop("talent")
    by_id = await get(platform, f"/v1/alignment/org-units/{team['id']}")
    assert by_id["missing"] == [{"source": "talent", "reason": "unavailable"}]
    assert (by_id["org_unit_id"], len(by_id["objectives"]), len(by_id["kpis"])) == (team["id"], 1, 1)
    assert by_id["kpis"][0]["status"]["status"] == "green"
    assert by_id["hr_indicators"] is None
    platform.reset_calls()
    by_key = await get(platform, f"/v1/alignment/org-units/{team['key']}")
    assert (by_key["org_unit_id"], by_key["objectives"], by_key["partial"]) == (None, [], True)
    assert by_key["missing"] == [{"source": "talent", "reason": "unavailable"}]
    assert gateway_calls(platform) == {"strategy": 0, "kpi": 0, "talent": 0}  # nothing names the unit to them
