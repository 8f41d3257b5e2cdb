"""Key results and check-ins over HTTP, and the progress every read computes from them (DESIGN §9)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.auth import token
from tests.strategy_service.conftest import UseSettings, check_in, key_result, objective, refused


async def test_create_answers_201_with_etag_and_reads_progress(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)
    body = {"title": "Revenue", "kind": "increase", "unit": "k€", "start_value": 10, "target_value": 20, "weight": 3}
    response = await strategy_client.post(f"/v1/objectives/{parent['id']}/key-results", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/v1/key-results/{created['id']}"
    assert {k: created[k] for k in ("objective_id", "kind", "unit", "start_value", "target_value", "weight")} == {
        "objective_id": parent["id"], "kind": "increase", "unit": "k€", "start_value": 10.0, "target_value": 20.0,
        "weight": 3.0,
    }  # fmt: skip
    assert {k: created[k] for k in ("current_value", "current_source", "progress", "confidence", "forecast_value")} == {
        "current_value": None, "current_source": "none", "progress": 0.0, "confidence": None, "forecast_value": None,
    }  # fmt: skip
    read = await strategy_client.get(f"/v1/key-results/{created['id']}")
    assert read.json() == created
    assert read.headers["ETag"] == '"1"'
    # A key result without a value yet counts as 0: the objective now has a progress.
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == 0.0


@pytest.mark.parametrize(
    ("fields", "pointer", "code"),
    [
        ({"kind": "increase", "start_value": 5, "target_value": 5}, "/target_value", "start_equals_target"),
        ({"kind": "decrease", "start_value": 5, "target_value": 5}, "/target_value", "start_equals_target"),
        ({"kind": "increase", "start_value": 5, "target_value": 1}, "/target_value", "direction"),
        ({"kind": "decrease", "start_value": 1, "target_value": 5}, "/target_value", "direction"),
        ({"kind": "milestone", "start_value": 0, "target_value": 2}, "/target_value", "milestone_range"),
        ({"kind": "milestone", "start_value": 1, "target_value": 1}, "/start_value", "milestone_range"),
        ({"kind": "sideways"}, "/kind", None),
        ({"weight": -1}, "/weight", None),
        ({"kpi": "supply.otd"}, "/kpi", None),
    ],
)
async def test_start_target_and_kind_must_agree(
    strategy_client: httpx.AsyncClient, fields: dict[str, Any], pointer: str, code: str | None
) -> None:
    parent = await objective(strategy_client)
    body = {"title": "KR", "kind": "increase", "start_value": 0, "target_value": 1} | fields
    refused(await strategy_client.post(f"/v1/objectives/{parent['id']}/key-results", json=body), pointer, code)


async def test_stay_kinds_may_have_start_equal_to_target(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)
    made = await key_result(strategy_client, parent["id"], kind="stay_above", start_value=95, target_value=95)
    assert made["kind"] == "stay_above"


async def test_patch_and_archive_key_results(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)
    made = await key_result(strategy_client, parent["id"], start_value=0, target_value=100)
    await check_in(strategy_client, made["id"], value=50, checked_at="2025-06-01T00:00:00Z")
    path = f"/v1/key-results/{made['id']}"
    assert (await strategy_client.patch(path, json={"target_value": 200})).status_code == 428
    refused(
        await strategy_client.patch(path, json={"target_value": 0}, headers={"If-Match": '"1"'}),
        "/target_value",
        "start_equals_target",
    )
    refused(await strategy_client.patch(path, json={"kind": "decrease"}, headers={"If-Match": '"1"'}), "/kind")
    changed = await strategy_client.patch(path, json={"target_value": 200}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"'
    assert changed.json()["progress"] == 0.25  # read afresh with the new target
    assert (await strategy_client.patch(path, json={"title": "x"}, headers={"If-Match": '"1"'})).status_code == 412

    other = await key_result(strategy_client, parent["id"], start_value=0, target_value=10)
    await check_in(strategy_client, other["id"], value=10, checked_at="2025-06-01T00:00:00Z")
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == pytest.approx(0.625)
    archived = await strategy_client.delete(path, headers={"If-Match": '"2"'})
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == 1.0
    listed = await strategy_client.get(f"/v1/objectives/{parent['id']}/key-results")
    assert [k["id"] for k in listed.json()["items"]] == [other["id"]]
    late = await strategy_client.post(f"{path}/check-ins", json={"value": 1, "confidence": 0.5})
    assert late.status_code == 409


@pytest.mark.parametrize(
    ("kind", "start", "target", "value", "progress"),
    [
        ("increase", 10, 20, 10, 0.0),
        ("increase", 10, 20, 5, 0.0),  # below start: a move the wrong way is 0
        ("increase", 10, 20, 15, 0.5),
        ("increase", 10, 20, 20, 1.0),
        ("increase", 10, 20, 30, 1.0),  # beyond target: clamped
        ("decrease", 20, 10, 20, 0.0),
        ("decrease", 20, 10, 25, 0.0),
        ("decrease", 20, 10, 12.5, 0.75),
        ("decrease", 20, 10, 10, 1.0),
        ("decrease", 20, 10, 2, 1.0),
        ("stay_above", 0, 95, 95, 1.0),
        ("stay_above", 0, 95, 94.9, 0.0),
        ("stay_below", 0, 5, 5, 1.0),
        ("stay_below", 0, 5, 5.1, 0.0),
        ("milestone", 0, 1, 1, 1.0),
        ("milestone", 0, 1, 0, 0.0),
    ],
)
async def test_progress_of_each_kind(
    strategy_client: httpx.AsyncClient, kind: str, start: float, target: float, value: float, progress: float
) -> None:
    parent = await objective(strategy_client)
    made = await key_result(strategy_client, parent["id"], kind=kind, start_value=start, target_value=target)
    await check_in(strategy_client, made["id"], value=value, confidence=0.8, checked_at="2025-03-01T00:00:00Z")
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (read["current_value"], read["current_source"]) == (value, "check_in")
    assert read["progress"] == pytest.approx(progress)
    assert read["confidence"] == 0.8
    assert (await strategy_client.get(f"/v1/objectives/{parent['id']}")).json()["progress"] == pytest.approx(progress)


async def test_latest_check_in_is_by_time_then_creation(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)
    made = await key_result(strategy_client, parent["id"])
    await check_in(strategy_client, made["id"], value=70, confidence=0.9, checked_at="2025-05-01T00:00:00Z")
    await check_in(
        strategy_client, made["id"], value=40, confidence=0.3, checked_at="2025-02-01T00:00:00Z"
    )  # back-fill
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (read["current_value"], read["confidence"]) == (70, 0.9)
    await check_in(strategy_client, made["id"], value=60, confidence=0.6, checked_at="2025-05-01T00:00:00Z")  # a tie
    read = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (read["current_value"], read["confidence"]) == (60, 0.6)


async def test_forecast_on_exact_linear_data_equals_the_line(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)  # 2025, UTC: 365 days
    made = await key_result(strategy_client, parent["id"], start_value=0, target_value=200)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    for days, value in ((0, 0.0), (73, 20.0)):
        await check_in(strategy_client, made["id"], value=value, checked_at=(start + dt.timedelta(days)).isoformat())
    two = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert (two["forecast_value"], two["forecast_progress"]) == (None, None)  # fewer than 3 points
    await check_in(strategy_client, made["id"], value=40, checked_at=(start + dt.timedelta(146)).isoformat())
    three = (await strategy_client.get(f"/v1/key-results/{made['id']}")).json()
    assert three["forecast_value"] == pytest.approx(100.0)  # 20 per 73 days, at the end of day 365
    assert three["forecast_progress"] == pytest.approx(0.5)


def _progress_of(tree: dict[str, Any]) -> dict[str, Any]:
    return {tree["title"]: (tree["progress"], tree["pace_status"])} | {
        k: v for child in tree["children"] for k, v in _progress_of(child).items()
    }


async def test_roll_up_through_three_levels_by_weight(strategy_client: httpx.AsyncClient) -> None:
    client = strategy_client
    company = await objective(client, title="C")
    await check_in(client, (await key_result(client, company["id"]))["id"], value=50)
    d1 = await objective(client, title="D1", level="department", parent_id=company["id"], weight=2)
    await check_in(client, (await key_result(client, d1["id"]))["id"], value=100)
    dropped = await key_result(client, d1["id"])
    await client.delete(f"/v1/key-results/{dropped['id']}", headers={"If-Match": '"1"'})
    await objective(client, title="D2", level="department", parent_id=company["id"])  # nothing measurable
    t1 = await objective(client, title="T1", level="team", parent_id=d1["id"])
    await check_in(client, (await key_result(client, t1["id"]))["id"], value=25)
    t2 = await objective(client, title="T2", level="team", parent_id=d1["id"], status="cancelled")
    await check_in(client, (await key_result(client, t2["id"]))["id"], value=100)
    t3 = await objective(client, title="T3", level="team", parent_id=d1["id"])
    await check_in(client, (await key_result(client, t3["id"]))["id"], value=100)
    await client.delete(f"/v1/objectives/{t3['id']}", headers={"If-Match": '"1"'})

    d1_progress = (1.0 + 0.25) / 2
    company_progress = (0.5 * 1 + d1_progress * 2) / 3
    read = (await client.get(f"/v1/objectives/{company['id']}")).json()
    assert read["progress"] == pytest.approx(company_progress)
    assert read["pace_status"] == "off_track"  # 2025 is over: expected 1, gap -0.42

    response = await client.get(f"/v1/objectives/{company['id']}/tree")
    assert response.status_code == 200, response.text
    tree = response.json()
    assert [c["title"] for c in tree["children"]] == ["D1", "D2"]
    assert [c["title"] for c in tree["children"][0]["children"]] == ["T1", "T2"]  # archived T3 left out
    assert len(tree["children"][0]["key_results"]) == 1  # the archived key result too
    assert tree["children"][0]["children"][1]["key_results"][0]["progress"] == 1.0
    progress = _progress_of(tree)
    assert progress["C"] == (pytest.approx(company_progress), "off_track")
    assert progress["D1"] == (pytest.approx(d1_progress), "at_risk")
    assert progress["D2"] == (None, "no_data")
    assert progress["T1"] == (0.25, "off_track")
    assert progress["T2"] == (1.0, "achieved")
    listed = (await client.get("/v1/objectives", params={"parent_id": company["id"]})).json()["items"]
    assert [(o["title"], o["progress"]) for o in listed] == [("D1", pytest.approx(d1_progress)), ("D2", None)]


@pytest.mark.parametrize(
    ("value", "default", "tighter"),
    [
        (80, "on_track", "at_risk"),
        (60, "at_risk", "off_track"),
        (59, "off_track", "off_track"),
        (100, "achieved", "achieved"),
    ],
)
async def test_pace_thresholds_at_their_edges_and_configurable(
    strategy_client: httpx.AsyncClient, strategy_settings: UseSettings, value: float, default: str, tighter: str
) -> None:
    made = await objective(strategy_client)  # 2025: expected progress 1
    await check_in(strategy_client, (await key_result(strategy_client, made["id"]))["id"], value=value)
    assert (await strategy_client.get(f"/v1/objectives/{made['id']}")).json()["pace_status"] == default
    strategy_settings(pace_at_risk=-0.1, pace_off_track=-0.3)
    assert (await strategy_client.get(f"/v1/objectives/{made['id']}")).json()["pace_status"] == tighter


async def test_a_period_not_started_expects_nothing(strategy_client: httpx.AsyncClient) -> None:
    later = await objective(strategy_client, period_start="2030-01-01", period_end="2030-03-31")
    await key_result(strategy_client, later["id"])
    read = (await strategy_client.get(f"/v1/objectives/{later['id']}")).json()
    assert (read["expected_progress"], read["pace_status"], read["progress"]) == (0.0, "not_started", 0.0)


async def test_expected_progress_uses_the_organisations_time_zone(
    strategy_client: httpx.AsyncClient, strategy_settings: UseSettings
) -> None:
    strategy_settings(org_timezone="Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    today = dt.datetime.now(paris).date()
    first, last = today - dt.timedelta(days=2), today + dt.timedelta(days=1)
    made = await objective(strategy_client, period_start=str(first), period_end=str(last))
    start = dt.datetime(first.year, first.month, first.day, tzinfo=paris)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), paris)
    before = dt.datetime.now(dt.UTC)
    expected = (await strategy_client.get(f"/v1/objectives/{made['id']}")).json()["expected_progress"]
    after = dt.datetime.now(dt.UTC)
    assert (before - start) / (end - start) <= expected <= (after - start) / (end - start)


async def test_check_in_rules(strategy_client: httpx.AsyncClient, strategy_settings: UseSettings) -> None:
    strategy_settings(org_timezone="Europe/Paris")
    parent = await objective(strategy_client)  # from 2025-01-01 Paris = 2024-12-31T23:00Z
    made = await key_result(strategy_client, parent["id"])
    path = f"/v1/key-results/{made['id']}/check-ins"
    post = strategy_client.post
    refused(await post(path, json={"confidence": 0.5}), "/value", "missing")
    refused(await post(path, json={"value": 1}), "/confidence")
    refused(await post(path, json={"value": 1, "confidence": 1.01}), "/confidence")
    refused(await post(path, json={"value": 1, "confidence": -0.1}), "/confidence")
    refused(await post(path, json={"value": 1, "confidence": 0.5, "note": "x" * 2001}), "/note")
    refused(await post(path, json={"value": 1, "confidence": 0.5, "checked_at": "2025-02-01T00:00:00"}), "/checked_at")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    refused(await post(path, json={"value": 1, "confidence": 0.5, "checked_at": future}), "/checked_at", "future")
    early = {"value": 1, "confidence": 0.5, "checked_at": "2024-12-31T22:59:59Z"}
    refused(await post(path, json=early), "/checked_at", "before_period")
    first = await check_in(strategy_client, made["id"], value=1, checked_at="2024-12-31T23:00:00Z", note="x" * 2000)
    assert (first["author"], first["checked_at"]) == ("testkey01", "2024-12-31T23:00:00Z")
    now = await check_in(strategy_client, made["id"], value=2)
    assert abs(dt.datetime.fromisoformat(now["checked_at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    milestone = await key_result(strategy_client, parent["id"], kind="milestone", start_value=0, target_value=1)
    refused(
        await post(f"/v1/key-results/{milestone['id']}/check-ins", json={"value": 0.5, "confidence": 0.5}), "/value"
    )
    assert (await post(f"/v1/key-results/{made['id']}x/check-ins", json={})).status_code == 422
    unknown = await post(
        "/v1/key-results/00000000-0000-0000-0000-000000000000/check-ins", json={"value": 1, "confidence": 1}
    )
    assert unknown.status_code == 404


async def test_check_ins_are_idempotent_authored_and_listed_newest_first(strategy_client: httpx.AsyncClient) -> None:
    parent = await objective(strategy_client)
    made = await key_result(strategy_client, parent["id"])
    path = f"/v1/key-results/{made['id']}/check-ins"
    writer = {"X-Internal-Token": token("strategy", "strategy:write", key_id="author01")}
    for day in range(1, 6):
        body = {"value": day, "confidence": 0.5, "checked_at": f"2025-03-0{day}T12:00:00+01:00"}
        headers = writer | {"Idempotency-Key": f"ci-{day}"}
        first = await strategy_client.post(path, json=body, headers=headers)
        again = await strategy_client.post(path, json=body, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert first.json() == again.json()
        assert first.json()["author"] == "author01"
    values: list[float] = []
    cursor: str | None = None
    while True:
        page = (await strategy_client.get(path, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))).json()
        values += [c["value"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert values == [5, 4, 3, 2, 1]
    assert (await strategy_client.get(path, params={"cursor": "bad"})).status_code == 400
    assert (await strategy_client.put(path, json={})).status_code == 405  # append-only
