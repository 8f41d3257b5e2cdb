"""Engagement in the HR indicators (the latest survey whose period ends in the range, suppressed as
its results are) and the latest eNPS of many units at once (the latest survey that has ended, with
no fall-back to an older one)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.engagement.service import LatestEnps, latest_enps
from tests.talent_service.engagement.helpers import answer, results, survey
from tests.talent_service.helpers import unit

Units = dict[str, dict[str, Any]]
Q1 = {"from": "2026-01-01", "to": "2026-03-31"}


@pytest.fixture
async def units(talent_client: httpx.AsyncClient) -> Units:
    co = await unit(talent_client, "co", "company")
    ops = await unit(talent_client, "ops", "department", co)
    return {
        "co": co,
        "ops": ops,
        "t1": await unit(talent_client, "t1", "team", ops),
        "t2": await unit(talent_client, "t2", "team", ops),
        "sales": await unit(talent_client, "sales", "department", co),
    }


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


async def engagement(client: httpx.AsyncClient, unit_key: str, period: dict[str, str] = Q1) -> Any:
    response = await client.get("/v1/hr-indicators", params={"org_unit": unit_key, **period})
    assert response.status_code == 200, response.text
    return response.json()["engagement"]


async def test_null_when_no_survey_ends_in_the_period(talent_client: httpx.AsyncClient, units: Units) -> None:
    assert await engagement(talent_client, "co") is None
    await survey(talent_client, "spring", "2026-03-20", "2026-04-05")  # ends after the period
    await answer(talent_client, units["sales"], [10] * 5, survey_key="spring")
    assert await engagement(talent_client, "co") is None
    assert (await engagement(talent_client, "co", {"from": "2026-04-01", "to": "2026-06-30"}))["enps"] == 100.0


async def test_the_latest_survey_ending_in_the_period_over_the_subtree(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await survey(talent_client, "winter", "2026-01-10", "2026-02-15")
    await survey(talent_client, "march", "2026-03-01", "2026-03-15")
    await answer(talent_client, units["t1"], [0] * 6, survey_key="winter")
    await answer(talent_client, units["t1"], [9, 9, 10, 3], [5, 4, 3, 4], survey_key="march")
    await answer(talent_client, units["t2"], [10, 7, 8], [2, 2, 2], survey_key="march")
    await answer(talent_client, units["sales"], [0] * 7, survey_key="march")
    ops = await engagement(talent_client, "ops")
    assert ops == {
        "responses": 7,
        "enps": pytest.approx(100 * (4 - 1) / 7),
        "satisfaction": 22 / 7,
        "suppressed": False,
    }
    assert ops == {
        k: v for k, v in (await results(talent_client, units["ops"], survey_key="march")).items() if k in ops
    }
    assert await engagement(talent_client, "t1") == {
        "responses": 4,
        "enps": None,
        "satisfaction": None,
        "suppressed": True,
    }
    february = await engagement(talent_client, "ops", {"from": "2026-02-01", "to": "2026-02-28"})
    assert february == {"responses": 6, "enps": -100.0, "satisfaction": None, "suppressed": False}


async def test_ties_on_the_last_day_go_to_the_later_created_survey(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await survey(talent_client, "first", "2026-03-01", "2026-03-15")
    await survey(talent_client, "second", "2026-03-10", "2026-03-15")
    await answer(talent_client, units["sales"], [0] * 5, survey_key="first")
    await answer(talent_client, units["sales"], [10] * 5, survey_key="second")
    assert (await engagement(talent_client, "sales"))["enps"] == 100.0


async def test_suppressed_by_difference_as_in_the_results(talent_client: httpx.AsyncClient, units: Units) -> None:
    await survey(talent_client, "march", "2026-03-01", "2026-03-15")
    await answer(talent_client, units["t1"], [10] * 3, survey_key="march")
    await answer(talent_client, units["t2"], [10] * 20, survey_key="march")
    assert (await engagement(talent_client, "ops"))["suppressed"] is False
    t2 = await engagement(talent_client, "t2")
    assert t2 == {"responses": 20, "enps": None, "satisfaction": None, "suppressed": True}
    assert (await results(talent_client, units["t2"], survey_key="march"))["suppressed"] is True


async def test_each_bucket_of_a_series_takes_the_latest_survey_ending_in_it(
    talent_client: httpx.AsyncClient, units: Units
) -> None:
    await survey(talent_client, "early", "2026-02-01", "2026-02-10")
    await survey(talent_client, "late", "2026-02-11", "2026-02-20")
    await survey(talent_client, "march", "2026-03-01", "2026-03-31")
    for key, enps in (("early", 0), ("late", 10), ("march", 8)):
        await answer(talent_client, units["sales"], [enps] * 5, survey_key=key)
    response = await talent_client.get(
        "/v1/hr-indicators/series", params={"org_unit": "sales", "bucket": "month", **Q1}
    )
    assert [item["engagement"] and item["engagement"]["enps"] for item in response.json()["items"]] == [
        None,
        100.0,
        0.0,
    ]
    quarter = await talent_client.get(
        "/v1/hr-indicators/series", params={"org_unit": "sales", "bucket": "quarter", **Q1}
    )
    assert [item["engagement"]["enps"] for item in quarter.json()["items"]] == [0.0]


async def test_a_survey_ending_after_today_is_not_counted(talent_client: httpx.AsyncClient, units: Units) -> None:
    today = dt.datetime.now(dt.UTC).date()
    await survey(talent_client, "running", str(today - dt.timedelta(days=5)), str(today + dt.timedelta(days=1)))
    await answer(talent_client, units["sales"], [10] * 5, survey_key="running")
    period = {"from": str(today - dt.timedelta(days=30)), "to": str(today + dt.timedelta(days=30))}
    assert await engagement(talent_client, "sales", period) is None  # the period is cut at today


async def test_latest_enps_of_many_units_from_the_latest_ended_survey(
    talent_client: httpx.AsyncClient, units: Units, session: AsyncSession
) -> None:
    today = dt.date(2026, 6, 1)
    ids = [uuid.UUID(units[k]["id"]) for k in ("co", "ops", "t1", "t2", "sales")]
    assert await latest_enps(session, ids, today) == dict.fromkeys(ids, LatestEnps(None, None, suppressed=False))
    await survey(talent_client, "older", "2026-01-01", "2026-01-31")
    await survey(talent_client, "latest", "2026-05-01", "2026-05-31")
    await survey(talent_client, "running", "2026-05-15", "2026-06-01")  # ends today: not ended yet
    await answer(talent_client, units["sales"], [10] * 9, survey_key="older")
    await answer(talent_client, units["t1"], [9] * 5 + [0] * 5, survey_key="latest")
    await answer(talent_client, units["t2"], [10] * 2, survey_key="latest")
    await answer(talent_client, units["ops"], [10] * 15, survey_key="latest")
    await answer(talent_client, units["sales"], [0] * 20, survey_key="running")
    found = await latest_enps(session, ids, today)
    co, ops, t1, t2, sales = (found[i] for i in ids)
    assert (co.survey_key, co.suppressed) == ("latest", False)
    assert co.enps == pytest.approx(100 * (22 - 5) / 27)
    assert ops == co
    assert t1 == LatestEnps(
        "latest", None, suppressed=True
    )  # 10 responses, the smallest visible part: hidden to protect t2's 2
    assert t2 == LatestEnps("latest", None, suppressed=True)
    assert sales == LatestEnps("latest", None, suppressed=True)  # no fall-back to the older survey
    unknown = uuid.uuid4()
    assert (await latest_enps(session, [unknown], today))[unknown] == LatestEnps("latest", None, suppressed=True)
    later = await latest_enps(session, ids[-1:], today + dt.timedelta(days=1))
    assert later[ids[-1]] == LatestEnps("running", -100.0, suppressed=False)
