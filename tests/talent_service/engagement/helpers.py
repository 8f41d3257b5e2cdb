"""Building engagement surveys and their responses through the talent API in tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx


async def survey(
    client: httpx.AsyncClient, key: str = "pulse", start: str = "2026-03-01", end: str = "2026-03-15"
) -> dict[str, Any]:
    body = {"key": key, "name": key.title(), "period_start": start, "period_end": end}
    response = await client.post("/v1/engagement-surveys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def answer(
    client: httpx.AsyncClient,
    unit: dict[str, Any],
    enps: Sequence[int],
    satisfaction: Sequence[int | None] | None = None,
    survey_key: str = "pulse",
) -> None:
    """Post one response per ``enps`` answer from ``unit`` (with the matching satisfaction, if given)."""
    ratings = list(satisfaction) if satisfaction is not None else [None] * len(enps)
    items = [
        {"org_unit_id": unit["id"], "enps": e, **({"satisfaction": s} if s is not None else {})}
        for e, s in zip(enps, ratings, strict=True)
    ]
    if not items:
        return
    response = await client.post(f"/v1/engagement-surveys/{survey_key}/responses", json={"responses": items})
    assert response.status_code == 200, response.text


async def results(
    client: httpx.AsyncClient, unit: dict[str, Any], *, breakdown: bool = False, survey_key: str = "pulse"
) -> dict[str, Any]:
    params = {"org_unit": unit["key"], **({"breakdown": "children"} if breakdown else {})}
    response = await client.get(f"/v1/engagement-surveys/{survey_key}/results", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())
