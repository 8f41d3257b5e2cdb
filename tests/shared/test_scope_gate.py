"""A caller without the scope a route needs is refused before its body is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx

from shared.auth import INTERNAL_TOKEN_HEADER
from tests.auth import token


def _endless(read: list[int]) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        read.append(1)
        yield b'{"points": ['
        while True:  # never ends: only a refusal before the body can answer in time
            await asyncio.sleep(0.05)
            read.append(1)
            yield b" "

    return chunks()


async def test_a_token_without_the_scope_is_refused_before_the_body(kpi_client: httpx.AsyncClient) -> None:
    read: list[int] = []
    started = time.monotonic()
    response = await kpi_client.post(  # a route whose body FastAPI parses before its dependencies
        "/v1/kpis",
        content=_endless(read),
        headers={INTERNAL_TOKEN_HEADER: token("kpi", "talent:read", "kpi:read")},
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "'kpi:write'" in response.json()["detail"]
    assert time.monotonic() - started < 1
    assert len(read) <= 1, "the body was being read"


async def test_no_token_is_a_401_before_the_body(kpi_client: httpx.AsyncClient) -> None:
    response = await kpi_client.post("/v1/kpis", content=_endless([]), headers={INTERNAL_TOKEN_HEADER: "forged"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_caller_with_the_scope_is_let_through_to_the_route(kpi_client: httpx.AsyncClient) -> None:
    headers = {INTERNAL_TOKEN_HEADER: token("kpi", "measurements:write")}
    response = await kpi_client.post("/v1/measurements", json={"points": []}, headers=headers)
    assert response.status_code == 200, response.text
    unknown = await kpi_client.post("/v1/no-such-route", content=b"{}", headers=headers)
    assert unknown.status_code == 404  # no route, nothing to gate: the router answers
