"""Initiative effect (DESIGN §9) over HTTP against the real KPI service: the windows at their edges,
the effect's sign for each direction, small samples, the Welch p-value computed independently here,
one aggregates call for both windows, and what is refused."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from scipy import stats

from services.strategy_service.main import app
from shared.clients import KpiClient
from tests.kpi_service.helpers import create_kpi, push_ok, set_targets
from tests.servers import serve
from tests.shared.conftest import Recorder, client_settings, tokens
from tests.strategy_service.conftest import created, objective

TODAY = dt.datetime.now(dt.UTC).date()
DAY = dt.timedelta(days=1)

BEFORE = [10.0, 11.0, 9.5, 10.5, 10.0, 9.0, 11.5, 10.0, 10.5, 9.5]
AFTER = [12.0, 13.5, 12.5, 14.0, 13.0, 12.0, 13.5, 12.5, 14.5, 13.0]


def day(offset: int) -> dt.date:
    return TODAY + offset * DAY


async def push_days(kpi_client: httpx.AsyncClient, key: str, first: dt.date, values: Sequence[float]) -> None:
    """One value per day from ``first`` (at noon UTC: the organisation's calendar is UTC here)."""
    await push_ok(kpi_client, *((key, f"{first + i * DAY}T12:00:00Z", v) for i, v in enumerate(values)))


async def started(
    client: httpx.AsyncClient, kpi: str, start: dt.date, due: dt.date, done_on: dt.date | None = None
) -> dict[str, Any]:
    """An initiative on ``kpi``, in progress, or done on ``done_on``."""
    body = {"title": "Fix it", "kpi": kpi, "start_date": str(start), "due_date": str(due), "status": "in_progress"}
    made = await created(client, "/v1/initiatives", body)
    if done_on is not None:
        done = await client.patch(
            f"/v1/initiatives/{made['id']}",
            json={"status": "done", "done_on": str(done_on)},
            headers={"If-Match": '"1"'},
        )
        assert done.status_code == 200, done.text
    return made


async def effect_of(client: httpx.AsyncClient, made: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/v1/initiatives/{made['id']}/effect")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def welch(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided Welch t-test computed from its formula: t, Welch-Satterthwaite df, Student's t tail."""
    va, vb = statistics.variance(after) / len(after), statistics.variance(before) / len(before)
    t = (statistics.fmean(after) - statistics.fmean(before)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(after) - 1) + vb**2 / (len(before) - 1))
    return float(2 * stats.t.sf(abs(t), df))


async def test_done_initiative_compares_the_w_days_before_the_start_with_the_w_days_after_done(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, kpi_service: Recorder
) -> None:
    kpi = await create_kpi(kpi_client, direction="increase", aggregation="avg")
    # due - start + 1 = 10 days: before = [start - 10, start - 1], after = [done + 1, done + 10].
    start, due, done = day(-40), day(-31), day(-30)
    await push_days(kpi_client, kpi["key"], day(-50), BEFORE)
    await push_days(kpi_client, kpi["key"], day(-29), AFTER)
    # Just outside each window, values that would change everything if they counted.
    await push_ok(
        kpi_client,
        *((kpi["key"], f"{d}T12:00:00Z", 1000.0) for d in (day(-51), day(-40), day(-30), day(-19))),
        (kpi["key"], f"{day(-50)}T08:00:00Z", 10.0),  # a second point on a day: the day's avg is its value
    )
    made = await started(strategy_client, kpi["key"], start, due, done)
    kpi_service.requests.clear()
    effect = await effect_of(strategy_client, made)
    assert [r.url.path for r in kpi_service.requests] == [f"/v1/kpis/{kpi['key']}", "/v1/kpi-aggregates"]
    assert effect["window_days"] == 10
    assert effect["before"] == {"from": str(day(-50)), "to": str(day(-41)), "days": 10, "mean": pytest.approx(10.15)}
    assert effect["after"] == {"from": str(day(-29)), "to": str(day(-20)), "days": 10, "mean": pytest.approx(13.05)}
    assert effect["effect"] == pytest.approx(13.05 - 10.15)
    assert effect["relative_effect"] == pytest.approx((13.05 - 10.15) / 10.15)
    assert effect["p_value"] == pytest.approx(welch(BEFORE, AFTER), rel=1e-9)
    assert effect["p_value"] == pytest.approx(stats.ttest_ind(BEFORE, AFTER, equal_var=False).pvalue, rel=1e-9)
    assert effect["p_value"] < 0.05
    assert (effect["verdict"], effect["direction"], effect["kpi"], effect["status"]) == (
        "improved", "increase", kpi["key"], "done",
    )  # fmt: skip


async def test_a_decrease_kpi_moving_up_has_worsened_and_moving_down_improved(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    up = await create_kpi(kpi_client, direction="decrease")
    await push_days(kpi_client, up["key"], day(-50), BEFORE)
    await push_days(kpi_client, up["key"], day(-29), AFTER)
    worse = await effect_of(strategy_client, await started(strategy_client, up["key"], day(-40), day(-31), day(-30)))
    assert (worse["effect"] > 0, worse["verdict"]) == (True, "worsened")
    down = await create_kpi(kpi_client, direction="decrease")
    await push_days(kpi_client, down["key"], day(-50), AFTER)
    await push_days(kpi_client, down["key"], day(-29), BEFORE)
    better = await effect_of(strategy_client, await started(strategy_client, down["key"], day(-40), day(-31), day(-30)))
    assert better["effect"] == pytest.approx(10.15 - 13.05)
    assert better["verdict"] == "improved"


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ([v + 30 for v in BEFORE], [v + 40 for v in AFTER], "improved"),  # ~40 → ~53: up into the band
        ([v + 60 for v in BEFORE], [v + 40 for v in BEFORE], "improved"),  # ~70 → ~50: down into the band
        ([v + 60 for v in BEFORE], [v + 70 for v in AFTER], "worsened"),  # ~70 → ~83: further above it
        ([v + 45 for v in BEFORE], [v + 50 for v in AFTER], "inconclusive"),  # in the band already
    ],
)
async def test_a_target_range_kpi_improves_toward_its_band(
    strategy_client: httpx.AsyncClient,
    kpi_client: httpx.AsyncClient,
    before: list[float],
    after: list[float],
    verdict: str,
) -> None:
    kpi = await create_kpi(kpi_client, direction="target_range")
    await set_targets(kpi_client, kpi["key"], {"period_start": str(day(-400)), "period_end": str(day(400)),
                                               "min": 50, "max": 60})  # fmt: skip
    await push_days(kpi_client, kpi["key"], day(-50), before)
    await push_days(kpi_client, kpi["key"], day(-29), after)
    effect = await effect_of(strategy_client, await started(strategy_client, kpi["key"], day(-40), day(-31), day(-30)))
    assert (effect["band_min"], effect["band_max"], effect["direction"]) == (50, 60, "target_range")
    assert effect["p_value"] < 0.05
    assert effect["verdict"] == verdict


async def test_a_target_range_kpi_without_a_band_is_inconclusive(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client, direction="target_range")
    await push_days(kpi_client, kpi["key"], day(-50), BEFORE)
    await push_days(kpi_client, kpi["key"], day(-29), AFTER)
    effect = await effect_of(strategy_client, await started(strategy_client, kpi["key"], day(-40), day(-31), day(-30)))
    assert (effect["band_min"], effect["band_max"], effect["verdict"]) == (None, None, "inconclusive")
    assert effect["p_value"] < 0.05


@pytest.mark.parametrize(
    ("start", "due", "days"),
    [(-100, -100, 7), (-100, -95, 7), (-100, -93, 8), (-300, -211, 90), (-300, -100, 90)],
)
async def test_the_window_is_clamped_to_7_and_90_days_and_holds_its_edge_days(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient, start: int, due: int, days: int
) -> None:
    kpi = await create_kpi(kpi_client)
    first_before, last_before = day(start - days), day(start - 1)
    first_after, last_after = day(due + 1), day(due + days)  # done on its due day
    edges = [first_before, last_before, first_after, last_after]
    outside = [first_before - DAY, day(start), day(due), last_after + DAY]
    await push_ok(
        kpi_client,
        *((kpi["key"], f"{d}T00:00:00Z", 5.0 + i) for i, d in enumerate(edges)),  # each day's first instant
        *((kpi["key"], f"{d}T23:59:59Z", 1000.0) for d in outside),  # and the last instant of its neighbour
    )
    effect = await effect_of(
        strategy_client, await started(strategy_client, kpi["key"], day(start), day(due), day(due))
    )
    assert effect["window_days"] == days
    assert effect["before"] == {"from": str(first_before), "to": str(last_before), "days": 2, "mean": 5.5}
    assert effect["after"] == {"from": str(first_after), "to": str(last_after), "days": 2, "mean": 7.5}
    assert (effect["effect"], effect["relative_effect"]) == (2.0, 2.0 / 5.5)
    assert effect["verdict"] == "inconclusive"  # two days a side


async def test_the_after_window_is_cut_at_today_and_fewer_than_five_days_is_inconclusive(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    await push_days(kpi_client, kpi["key"], day(-20), BEFORE)  # days -20..-11, before = [-20, -11]
    await push_days(kpi_client, kpi["key"], day(-4), [50.0, 51.0, 52.0, 50.5, 51.5])  # -4..0
    made = await started(strategy_client, kpi["key"], day(-10), day(-1), day(-4))  # w = 10
    effect = await effect_of(strategy_client, made)
    assert effect["after"] == {"from": str(day(-3)), "to": str(TODAY), "days": 4, "mean": pytest.approx(51.25)}
    assert effect["p_value"] < 0.05
    assert effect["verdict"] == "inconclusive"  # a huge, significant jump on 4 days only
    today_done = await started(strategy_client, kpi["key"], day(-10), day(-1), TODAY)
    empty = await effect_of(strategy_client, today_done)
    assert empty["after"] == {"from": str(day(1)), "to": str(TODAY), "days": 0, "mean": None}
    assert (empty["effect"], empty["relative_effect"], empty["p_value"], empty["verdict"]) == (
        None, None, None, "inconclusive",
    )  # fmt: skip


async def test_in_progress_compares_before_the_start_with_the_start_to_today(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client, direction="decrease")
    # start -6, due +20: w = 27, before = [-33, -7], after = [-6, 0] (7 days, today included).
    await push_days(kpi_client, kpi["key"], day(-16), BEFORE)  # -16..-7
    after = [7.0, 6.5, 7.5, 6.0, 7.0, 6.5, 6.0]
    await push_days(kpi_client, kpi["key"], day(-6), after)  # -6..0
    effect = await effect_of(strategy_client, await started(strategy_client, kpi["key"], day(-6), day(20)))
    assert effect["window_days"] == 27
    assert effect["before"] == {"from": str(day(-33)), "to": str(day(-7)), "days": 10, "mean": pytest.approx(10.15)}
    assert effect["after"] == {"from": str(day(-6)), "to": str(TODAY), "days": 7, "mean": pytest.approx(46.5 / 7)}
    assert effect["p_value"] == pytest.approx(welch(BEFORE, after), rel=1e-9)
    assert (effect["status"], effect["verdict"]) == ("in_progress", "improved")


async def test_only_started_initiatives_aimed_at_a_kpi_have_an_effect(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    kpi = await create_kpi(kpi_client)
    body = {"title": "x", "start_date": str(day(-5)), "due_date": str(day(5))}
    planned = await created(strategy_client, "/v1/initiatives", body | {"kpi": kpi["key"]})
    response = await strategy_client.get(f"/v1/initiatives/{planned['id']}/effect")
    assert (response.status_code, "not started" in response.json()["detail"]) == (409, True)
    await strategy_client.patch(
        f"/v1/initiatives/{planned['id']}", json={"status": "cancelled"}, headers={"If-Match": '"1"'}
    )
    response = await strategy_client.get(f"/v1/initiatives/{planned['id']}/effect")
    assert (response.status_code, "cancelled" in response.json()["detail"]) == (409, True)
    goal = await objective(strategy_client)
    aimless = await created(
        strategy_client, "/v1/initiatives", body | {"objective_id": goal["id"], "status": "in_progress"}
    )
    response = await strategy_client.get(f"/v1/initiatives/{aimless['id']}/effect")
    assert (response.status_code, "no KPI" in response.json()["detail"]) == (409, True)
    assert response.headers["content-type"].startswith("application/problem+json")
    unknown = await strategy_client.get("/v1/initiatives/00000000-0000-0000-0000-000000000000/effect")
    assert unknown.status_code == 404


async def test_the_kpi_service_down_is_a_503_naming_it(
    strategy_client: httpx.AsyncClient, kpi_client: httpx.AsyncClient
) -> None:
    from services.kpi_service.main import app as kpi_app

    kpi = await create_kpi(kpi_client)
    made = await started(strategy_client, kpi["key"], day(-5), day(5))
    fallback = app.state.kpi_client
    try:
        async with serve(kpi_app) as url:
            app.state.kpi_client = KpiClient.create(client_settings(), tokens("kpi:read"), base_url=url)
            assert (await strategy_client.get(f"/v1/initiatives/{made['id']}/effect")).status_code == 200
        down = await strategy_client.get(f"/v1/initiatives/{made['id']}/effect")
        assert down.status_code == 503, down.text
        assert (down.json()["source"], "Retry-After" in down.headers) == ("kpi", True)
    finally:
        await app.state.kpi_client.aclose()
        app.state.kpi_client = fallback
