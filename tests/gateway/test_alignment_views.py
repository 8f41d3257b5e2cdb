"""The alignment views through a real gateway over the three real services (DESIGN §8, §9)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.gateway.alignment_data import (
    ago,
    check_in,
    days,
    future_period,
    gateway_calls,
    issuer,
    key_result,
    kpi,
    objective,
    org_unit,
    person,
    short_of_skills,
)
from tests.gateway.platform import Platform, running_platform

DEADLINE = 2.0  # the default: room for the clients' retries when a service refuses connections


@pytest.fixture
async def platform(database_url: str, admin_key: str, engine: AsyncEngine) -> AsyncIterator[Platform]:
    async with running_platform(database_url, admin_key, engine, view_deadline_seconds=DEADLINE) as platform:
        yield platform


async def view(platform: Platform, objective_id: str, **headers: str) -> dict[str, Any]:
    response = await platform.admin.get(f"/v1/alignment/objectives/{objective_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [r["code"] for r in body["reasons"]]


async def turnover_unit(platform: Platform) -> dict[str, Any]:
    """A team of 5 that lost one person this year: turnover 1 / 4.5 over the last 365 days."""
    unit = await org_unit(platform)
    for _ in range(4):
        await person(platform, unit["id"])
    await person(platform, unit["id"], end_date=days(-30), separation_reason="voluntary")
    return unit


# ---------------------------------------------------------------- the objective view, whole


async def test_objective_view_composes_the_three_services_with_one_call_each(platform: Platform) -> None:
    unit = await turnover_unit(platform)
    red = await kpi(platform, values=(50.0,), owner=unit["id"])
    company = await objective(platform, level="company")
    department = await objective(platform, level="department", parent_id=company["id"])
    team = await objective(platform, owner=unit["id"], parent_id=department["id"], period=future_period())
    measured = await key_result(platform, team["id"], kpi=red)
    platform.reset_calls()

    body = await view(platform, team["id"], **{"X-Request-Id": "align-1"})

    assert body["objective"]["id"] == team["id"]
    assert [p["id"] for p in body["parents"]] == [department["id"], company["id"]]
    [kr] = body["key_results"]
    assert kr["id"] == measured["id"]
    status = kr["kpi_status"]
    assert (status["kpi"], status["status"], status["value"]) == (red, "red", 50.0)
    assert status["target"]["value"] == 95.0
    assert {"trend", "last_measurement_at", "stale_since"} <= set(status)
    assert body["owner"]["org_unit_id"] == unit["id"]
    assert body["owner"]["exists"] is True
    assert body["owner"]["health"]["headcount"] == 4
    assert body["verdict"] == "at_risk"
    assert codes(body)[:2] == ["kpi_red", "high_turnover"]
    assert (body["missing"], body["partial"]) == ([], False)

    assert gateway_calls(platform) == {"strategy": 1, "kpi": 1, "talent": 1}
    for seen in platform.calls():
        assert seen.request_id == "align-1", seen
        if issuer(seen) == "gateway":
            claims = jwt.decode(seen.token or "", options={"verify_signature": False})
            assert claims["sub"] == platform.gateway.admin_key.split("_")[1]
            assert claims["aud"] == seen.service


async def test_an_unknown_objective_is_a_404_and_a_bad_id_a_422(platform: Platform) -> None:
    missing = await platform.admin.get(f"/v1/alignment/objectives/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = await platform.admin.get("/v1/alignment/objectives/not-a-uuid")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "objective_id"


# ---------------------------------------------------------------- each verdict rule through the view


@pytest.mark.parametrize(
    ("value", "verdict", "reason"),
    [(0.0, "off_track", "pace_off_track"), (20.0, "at_risk", "pace_at_risk"), (45.0, "on_track", None)],
)
async def test_pace_alone(platform: Platform, value: float, verdict: str, reason: str | None) -> None:
    goal = await objective(platform)
    kr = await key_result(platform, goal["id"])
    await check_in(platform, kr["id"], value)
    body = await view(platform, goal["id"])
    assert body["verdict"] == verdict
    assert codes(body) == ([reason] if reason else [])
    if reason:
        figures = body["reasons"][0]
        assert figures["source"] == "strategy"
        assert figures["progress"] == pytest.approx(value / 100)
        assert 0.45 < figures["expected_progress"] < 0.55


async def test_not_started_is_on_track_and_nothing_to_judge_is_unknown(platform: Platform) -> None:
    early = await objective(platform, period=future_period())
    await key_result(platform, early["id"])
    body = await view(platform, early["id"])
    assert (body["objective"]["pace_status"], body["verdict"], body["reasons"]) == ("not_started", "on_track", [])
    empty = await objective(platform)
    body = await view(platform, empty["id"])
    assert body["objective"]["pace_status"] == "no_data"
    assert (body["verdict"], body["reasons"]) == ("unknown", [])


@pytest.mark.parametrize(
    ("target", "values", "at", "verdict", "reason"),
    [
        (95.0, (50.0,), None, "at_risk", "kpi_red"),
        (95.0, (), None, "at_risk", "kpi_no_data"),
        (95.0, (99.0,), "stale", "at_risk", "kpi_stale"),
        (95.0, (88.0,), None, "on_track", "kpi_amber"),
        (None, (50.0,), None, "on_track", "kpi_no_target"),
        (95.0, (99.0,), None, "on_track", None),
    ],
)
async def test_kpi_status_alone(
    platform: Platform,
    target: float | None,
    values: tuple[float, ...],
    at: str | None,
    verdict: str,
    reason: str | None,
) -> None:
    key = await kpi(platform, target=target, values=values, at=ago(days=6) if at else None)
    goal = await objective(platform, period=future_period())  # pace not_started: on track
    kr = await key_result(platform, goal["id"], kpi=key)
    body = await view(platform, goal["id"])
    assert body["verdict"] == verdict
    found = [r for r in body["reasons"] if r["code"].startswith("kpi_")]
    assert [r["code"] for r in found] == ([reason] if reason else [])
    if reason:
        assert found[0] | {"message": None} == {
            "code": reason,
            "source": "kpi",
            "message": None,
            "key_result_id": kr["id"],
            "kpi": key,
            "status": reason.removeprefix("kpi_"),
            "value": values[0] if values else None,
        }


async def test_a_red_kpi_without_an_open_initiative_adds_no_action_plan(platform: Platform) -> None:
    key = await kpi(platform, values=(10.0,))
    goal = await objective(platform, period=future_period())
    await key_result(platform, goal["id"], kpi=key)
    assert codes(await view(platform, goal["id"])) == ["kpi_red", "no_action_plan"]


async def test_an_open_initiative_on_the_kpi_answers_no_action_plan_and_an_overdue_one_is_reported(
    platform: Platform,
) -> None:
    key = await kpi(platform, values=(10.0,))
    goal = await objective(platform, period=future_period())
    measured = await key_result(platform, goal["id"], kpi=key)
    dates = {"start_date": days(-20), "due_date": days(10)}
    plan = await platform.post("/v1/initiatives", {"title": "Fix the line", "kpi": key, **dates})
    body = await view(platform, goal["id"])
    assert codes(body) == ["kpi_red"]  # an open initiative aims at the red KPI
    assert [i["id"] for i in body["initiatives"]] == [plan["id"]]
    late = await platform.post(
        "/v1/initiatives",
        {"title": "Retrain", "key_result_id": measured["id"], "start_date": days(-40), "due_date": days(-5)},
    )
    body = await view(platform, goal["id"])
    assert codes(body) == ["kpi_red", "initiative_overdue"]
    overdue = next(r for r in body["reasons"] if r["code"] == "initiative_overdue")
    assert (overdue["initiative_id"], overdue["source"]) == (late["id"], "strategy")
    assert body["verdict"] == "at_risk"  # neither note downgrades
    overview = (await platform.admin.get("/v1/alignment/overview", params={"active_on": days(20)})).json()
    assert overview["overdue_initiatives"] == 1
    [node] = [n for n in overview["objectives"] if n["id"] == goal["id"]]
    assert [r["code"] for r in node["reasons"]] == ["kpi_red", "initiative_overdue"]
    for made in (plan, late):  # no open initiative left: the red KPI has no action plan again
        cancelled = await platform.admin.patch(
            f"/v1/initiatives/{made['id']}", json={"status": "cancelled"}, headers={"If-Match": '"1"'}
        )
        assert cancelled.status_code == 200, cancelled.text
    body = await view(platform, goal["id"])
    assert (codes(body), body["initiatives"]) == (["kpi_red", "no_action_plan"], [])


async def test_a_kpi_deleted_since_it_was_linked_blinds_only_its_key_result(platform: Platform) -> None:
    gone = await kpi(platform)  # no measurements: deleting it deletes it
    red = await kpi(platform, values=(50.0,))
    goal = await objective(platform, period=future_period())
    first = await key_result(platform, goal["id"], kpi=gone)
    await key_result(platform, goal["id"], kpi=red)
    etag = (await platform.admin.get(f"/v1/kpis/{gone}")).headers["etag"]
    deleted = await platform.admin.delete(f"/v1/kpis/{gone}", headers={"If-Match": etag})
    assert deleted.status_code == 204, deleted.text
    body = await view(platform, goal["id"])
    assert (body["missing"], body["verdict"]) == ([], "at_risk")
    statuses = {kr["id"]: kr["kpi_status"] for kr in body["key_results"]}
    assert statuses[first["id"]] is None
    assert [r["kpi"] for r in body["reasons"] if r["code"] == "kpi_red"] == [red]


async def test_high_turnover_alone_carries_its_figures(platform: Platform) -> None:
    unit = await turnover_unit(platform)
    goal = await objective(platform, owner=unit["id"])
    body = await view(platform, goal["id"])
    assert body["verdict"] == "at_risk"
    [reason] = body["reasons"]
    assert reason["code"] == "high_turnover"
    assert reason["source"] == "talent"
    assert reason["turnover_rate"] == pytest.approx(1 / 4.5)
    assert reason["threshold"] == 0.15


async def test_skill_gap_alone_carries_the_missing_skills(platform: Platform) -> None:
    team, forecasting, _ = await short_of_skills(platform)
    goal = await objective(platform, owner=team["id"])
    body = await view(platform, goal["id"])
    assert body["verdict"] == "at_risk"
    [reason] = body["reasons"]
    assert reason | {"message": None} == {
        "code": "skill_gap",
        "source": "talent",
        "message": None,
        "skill_coverage": pytest.approx(0.6),
        "threshold": 0.8,
        "missing": [{"skill": forecasting, "level": 3, "missing": 2}],
    }
    assert "60%" in reason["message"]
    [shortfall] = body["owner"]["health"]["shortfalls"]
    assert (shortfall["skill"], shortfall["meeting"], len(shortfall["candidates"])) == (forecasting, 2, 1)


async def test_overconfidence_is_reported_without_downgrading(platform: Platform) -> None:
    goal = await objective(platform, period=future_period() | {"period_start": days(-30)})
    kr = await key_result(platform, goal["id"])
    for value, when in ((40.0, 20), (41.0, 10), (42.0, 1)):
        await check_in(platform, kr["id"], value, confidence=0.9, checked_at=ago(days=when))
    body = await view(platform, goal["id"])
    [aligned] = body["key_results"]
    assert aligned["forecast_progress"] < 0.7
    assert body["verdict"] == "on_track"  # 42 % of the way, 43 % of the period elapsed
    [reason] = body["reasons"]
    assert (reason["code"], reason["confidence"], reason["key_result_id"]) == ("overconfident", 0.9, kr["id"])
    assert reason["forecast_progress"] == aligned["forecast_progress"]


async def test_a_steady_team_is_on_track_and_an_owner_that_does_not_exist_is_said(platform: Platform) -> None:
    steady = await org_unit(platform)
    for _ in range(5):
        await person(platform, steady["id"])
    body = await view(platform, (await objective(platform, owner=steady["id"]))["id"])
    assert (body["verdict"], body["reasons"]) == ("on_track", [])  # the talent rule gives a verdict

    ghost = str(uuid.uuid4())
    body = await view(platform, (await objective(platform, owner=ghost))["id"])
    assert body["owner"] == {"org_unit_id": ghost, "exists": False, "health": None}
    assert body["verdict"] == "unknown"
    assert codes(body) == ["unknown_owner"]


async def test_the_worst_rule_wins(platform: Platform) -> None:
    unit = await turnover_unit(platform)
    key = await kpi(platform, values=(50.0,))
    goal = await objective(platform, owner=unit["id"])
    await key_result(platform, goal["id"], kpi=key, target=1000)  # 50 of 1000: 5 %, far behind
    body = await view(platform, goal["id"])
    assert body["verdict"] == "off_track"
    assert codes(body)[:3] == ["pace_off_track", "kpi_red", "high_turnover"]  # worst first


async def test_verdicts_do_not_roll_up_from_children(platform: Platform) -> None:
    parent = await objective(platform, level="department")
    own = await key_result(platform, parent["id"])
    await check_in(platform, own["id"], 100.0)
    child = await objective(platform, parent_id=parent["id"])
    await check_in(platform, (await key_result(platform, child["id"]))["id"], 0.0)
    assert (await view(platform, child["id"]))["verdict"] == "off_track"
    body = await view(platform, parent["id"])
    assert body["objective"]["progress"] == pytest.approx(0.5)  # the child counts in progress
    assert body["verdict"] == "on_track"  # not in the verdict


async def test_a_cancelled_objective_has_no_verdict(platform: Platform) -> None:
    goal = await objective(platform, status="cancelled")
    body = await view(platform, goal["id"])
    assert (body["verdict"], body["reasons"]) == (None, [])


# ---------------------------------------------------------------- degradation


async def _measured_objective(platform: Platform) -> dict[str, Any]:
    unit = await turnover_unit(platform)
    key = await kpi(platform, values=(50.0,))
    goal = await objective(platform, owner=unit["id"], period=future_period())
    await key_result(platform, goal["id"], kpi=key)
    return goal


async def test_with_the_kpi_service_stopped_the_view_says_so_and_judges_the_rest(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    await platform.stop("kpi")
    body = await view(platform, goal["id"])
    assert body["missing"] == [{"source": "kpi", "reason": "unavailable"}]
    assert body["partial"] is True
    assert body["key_results"][0]["kpi_status"] is None
    assert body["verdict"] == "at_risk"
    assert codes(body) == ["high_turnover"]


async def test_with_the_talent_service_stopped_the_view_says_so_and_judges_the_rest(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    await platform.stop("talent")
    body = await view(platform, goal["id"])
    assert body["missing"] == [{"source": "talent", "reason": "unavailable"}]
    assert body["partial"] is True
    assert body["owner"]["exists"] is None
    assert body["owner"]["health"] is None
    assert codes(body) == ["kpi_red", "no_action_plan"]


async def test_with_the_strategy_service_stopped_there_is_nothing_to_compose(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    await platform.stop("strategy")
    response = await platform.admin.get(f"/v1/alignment/objectives/{goal['id']}")
    assert response.status_code == 503
    assert response.json()["source"] == "strategy"
    assert "retry-after" in response.headers


async def test_a_slow_service_is_a_timeout_within_the_deadline(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    platform.slow("talent", DEADLINE * 3)
    started = time.monotonic()
    body = await view(platform, goal["id"])
    assert time.monotonic() - started < DEADLINE * 2
    assert body["missing"] == [{"source": "talent", "reason": "timeout"}]
    assert codes(body) == ["kpi_red", "no_action_plan"]


async def test_a_failing_service_is_a_part_missing_and_a_failing_strategy_a_503(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    platform.fail("talent", 500)
    body = await view(platform, goal["id"])
    assert body["missing"] == [{"source": "talent", "reason": "unavailable"}]
    platform.fail("talent", None)
    platform.fail("kpi", 200)  # an answer that is not the contract
    body = await view(platform, goal["id"])
    assert body["missing"] == [{"source": "kpi", "reason": "unavailable"}]
    platform.fail("kpi", None)
    platform.fail("strategy", 500)
    response = await platform.admin.get(f"/v1/alignment/objectives/{goal['id']}")
    assert (response.status_code, response.json()["source"]) == (503, "strategy")
    platform.fail("strategy", 200)
    response = await platform.admin.get("/v1/alignment/overview")
    assert (response.status_code, response.json()["source"]) == (503, "strategy")


async def test_a_slow_strategy_service_is_a_504_naming_it(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    platform.slow("strategy", DEADLINE * 3)
    started = time.monotonic()
    response = await platform.admin.get(f"/v1/alignment/objectives/{goal['id']}")
    assert time.monotonic() - started < DEADLINE * 2
    assert (response.status_code, response.json()["source"]) == (504, "strategy")


async def test_an_open_breaker_makes_no_call(database_url: str, admin_key: str, engine: AsyncEngine) -> None:
    settings = {"view_deadline_seconds": DEADLINE, "breaker_failures": 1, "breaker_reset_seconds": 60}
    async with running_platform(database_url, admin_key, engine, **settings) as platform:
        goal = await _measured_objective(platform)
        platform.slow("kpi", DEADLINE * 3, "/v1/kpi-statuses")  # the gateway's call, not the strategy service's
        body = await view(platform, goal["id"])
        assert body["missing"] == [{"source": "kpi", "reason": "timeout"}]  # the caller gave up: a failure
        platform.slow("kpi", 0)
        platform.reset_calls()
        body = await view(platform, goal["id"])
        assert body["missing"] == [{"source": "kpi", "reason": "unavailable"}]
        assert gateway_calls(platform) == {"strategy": 1, "kpi": 0, "talent": 1}
        ready = (await platform.admin.get("/readyz")).json()
        assert ready["dependencies"]["kpi"]["state"] == "open"


# ---------------------------------------------------------------- scopes


async def test_scopes_decide_which_parts_are_asked(platform: Platform) -> None:
    goal = await _measured_objective(platform)
    async with await platform.key("strategy:read", "kpi:read") as no_talent:
        platform.reset_calls()
        response = await no_talent.get(f"/v1/alignment/objectives/{goal['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["missing"] == [{"source": "talent", "reason": "forbidden"}]
    assert body["owner"]["health"] is None
    assert "high_turnover" not in codes(body)
    assert gateway_calls(platform)["talent"] == 0

    async with await platform.key("strategy:read") as strategy_only:
        body = (await strategy_only.get(f"/v1/alignment/objectives/{goal['id']}")).json()
    assert body["missing"] == [{"source": "kpi", "reason": "forbidden"}, {"source": "talent", "reason": "forbidden"}]
    assert body["key_results"][0]["kpi_status"] is None

    async with await platform.key("kpi:read", "talent:read") as no_strategy:
        for path in (f"/v1/alignment/objectives/{goal['id']}", "/v1/alignment/overview", "/v1/alignment/gaps",
                     f"/v1/alignment/org-units/{uuid.uuid4()}"):  # fmt: skip
            refused = await no_strategy.get(path)
            assert refused.status_code == 403, path
    async with platform.gateway.as_key(None) as anonymous:
        assert (await anonymous.get("/v1/alignment/overview")).status_code == 401
