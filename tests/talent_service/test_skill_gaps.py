"""Required skills (the whole list, ETag/If-Match, pointers) and skill gaps with internal candidates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import READER, hire, move, pointers, unit
from tests.talent_service.test_skills import assess, skill


@pytest.fixture
async def org(talent_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    co = await unit(talent_client, "co", "company")
    eng = await unit(talent_client, "eng", "department", co)
    api = await unit(talent_client, "api", "team", eng)
    web = await unit(talent_client, "web", "team", eng)
    sales = await unit(talent_client, "sales", "department", co)
    for key in ("sql", "python", "css"):
        await skill(talent_client, key)
    return {"co": co, "eng": eng, "api": api, "web": web, "sales": sales}


async def require(
    client: httpx.AsyncClient, unit_key: str, *items: tuple[str, int, int], **headers: str
) -> httpx.Response:
    body = {"items": [{"skill": s, "level": level, "count": count} for s, level, count in items]}
    return await client.put(f"/v1/org-units/{unit_key}/required-skills", json=body, headers=headers)


async def test_the_list_is_replaced_whole_under_if_match(talent_client: httpx.AsyncClient, org: Any) -> None:
    empty = await talent_client.get("/v1/org-units/api/required-skills", headers=READER)
    assert (empty.status_code, empty.headers["etag"], empty.json()["items"]) == (200, '"0"', [])
    first = await require(talent_client, "api", ("sql", 3, 2), ("python", 2, 1))
    assert (first.status_code, first.headers["etag"]) == (200, '"1"')
    assert [(i["skill"], i["level"], i["count"]) for i in first.json()["items"]] == [("sql", 3, 2), ("python", 2, 1)]
    stale = await require(talent_client, "api", ("css", 1, 1), **{"If-Match": '"0"'})
    assert stale.status_code == 412
    second = await require(talent_client, org["api"]["id"], ("css", 1, 1), **{"If-Match": '"1"'})
    assert (second.status_code, second.headers["etag"]) == (200, '"2"')
    read = await talent_client.get("/v1/org-units/api/required-skills")
    assert [i["skill"] for i in read.json()["items"]] == ["css"]
    assert (
        await talent_client.get("/v1/org-units/api/required-skills", headers={"If-None-Match": '"2"'})
    ).status_code == 304
    cleared = await require(talent_client, "api")
    assert cleared.json()["items"] == []


@pytest.mark.usefixtures("org")
async def test_list_errors_name_their_item(talent_client: httpx.AsyncClient) -> None:
    duplicate = await require(talent_client, "api", ("sql", 3, 2), ("python", 2, 1), ("sql", 1, 1))
    assert duplicate.status_code == 422
    assert pointers(duplicate) == ["/items/2/skill"]
    unknown = await require(talent_client, "api", ("cobol", 3, 2))
    assert pointers(unknown) == ["/items/0/skill"]
    assert pointers(await require(talent_client, "api", ("sql", 0, 2))) == ["/items/0/level"]
    assert pointers(await require(talent_client, "api", ("sql", 6, 2))) == ["/items/0/level"]
    assert pointers(await require(talent_client, "api", ("sql", 3, 0))) == ["/items/0/count"]
    assert (await require(talent_client, "nowhere", ("sql", 3, 2))).status_code == 404
    assert (await talent_client.get("/v1/org-units/nowhere/required-skills")).status_code == 404
    read = await talent_client.get("/v1/org-units/api/required-skills")
    assert (read.json()["items"], read.headers["etag"]) == ([], '"0"')
    forbidden = await talent_client.put("/v1/org-units/api/required-skills", json={"items": []}, headers=READER)
    assert forbidden.status_code == 403


async def test_gaps_with_members_below_trainings_and_candidates(talent_client: httpx.AsyncClient, org: Any) -> None:
    a1 = await hire(talent_client, "a1", org["api"], hire="2024-01-01")
    a2 = await hire(talent_client, "a2", org["api"], hire="2024-01-01")
    w1 = await hire(talent_client, "w1", org["web"], hire="2024-01-01")
    s1 = await hire(talent_client, "s1", org["sales"], hire="2024-01-01")
    s2 = await hire(talent_client, "s2", org["sales"], hire="2024-01-01")
    gone = await hire(
        talent_client, "g", org["sales"], hire="2024-01-01", end_date="2025-06-30", separation_reason="other"
    )
    for person, level, on in [(a1, 4, "2025-01-10"), (a2, 2, "2025-01-10"), (w1, 3, "2025-01-10"),
                              (s1, 3, "2025-02-01"), (s2, 5, "2025-01-01"), (gone, 5, "2025-03-01")]:  # fmt: skip
        assert (await assess(talent_client, person, "sql", level, on)).status_code == 201
    assert (await require(talent_client, "api", ("sql", 3, 3))).status_code == 200
    assert (await require(talent_client, "eng", ("sql", 3, 1), ("css", 1, 1))).status_code == 200
    training = await talent_client.post("/v1/trainings", json={"key": "sql101", "name": "SQL 101", "skills": ["sql"]})
    assert training.status_code == 201, training.text

    gaps = await talent_client.get("/v1/org-units/eng/skill-gaps", params={"on": "2025-12-31"}, headers=READER)
    assert gaps.status_code == 200, gaps.text
    body = gaps.json()
    by = {(g["org_unit_key"], g["skill"]): g for g in body["items"]}
    api_sql = by[("api", "sql")]
    assert (api_sql["required"], api_sql["meeting"], api_sql["missing"]) == (3, 1, 2)
    assert [(m["person_id"], m["level"]) for m in api_sql["below"]] == [(a2["id"], 2)]
    assert [t["key"] for t in api_sql["trainings"]] == ["sql101"]
    # outside api's subtree, at level 3 or more, employed: s2 (5), then w1 and s1 (3; s1 assessed later)
    assert [c["person_id"] for c in api_sql["candidates"]] == [s2["id"], s1["id"], w1["id"]]
    assert api_sql["candidates"][0]["org_unit_id"] == org["sales"]["id"]
    eng_sql = by[("eng", "sql")]
    assert (eng_sql["meeting"], eng_sql["missing"]) == (1, 0)  # two members meet it: capped at 1
    assert [c["person_id"] for c in eng_sql["candidates"]] == [s2["id"], s1["id"]]
    eng_css = by[("eng", "css")]
    assert (eng_css["meeting"], eng_css["missing"], len(eng_css["below"])) == (0, 1, 3)
    assert [g["missing"] for g in body["items"]] == [2, 1, 0]  # most missing first
    assert body["skill_coverage"] == pytest.approx((1 + 1 + 0) / (3 + 1 + 1))

    earlier = (await talent_client.get("/v1/org-units/eng/skill-gaps", params={"on": "2025-01-05"})).json()
    assert {(g["org_unit_key"], g["skill"]): g["meeting"] for g in earlier["items"]}[("api", "sql")] == 0
    # gone was employed then (and had no assessment yet): only s2 is a candidate
    assert [
        c["person_id"]
        for c in {g["skill"]: g for g in earlier["items"] if g["org_unit_key"] == "api"}["sql"]["candidates"]
    ] == [s2["id"]]

    await move(talent_client, s2, org["api"], "2025-12-01")
    moved = (await talent_client.get("/v1/org-units/api/skill-gaps", params={"on": "2025-12-31"})).json()
    assert [(g["meeting"], g["missing"]) for g in moved["items"]] == [(2, 1)]
    assert moved["skill_coverage"] == pytest.approx(2 / 3)
    sales = (await talent_client.get("/v1/org-units/sales/skill-gaps")).json()
    assert (sales["items"], sales["skill_coverage"]) == ([], None)
    assert (await talent_client.get("/v1/org-units/nowhere/skill-gaps")).status_code == 404


async def test_at_most_ten_candidates(talent_client: httpx.AsyncClient, org: Any) -> None:
    for n in range(12):
        person = await hire(talent_client, f"s{n}", org["sales"], hire="2024-01-01")
        assert (await assess(talent_client, person, "sql", 3 + n % 3, "2025-01-01")).status_code == 201
    await require(talent_client, "api", ("sql", 3, 1))
    [gap] = (await talent_client.get("/v1/org-units/api/skill-gaps")).json()["items"]
    assert len(gap["candidates"]) == 10
    assert [c["level"] for c in gap["candidates"]] == sorted((c["level"] for c in gap["candidates"]), reverse=True)
    assert gap["candidates"][0]["level"] == 5


async def test_a_last_day_is_not_the_close_of_employment(talent_client: httpx.AsyncClient, org: Any) -> None:
    leaving = await hire(
        talent_client, "l", org["api"], hire="2024-01-01", end_date="2025-06-30", separation_reason="other"
    )
    elsewhere = await hire(
        talent_client, "e", org["sales"], hire="2024-01-01", end_date="2025-06-30", separation_reason="other"
    )
    for person in (leaving, elsewhere):
        assert (await assess(talent_client, person, "sql", 4, "2025-01-01")).status_code == 201
    await require(talent_client, "api", ("sql", 3, 1))
    on_last_day = (await talent_client.get("/v1/org-units/api/skill-gaps", params={"on": "2025-06-30"})).json()
    [gap] = on_last_day["items"]
    assert (gap["meeting"], gap["below"], gap["candidates"]) == (0, [], [])
    day_before = (await talent_client.get("/v1/org-units/api/skill-gaps", params={"on": "2025-06-29"})).json()
    [gap] = day_before["items"]
    assert gap["meeting"] == 1
    assert [c["person_id"] for c in gap["candidates"]] == [elsewhere["id"]]
