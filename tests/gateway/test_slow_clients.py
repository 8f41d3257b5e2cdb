"""One client's slow or numerous requests cannot take the gateway's upstream connections from others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from tests.gateway.conftest import Gateway, running_gateway
from tests.servers import serve

ARRIVED: list[str] = []  # "METHOD path" of every request the upstream saw


async def recording_upstream(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    ARRIVED.append(f"{scope['method']} {scope['path']}")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": orjson.dumps({"received": len(body)})})


@pytest.fixture
async def gateway(database_url: str, admin_key: str) -> AsyncIterator[Gateway]:
    async with serve(recording_upstream) as upstream:
        urls = {"kpi_url": upstream, "strategy_url": upstream, "talent_url": upstream}
        limits = {"body_read_timeout_seconds": 1.0, "header_read_timeout_seconds": 1.0, "max_inflight_per_key": 5}
        async with running_gateway(database_url, admin_key, **urls, **limits) as gateway:
            ARRIVED.clear()
            yield gateway


async def _key(gateway: Gateway, *scopes: str) -> str:
    response = await gateway.client.post("/v1/api-keys", json={"name": "slow client", "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


async def _open_slow_post(gateway: Gateway, key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A chunked POST whose body starts with one byte and never goes on."""
    port = urlsplit(gateway.url).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/kpis HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
    )
    await writer.drain()
    return reader, writer


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def test_slow_bodies_get_408_and_the_extra_ones_429_while_others_are_served(gateway: Gateway) -> None:
    key = await _key(gateway, "talent:read")
    slow = [await _open_slow_post(gateway, key) for _ in range(12)]
    try:
        started = time.monotonic()
        admin = await gateway.client.get("/v1/kpis")
        assert admin.status_code == 200
        assert time.monotonic() - started < 0.5, "the admin waited behind the slow client"

        answers = await asyncio.wait_for(asyncio.gather(*(_answer(reader) for reader, _ in slow)), timeout=5)
        elapsed = time.monotonic() - started
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [408] * 5 + [429] * 7, statuses
        assert elapsed < 3, "the body deadline is 1 s"
        for status, headers, body in answers:
            assert headers["content-type"] == "application/problem+json"
            problem = orjson.loads(body)
            assert problem["status"] == status
            if status == 429:
                assert int(headers["retry-after"]) >= 1
                assert "in progress" in problem["detail"]
            else:
                assert headers["connection"] == "close"  # the rest of that body is not waited for
        for reader, _ in slow:  # the 408s at once, the 429s when the rest of their body is overdue
            assert await asyncio.wait_for(reader.read(), timeout=2) == b""
        assert ARRIVED == ["GET /v1/kpis"], "no slow body ever took an upstream connection"
    finally:
        for _, writer in slow:
            writer.close()


async def test_the_in_flight_cap_is_per_key_and_frees_as_requests_end(gateway: Gateway) -> None:
    key = await _key(gateway, "talent:read")
    slow = [await _open_slow_post(gateway, key) for _ in range(5)]  # the whole allowance of this key
    try:
        async with gateway.as_key(key) as client:
            await asyncio.sleep(0.2)
            refused = await client.get("/v1/org-units")
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert (await gateway.client.get("/v1/org-units")).status_code == 200  # another key: served
            await asyncio.gather(*(_answer(reader) for reader, _ in slow))  # 408s: the allowance is back
            served = await client.post("/v1/org-units", content=b'{"key": "x"}')
            assert served.status_code == 200
            assert served.json() == {"received": 12}  # a whole body is forwarded, as before
    finally:
        for _, writer in slow:
            writer.close()
