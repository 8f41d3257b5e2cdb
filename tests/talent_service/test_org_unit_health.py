"""GET /v1/org-unit-health: many units in one call, the figures the alignment views read, and the
TalentClient speaking it over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from services.talent_service.config import get_settings
from shared.clients import TalentClient
from shared.contracts.talent import OrgUnitHealth
from tests.servers import serve
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.talent_service.helpers import as_scopes, hire, unit
from tests.talent_service.test_skill_gaps import require
from tests.talent_service.test_skills import assess, skill

TODAY = get_settings().today()


def day(offset: int) -> str:
    return str(TODAY + dt.timedelta(days=offset))


@pytest.fixture
async def org(talent_client: httpx.AsyncClient) -> dict[str, Any]:
    co = await unit(talent_client, "co", "company")
    eng = await unit(talent_client, "eng", "department", co)
    api = await unit(talent_client, "api", "team", eng)
    sales = await unit(talent_client, "sales", "department", co)
    await skill(talent_client, "sql")
    people = {}
    for number, where in [("a1", api), ("a2", api), ("e1", eng), ("s1", sales), ("s2", sales)]:
        people[number] = await hire(talent_client, number, where, hire=day(-800))
    # one voluntary leaver in the last 365 days, one before it
    await hire(talent_client, "gone", api, hire=day(-800), end_date=day(-10), separation_reason="voluntary")
    await hire(talent_client, "old", api, hire=day(-800), end_date=day(-400), separation_reason="voluntary")
    for number, level in [("a1", 4), ("a2", 1), ("s1", 3), ("s2", 5)]:
        assert (await assess(talent_client, people[number], "sql", level, day(-30))).status_code == 201
    assert (await require(talent_client, "api", ("sql", 3, 2))).status_code == 200
    assert (await require(talent_client, "eng", ("sql", 1, 2))).status_code == 200
    return {"co": co, "eng": eng, "api": api, "sales": sales, **people}


async def test_many_units_at_once(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    response = await talent_client.get(
        "/v1/org-unit-health",
        params=[
            ("org_unit", "api"),
            ("org_unit", org["sales"]["id"]),
            ("org_unit", "nope"),
            ("org_unit", "api"),
            ("org_unit", org["api"]["id"].upper()),  # the same unit by its id: answered once
        ],
        headers=as_scopes("talent:read"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["unknown"] == ["nope"]
    api, sales = (OrgUnitHealth.model_validate(i) for i in body["items"])
    assert (api.org_unit_key, api.on, api.headcount) == ("api", TODAY, 2)
    # opening balance 3 (a1, a2, gone), closing 2: average 2.5, one separation
    assert (api.average_headcount, api.separations) == (2.5, 1)
    assert api.turnover_rate == pytest.approx(1 / 2.5)
    assert api.voluntary_turnover_rate == pytest.approx(1 / 2.5)
    assert (api.skill_coverage, api.open_gaps) == (0.5, 1)
    [shortfall] = api.shortfalls
    assert (shortfall.skill, shortfall.required, shortfall.meeting, shortfall.missing) == ("sql", 2, 1, 1)
    assert [str(c.person_id) for c in shortfall.candidates] == [org["s2"]["id"], org["s1"]["id"]]
    assert (api.enps, api.enps_survey, api.enps_suppressed) == (None, None, False)
    assert (sales.headcount, sales.separations, sales.turnover_rate, sales.skill_coverage) == (2, 0, 0.0, None)
    assert sales.shortfalls == []

    # the same figures as the HR indicators of the last 365 days
    year = {"org_unit": "api", "from": day(-364), "to": day(0)}
    indicators = (await talent_client.get("/v1/hr-indicators", params=year)).json()
    assert (indicators["headcount_end"], indicators["average_headcount"]) == (api.headcount, api.average_headcount)
    assert (indicators["turnover_rate"], indicators["skill_coverage"]) == (api.turnover_rate, api.skill_coverage)

    eng = (await talent_client.get("/v1/org-unit-health", params={"org_unit": "eng"})).json()["items"][0]
    # api's requirement (1 of 2) and eng's own (a1, a2 at level ≥ 1: 2 of 2)
    assert (eng["headcount"], eng["skill_coverage"], eng["open_gaps"]) == (3, 0.75, 1)


async def test_health_errors(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    assert (await talent_client.get("/v1/org-unit-health")).status_code == 422
    many = {"org_unit": [f"u{i}" for i in range(501)]}
    assert (await talent_client.get("/v1/org-unit-health", params=many)).status_code == 422
    forbidden = await talent_client.get(
        "/v1/org-unit-health", params={"org_unit": "api"}, headers=as_scopes("kpi:read")
    )
    assert forbidden.status_code == 403
    unknown = (await talent_client.get("/v1/org-unit-health", params={"org_unit": "nope"})).json()
    assert unknown == {"items": [], "unknown": ["nope"]}
    assert org


async def test_the_client_asks_once_per_hundred_units(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    from services.talent_service.main import app  # bound to the test's transaction by talent_client

    recorder = Recorder(app)
    async with serve(recorder) as url:
        client = TalentClient.create(client_settings(), tokens("talent:read", key_id="gateway"), base_url=url)
        async with client:
            health = await client.org_unit_health([org["api"]["id"], "sales", *(f"x{i}" for i in range(120))])
            assert [h.org_unit_key for h in health.items] == ["api", "sales"]
            assert len(health.unknown) == 120
            assert len(recorder.requests) == 2
            assert (await client.org_unit_health([])).items == []
    assert talent_client is not None
