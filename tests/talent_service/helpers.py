"""Building org units and people through the talent API in tests."""

from __future__ import annotations

from typing import Any

import httpx

from shared.auth import INTERNAL_TOKEN_HEADER
from tests.auth import token


def as_scopes(*scopes: str) -> dict[str, str]:
    """Headers that make a request as a caller holding exactly ``scopes``."""
    return {INTERNAL_TOKEN_HEADER: token("talent", *scopes)}


READER = as_scopes("talent:read")
WRITER = as_scopes("talent:read", "talent:write")
SENSITIVE = as_scopes("talent:read", "talent:write", "talent:sensitive")


async def unit(client: httpx.AsyncClient, key: str, kind: str, parent: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"key": key, "name": key.replace("_", " ").title(), "kind": kind}
    if parent is not None:
        body["parent_id"] = parent["id"]
    response = await client.post("/v1/org-units", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def person_body(number: str, unit: dict[str, Any], hire: str = "2024-01-01", **fields: Any) -> dict[str, Any]:
    return {
        "employee_number": number,
        "name": f"Person {number}",
        "email": f"p{number}@example.com",
        "hire_date": hire,
        "org_unit_id": unit["id"],
        **fields,
    }


async def hire(
    client: httpx.AsyncClient, number: str, unit: dict[str, Any], hire: str = "2024-01-01", **fields: Any
) -> dict[str, Any]:
    response = await client.post("/v1/people", json=person_body(number, unit, hire, **fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def move(client: httpx.AsyncClient, person: dict[str, Any], unit: dict[str, Any], on: str) -> None:
    response = await client.post(
        f"/v1/people/{person['id']}/assignments", json={"org_unit_id": unit["id"], "effective_date": on}
    )
    assert response.status_code == 201, response.text


def pointers(response: httpx.Response) -> list[str]:
    return [e["pointer"] for e in response.json()["errors"]]
