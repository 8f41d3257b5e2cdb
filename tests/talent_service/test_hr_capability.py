"""§9's training and skill indicators on hand-built cases, through GET /v1/hr-indicators (and its
series): skill coverage over requirements at two levels of the tree, training effectiveness and
training completion at the edges of their windows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.talent_service.helpers import hire, unit
from tests.talent_service.test_skill_gaps import require
from tests.talent_service.test_skills import assess, skill

Q1 = {"from": "2026-01-01", "to": "2026-03-31"}


@pytest.fixture
async def org(talent_client: httpx.AsyncClient) -> dict[str, Any]:
    co = await unit(talent_client, "co", "company")
    eng = await unit(talent_client, "eng", "department", co)
    api = await unit(talent_client, "api", "team", eng)
    sales = await unit(talent_client, "sales", "department", co)
    for key in ("sql", "python"):
        await skill(talent_client, key)
    return {"co": co, "eng": eng, "api": api, "sales": sales}


async def indicators(client: httpx.AsyncClient, org_unit: str, period: dict[str, str] = Q1) -> dict[str, Any]:
    response = await client.get("/v1/hr-indicators", params={"org_unit": org_unit, **period})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def assessed(client: httpx.AsyncClient, person: dict[str, Any], *levels: tuple[str, int, str]) -> None:
    for key, level, on in levels:
        response = await assess(client, person, key, level, on)
        assert response.status_code == 201, response.text


async def test_skill_coverage_over_department_and_team_requirements(
    talent_client: httpx.AsyncClient, org: dict[str, Any]
) -> None:
    p1 = await hire(talent_client, "p1", org["api"], hire="2025-01-01")
    p2 = await hire(talent_client, "p2", org["api"], hire="2025-01-01")
    p3 = await hire(talent_client, "p3", org["eng"], hire="2025-01-01")
    p4 = await hire(talent_client, "p4", org["api"], hire="2025-01-01")
    await assessed(
        talent_client, p1, ("sql", 4, "2025-06-01"), ("python", 1, "2025-06-01"), ("python", 3, "2026-03-01")
    )
    await assessed(talent_client, p2, ("sql", 3, "2025-06-01"), ("sql", 2, "2026-02-01"))  # lowered: 2 counts after
    await assessed(talent_client, p3, ("sql", 5, "2025-06-01"))
    await assessed(talent_client, p4, ("python", 2, "2026-02-15"))
    await require(talent_client, "eng", ("sql", 3, 1))
    await require(talent_client, "api", ("sql", 3, 2), ("python", 2, 3))

    # at the close of 31 March: eng/sql {p1, p3} capped at 1; api/sql {p1}; api/python {p1, p4}
    assert (await indicators(talent_client, "eng"))["skill_coverage"] == pytest.approx((1 + 1 + 2) / 6)
    assert (await indicators(talent_client, "api"))["skill_coverage"] == pytest.approx((1 + 2) / 5)
    assert (await indicators(talent_client, "co"))["skill_coverage"] == pytest.approx(4 / 6)
    assert (await indicators(talent_client, "sales"))["skill_coverage"] is None
    series = await talent_client.get("/v1/hr-indicators/series", params={"org_unit": "eng", **Q1, "bucket": "month"})
    january, february, march = series.json()["items"]
    # 31 Jan: eng/sql {p1, p2, p3} capped at 1; api/sql {p1, p2}; api/python none
    assert january["skill_coverage"] == pytest.approx((1 + 2 + 0) / 6)
    # 28 Feb: p2 lowered (api/sql {p1}); p4 at python 2
    assert february["skill_coverage"] == pytest.approx((1 + 1 + 1) / 6)
    assert march["skill_coverage"] == pytest.approx(4 / 6)


async def enrol(client: httpx.AsyncClient, person: dict[str, Any], on: str) -> str:
    response = await client.post(
        "/v1/trainings/sqlcourse/enrolments", json={"person_id": person["id"], "enrolled_on": on}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def close(client: httpx.AsyncClient, enrolment: str, status: str, on: str | None = None) -> None:
    body = {"status": status} | ({"completed_on": on} if on else {})
    response = await client.patch(f"/v1/enrolments/{enrolment}", json=body)
    assert response.status_code == 200, response.text


async def test_training_effectiveness_and_completion(talent_client: httpx.AsyncClient, org: dict[str, Any]) -> None:
    created = await talent_client.post(
        "/v1/trainings", json={"key": "sqlcourse", "name": "SQL", "skills": ["sql", "python"], "hours": 8}
    )
    assert created.status_code == 201
    q1, q2, q3, q4 = [await hire(talent_client, f"q{n}", org["api"], hire="2025-01-01") for n in range(1, 5)]
    outsider = await hire(talent_client, "s", org["sales"], hire="2025-01-01")

    # q1: sql from 2 to 4 (the earliest assessment after completion counts, not the later 5);
    # python from none (0) to 3
    await assessed(talent_client, q1, ("sql", 2, "2025-06-01"))
    await close(talent_client, await enrol(talent_client, q1, "2026-01-05"), "completed", "2026-01-20")
    await assessed(talent_client, q1, ("sql", 4, "2026-02-01"), ("sql", 5, "2026-03-01"), ("python", 3, "2026-02-10"))
    # q2: python assessed on the 180th day after completion (counts), sql on the 181st (ignored)
    await close(talent_client, await enrol(talent_client, q2, "2026-01-05"), "completed", "2026-01-10")
    await assessed(talent_client, q2, ("python", 1, "2026-07-09"), ("sql", 5, "2026-07-10"))
    # q3 dropped: neither a pair nor a completion
    await close(talent_client, await enrol(talent_client, q3, "2026-02-01"), "dropped")
    await assessed(talent_client, q3, ("sql", 5, "2026-02-15"))
    # q4 completes after the period: an enrolment of Q1 not completed by its end
    await close(talent_client, await enrol(talent_client, q4, "2026-03-01"), "completed", "2026-04-05")
    await assessed(talent_client, q4, ("sql", 3, "2026-04-10"))
    # someone outside the unit is not counted there
    await close(talent_client, await enrol(talent_client, outsider, "2026-01-05"), "completed", "2026-01-06")
    await assessed(talent_client, outsider, ("sql", 5, "2026-01-07"))

    api = await indicators(talent_client, "api")
    assert api["training_effectiveness_pairs"] == 3
    assert api["training_effectiveness"] == pytest.approx(((4 - 2) + (3 - 0) + (1 - 0)) / 3)
    assert api["training_completion_rate"] == pytest.approx(2 / 4)
    half = await indicators(talent_client, "api", {"from": "2026-01-01", "to": "2026-06-30"})
    assert half["training_completion_rate"] == pytest.approx(3 / 4)
    assert half["training_effectiveness_pairs"] == 4  # q4's sql from 0 to 3
    assert half["training_effectiveness"] == pytest.approx((2 + 3 + 1 + 3) / 4)
    co = await indicators(talent_client, "co")
    assert (co["training_effectiveness_pairs"], co["training_completion_rate"]) == (4, pytest.approx(3 / 5))
    sales = await indicators(talent_client, "sales", {"from": "2026-04-01", "to": "2026-06-30"})
    assert (sales["training_completion_rate"], sales["training_effectiveness"]) == (None, None)
    assert sales["training_effectiveness_pairs"] == 0
