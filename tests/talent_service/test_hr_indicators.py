"""§9's workforce indicators on hand-built cases, through the route."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, hire, move, unit

Q1 = {"from": "2026-01-01", "to": "2026-03-31"}


@pytest.fixture
async def org(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    co = await unit(talent_client, "co", "company")
    ops = await unit(talent_client, "ops", "department", co)
    t1 = await unit(talent_client, "t1", "team", ops)
    t2 = await unit(talent_client, "t2", "team", ops)
    sales = await unit(talent_client, "sales", "department", co)
    return {"co": co, "ops": ops, "t1": t1, "t2": t2, "sales": sales}


async def indicators(client: httpx.AsyncClient, org_unit: str, period: dict[str, str] = Q1) -> dict[str, Any]:
    response = await client.get("/v1/hr-indicators", params={"org_unit": org_unit, **period})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def leave(client: httpx.AsyncClient, person: dict[str, Any], on: str, reason: str = "voluntary") -> None:
    response = await client.patch(
        f"/v1/people/{person['id']}", json={"end_date": on, "separation_reason": reason}, headers={"If-Match": "*"}
    )
    assert response.status_code == 200, response.text


def flows(figures: dict[str, Any]) -> tuple[int, ...]:
    names = ("headcount_start", "hires", "transfers_in", "separations", "transfers_out", "headcount_end")
    return tuple(figures[n] for n in names)


async def test_hire_and_leave_on_the_same_day(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    person = await hire(talent_client, "p", org["t1"], hire="2026-02-03")
    await leave(talent_client, person, "2026-02-03")
    figures = await indicators(talent_client, "t1")
    assert flows(figures) == (0, 1, 0, 1, 0, 0)
    assert figures["voluntary_separations"] == 1
    assert figures["turnover_rate"] is None  # average headcount 0
    assert figures["retention_rate"] is None


async def test_hire_on_the_first_day_and_leave_on_the_last(
    talent_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    person = await hire(talent_client, "p", org["t1"], hire="2026-01-01")
    await leave(talent_client, person, "2026-03-31", "involuntary")
    stays = await hire(talent_client, "q", org["t1"], hire="2025-06-01")
    figures = await indicators(talent_client, "co")
    assert flows(figures) == (1, 1, 0, 1, 0, 1)
    assert (figures["voluntary_separations"], figures["turnover_rate"], figures["retention_rate"]) == (0, 1.0, 1.0)
    # gone at the close of their last day: not in the next period's opening
    april = await indicators(talent_client, "co", {"from": "2026-04-01", "to": "2026-04-30"})
    assert april["headcount_start"] == 1
    assert stays["org_unit_id"] == org["t1"]["id"]


async def test_a_move_on_the_first_day_and_one_on_the_end_date(
    talent_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    first = await hire(talent_client, "a", org["sales"], hire="2025-01-01")
    await move(talent_client, first, org["t1"], "2026-01-01")  # on day one: a transfer in, not in the opening
    last = await hire(talent_client, "b", org["t1"], hire="2025-01-01")
    await move(talent_client, last, org["sales"], "2026-03-31")
    await leave(talent_client, last, "2026-03-31")  # moved on the end date: leaves from sales
    t1 = await indicators(talent_client, "t1")
    assert flows(t1) == (1, 0, 1, 0, 1, 1)
    sales = await indicators(talent_client, "sales")
    assert flows(sales) == (1, 0, 1, 1, 1, 0)


async def test_moves_inside_a_department(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    person = await hire(talent_client, "p", org["t1"], hire="2025-05-01")
    await move(talent_client, person, org["t2"], "2026-01-15")
    ops, t1, t2 = [await indicators(talent_client, u) for u in ("ops", "t1", "t2")]
    assert (ops["internal_moves"], ops["transfers_in"], ops["transfers_out"]) == (1, 0, 0)
    assert ops["internal_mobility_rate"] == 1.0
    assert (t1["transfers_out"], t1["internal_moves"], t1["headcount_end"]) == (1, 1, 0)
    assert (t2["transfers_in"], t2["internal_moves"], t2["headcount_end"]) == (1, 0, 1)


async def test_a_person_moving_out_and_back(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    person = await hire(talent_client, "p", org["t1"], hire="2025-05-01")
    await move(talent_client, person, org["sales"], "2026-02-01")
    await move(talent_client, person, org["t1"], "2026-03-01")
    ops = await indicators(talent_client, "ops")
    assert flows(ops) == (1, 0, 1, 0, 1, 1)
    assert (ops["retention_rate"], ops["internal_moves"]) == (1.0, 1)


@pytest.mark.usefixtures("org")
async def test_an_empty_unit_gives_nulls_not_errors(talent_client: httpx.AsyncClient) -> None:
    figures = await indicators(talent_client, "sales")
    assert flows(figures) == (0, 0, 0, 0, 0, 0)
    for rate in ("turnover_rate", "voluntary_turnover_rate", "retention_rate", "internal_mobility_rate"):
        assert figures[rate] is None
    for later in ("training_completion_rate", "training_effectiveness", "skill_coverage", "engagement"):
        assert figures[later] is None
    assert figures["salary_evolution"] == {"people": 0, "mean_change": None, "median_change": None, "suppressed": True}
    assert (figures["org_unit_key"], figures["from"], figures["to"]) == ("sales", "2026-01-01", "2026-03-31")


async def test_a_period_reaching_past_today_is_cut_at_today(
    talent_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    today = dt.date.today()
    await hire(talent_client, "p", org["t1"], hire=(today + dt.timedelta(days=1)).isoformat())
    period = {"from": (today - dt.timedelta(days=10)).isoformat(), "to": (today + dt.timedelta(days=60)).isoformat()}
    figures = await indicators(talent_client, "t1", period)
    assert figures["to"] == today.isoformat()
    assert figures["hires"] == 0  # tomorrow's hire is not in the period yet


@pytest.mark.parametrize(("people", "shown"), [(4, False), (5, True)])
async def test_salary_evolution_shows_from_five_people_over_whole_quarters(
    talent_client: httpx.AsyncClient, org: dict[str, Any], people: int, shown: bool
) -> None:
    for index in range(people):
        person = await hire(
            talent_client, f"p{index}", org["t1"], hire="2025-01-01", salary={"amount": 1000, "currency": "EUR"}
        )
        raise_by = {"effective_date": "2026-02-01", "amount": 1000 + 100 * (index + 1), "currency": "EUR"}
        created = await talent_client.post(f"/v1/people/{person['id']}/salaries", json=raise_by)
        assert created.status_code == 201
    figures = (await indicators(talent_client, "t1"))["salary_evolution"]
    assert figures["people"] == people
    assert figures["suppressed"] is not shown
    if shown:
        assert figures["mean_change"] == pytest.approx(0.3)
        assert figures["median_change"] == pytest.approx(0.3)
    else:
        assert (figures["mean_change"], figures["median_change"]) == (None, None)
    not_quarters = await indicators(talent_client, "t1", {"from": "2026-01-01", "to": "2026-03-30"})
    assert not_quarters["salary_evolution"]["suppressed"] is True
    reader = await talent_client.get("/v1/hr-indicators", params={"org_unit": "t1", **Q1}, headers=READER)
    assert reader.json()["salary_evolution"] == figures


async def test_the_series_gives_one_item_per_bucket(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    person = await hire(talent_client, "p", org["t1"], hire="2026-02-10")
    await leave(talent_client, person, "2026-05-20")
    response = await talent_client.get(
        "/v1/hr-indicators/series", params={"org_unit": "ops", "from": "2026-01-15", "to": "2026-06-30"}
    )
    items = response.json()["items"]
    assert [(i["from"], i["to"]) for i in items][:2] == [("2026-01-15", "2026-01-31"), ("2026-02-01", "2026-02-28")]
    assert len(items) == 6
    assert [i["hires"] for i in items] == [0, 1, 0, 0, 0, 0]
    assert [i["separations"] for i in items] == [0, 0, 0, 0, 1, 0]
    quarters = await talent_client.get(
        "/v1/hr-indicators/series",
        params={"org_unit": "ops", "from": "2026-01-01", "to": "2026-06-30", "bucket": "quarter"},
    )
    assert [(i["hires"], i["separations"]) for i in quarters.json()["items"]] == [(1, 0), (0, 1)]


@pytest.mark.usefixtures("org")
async def test_bad_questions_are_refused(talent_client: httpx.AsyncClient) -> None:
    unknown = await talent_client.get("/v1/hr-indicators", params={"org_unit": "nowhere", **Q1})
    assert unknown.status_code == 404
    reversed_ = await talent_client.get(
        "/v1/hr-indicators", params={"org_unit": "co", "from": "2026-02-01", "to": "2026-01-01"}
    )
    assert reversed_.status_code == 422
    ahead = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    future = await talent_client.get("/v1/hr-indicators", params={"org_unit": "co", "from": ahead, "to": ahead})
    assert future.status_code == 422
    missing = await talent_client.get("/v1/hr-indicators", params={"org_unit": "co"})
    assert missing.status_code == 422
    too_long = await talent_client.get(
        "/v1/hr-indicators/series", params={"org_unit": "co", "from": "1900-01-01", "to": "2026-01-01"}
    )
    assert too_long.status_code == 422


async def test_salary_evolution_is_suppressed_by_difference(
    talent_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    for team, count in (("t1", 6), ("t2", 4)):
        for index in range(count):
            person = await hire(
                talent_client,
                f"{team}-{index}",
                org[team],
                hire="2025-01-01",
                salary={"amount": 1000, "currency": "EUR"},
            )
            raised = {"effective_date": "2026-02-01", "amount": 1100, "currency": "EUR"}
            assert (await talent_client.post(f"/v1/people/{person['id']}/salaries", json=raised)).status_code == 201
    ops, t1, t2 = [(await indicators(talent_client, u))["salary_evolution"] for u in ("ops", "t1", "t2")]
    assert (ops["people"], ops["suppressed"], ops["mean_change"]) == (10, False, pytest.approx(0.1))
    assert (t2["people"], t2["suppressed"]) == (4, True)
    # t1 alone holds 6, but showing it would give t2's figure away by subtraction from ops'
    assert (t1["people"], t1["suppressed"], t1["mean_change"]) == (6, True, None)
    series = await talent_client.get(
        "/v1/hr-indicators/series",
        params={"org_unit": "t1", "from": "2026-01-01", "to": "2026-06-30", "bucket": "quarter"},
    )
    assert series.json()["items"][0]["salary_evolution"]["suppressed"] is True
