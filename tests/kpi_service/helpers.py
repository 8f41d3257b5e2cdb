"""Shortcuts for KPI service tests."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_serial = itertools.count()


def kpi_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": f"ops.kpi_{next(_serial)}",
        "name": "On-time delivery",
        "unit": "%",
        "domain": "supply_chain",
        "direction": "increase",
        "aggregation": "avg",
        "cadence": "daily",
    }
    body.update(overrides)
    return body


async def create_kpi(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/kpis", json=kpi_body(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def push(client: httpx.AsyncClient, *points: tuple[str, str, float], **params: Any) -> httpx.Response:
    body = {"points": [{"kpi": k, "ts": ts, "value": v} for k, ts, v in points]}
    return await client.post("/v1/measurements", json=body, params=params)


async def push_ok(client: httpx.AsyncClient, *points: tuple[str, str, float]) -> dict[str, Any]:
    response = await push(client, *points)
    assert response.status_code == 200, response.text
    counts: dict[str, Any] = response.json()
    return counts


async def set_targets(client: httpx.AsyncClient, key: str, *targets: dict[str, Any]) -> None:
    response = await client.put(f"/v1/kpis/{key}/targets", json={"targets": list(targets)})
    assert response.status_code == 200, response.text
