"""Building an organisation through the gateway for the alignment tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import jwt

from tests.gateway.platform import Platform, Seen, unique

_serial = itertools.count()
TODAY = dt.datetime.now(dt.UTC).date()


def days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


def ago(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(**delta)).isoformat()


def current_period() -> dict[str, str]:
    """A period half elapsed: expected progress close to 0.5."""
    return {"period_start": days(-30), "period_end": days(29)}


def future_period() -> dict[str, str]:
    """A period not started: the pace is `not_started` (on track), whatever the progress."""
    return {"period_start": days(10), "period_end": days(40)}


async def org_unit(platform: Platform, kind: str = "team", parent_id: str | None = None) -> dict[str, Any]:
    key = unique("unit")
    body: dict[str, Any] = {"key": key, "name": key.title(), "kind": kind}
    if parent_id:
        body["parent_id"] = parent_id
    return await platform.post("/v1/org-units", body)


async def person(platform: Platform, unit_id: str, **more: Any) -> dict[str, Any]:
    n = next(_serial)
    body = {
        "employee_number": unique(f"e{n}"),
        "name": f"Person {n}",
        "email": f"person{n}_{unique('m')}@example.com",
        "hire_date": days(-800),
        "org_unit_id": unit_id,
        **more,
    }
    return await platform.post("/v1/people", body)


async def kpi(
    platform: Platform,
    *,
    target: float | None = 95.0,
    values: tuple[float, ...] = (),
    at: str | None = None,
    owner: str | None = None,
    key: str | None = None,
    **more: Any,
) -> str:
    key = key or f"ops.{unique('kpi')}"
    body: dict[str, Any] = {
        "key": key,
        "name": f"KPI {key}",
        "unit": "%",
        "domain": "operations",
        "direction": "increase",
        "aggregation": "avg",
        "cadence": "daily",
        "thresholds": {"mode": "relative", "amber": 0.05, "red": 0.1},
        **more,
    }
    if owner:
        body["owner_org_unit_id"] = owner
    await platform.post("/v1/kpis", body)
    if target is not None:
        await platform.put(
            f"/v1/kpis/{key}/targets",
            {"targets": [{"period_start": "2020-01-01", "period_end": "2099-12-31", "value": target}]},
        )
    if values:
        stamp = at or ago(hours=1)
        points = [{"kpi": key, "ts": stamp, "value": v} for v in values]
        await platform.post("/v1/measurements", {"points": points}, status=200)
    return key


async def objective(
    platform: Platform,
    *,
    level: str = "team",
    owner: str | None = None,
    parent_id: str | None = None,
    period: dict[str, str] | None = None,
    status: str = "active",
    **more: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": unique("Objective"),
        "level": level,
        "status": status,
        **(period or current_period()),
        **more,
    }
    if owner:
        body["owner_org_unit_id"] = owner
    if parent_id:
        body["parent_id"] = parent_id
    return await platform.post("/v1/objectives", body)


async def key_result(
    platform: Platform, objective_id: str, *, kpi: str | None = None, start: float = 0, target: float = 100, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": unique("Key result"),
        "kind": "increase",
        "start_value": start,
        "target_value": target,
        **more,
    }
    if kpi:
        body["kpi"] = kpi
    return await platform.post(f"/v1/objectives/{objective_id}/key-results", body)


async def check_in(platform: Platform, key_result_id: str, value: float, confidence: float = 0.5, **more: Any) -> None:
    await platform.post(
        f"/v1/key-results/{key_result_id}/check-ins", {"value": value, "confidence": confidence, **more}
    )


def issuer(seen: Seen) -> str | None:
    if seen.token is None:
        return None
    issued: str = jwt.decode(seen.token, options={"verify_signature": False})["iss"]
    return issued


def gateway_calls(platform: Platform) -> dict[str, int]:
    """Calls the gateway made to each service since the last reset (a service's own calls left out)."""
    counts = dict.fromkeys(("strategy", "kpi", "talent"), 0)
    for seen in platform.calls():
        if issuer(seen) == "gateway":
            counts[seen.service] += 1
    return counts


async def skill(platform: Platform) -> str:
    key = unique("skill")
    await platform.post("/v1/skills", {"key": key, "name": key.title()})
    return key


async def assess(platform: Platform, person_id: str, skill_key: str, level: int) -> None:
    body = {"skill": skill_key, "level": level, "assessed_on": days(-10), "source": "manager"}
    await platform.post(f"/v1/people/{person_id}/skill-assessments", body)


async def short_of_skills(platform: Platform) -> tuple[dict[str, Any], str, str]:
    """A steady team of 5 that needs 4 people at level 3 in one skill and 1 at level 2 in another,
    and has 2 and 1: coverage 3 / 5. Someone elsewhere has the first skill (a candidate)."""
    team = await org_unit(platform)
    forecasting, sql = await skill(platform), await skill(platform)
    members = [await person(platform, team["id"]) for _ in range(5)]
    await assess(platform, members[0]["id"], forecasting, 3)
    await assess(platform, members[1]["id"], forecasting, 4)
    await assess(platform, members[2]["id"], forecasting, 2)
    await assess(platform, members[3]["id"], sql, 2)
    elsewhere = await org_unit(platform)
    await assess(platform, (await person(platform, elsewhere["id"]))["id"], forecasting, 5)
    body = {"items": [{"skill": forecasting, "level": 3, "count": 4}, {"skill": sql, "level": 2, "count": 1}]}
    await platform.put(f"/v1/org-units/{team['id']}/required-skills", body)
    return team, forecasting, sql
