"""The server every process runs (shared/serving.py), through a real uvicorn on 127.0.0.1: a client
cannot hold a connection by sending its headers or its body slowly, nor send unbounded headers, nor
open connections beyond the cap without a clear refusal."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from shared.serving import server_config
from shared.settings import Settings
from tests.servers import serve

LIMITS = Settings(header_read_timeout_seconds=1.0, max_header_bytes=8 * 1024, max_connections=3)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/refuse`` answers 403 without reading the body; every other path reads it and answers 200."""
    if scope["type"] != "http":
        return
    if scope["path"] != "/refuse":
        while (await receive()).get("more_body"):
            pass
    status = 403 if scope["path"] == "/refuse" else 200
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    async with serve(app, settings=LIMITS) as url:
        port = urlsplit(url).port
        assert port is not None
        yield port


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=3)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(lines[0].split()[1]), headers, body


async def closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), timeout=within) == b""
    except ConnectionResetError:
        return True


def problem(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    document: dict[str, object] = orjson.loads(body)
    assert document["status"] == status
    return document


async def test_headers_sent_slowly_get_a_408_within_the_timeout(port: int) -> None:
    async with connection(port) as (reader, writer):
        started = time.monotonic()
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for byte in b"X-Slow: still coming":  # one byte every 0.1 s, never the blank line
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)
            if reader.at_eof() or reader._buffer:  # type: ignore[attr-defined]
                break
        status, headers, body = await answer(reader)
        assert status == 408
        assert "1 s" in str(problem(408, headers, body)["detail"])
        assert await closed(reader, within=1)
        assert time.monotonic() - started < 2.5


async def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    async with connection(port) as (reader, _):
        started = time.monotonic()
        assert await closed(reader, within=3)
        assert 0.9 < time.monotonic() - started < 2.5


async def test_the_deadline_restarts_for_each_request_of_a_kept_connection(port: int) -> None:
    async with connection(port) as (reader, writer):
        for _ in range(3):  # 3 requests over ~2.1 s on one connection, each sent in time
            await asyncio.sleep(0.7)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await answer(reader))[0] == 200


async def test_oversized_headers_are_a_431(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (9 * 1024) + b"\r\n\r\n")
        status, headers, body = await answer(reader)
        assert status == 431
        assert "8192 bytes" in str(problem(431, headers, body)["detail"])
        assert await closed(reader, within=1)
    async with connection(port) as (reader, writer):  # many small headers add up the same
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(100))
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + many + b"\r\n")
        assert (await answer(reader))[0] == 431
    async with connection(port) as (reader, writer):  # under the limit: served
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (7 * 1024) + b"\r\n\r\n")
        assert (await answer(reader))[0] == 200


async def test_an_endless_header_is_refused_before_it_is_all_read(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < 64 * 1024 * 1024 and not reader._buffer and not reader.at_eof():  # type: ignore[attr-defined]
                writer.write(b"z" * 65536)
                await writer.drain()
                sent += 65536
                await asyncio.sleep(0)
        # The unread input may turn the close into a reset: refused all the same.
        with contextlib.suppress(ConnectionResetError, asyncio.IncompleteReadError):
            assert (await answer(reader))[0] == 431
        assert sent < 4 * 1024 * 1024, "the server read far past its limit"


async def test_beyond_the_connection_cap_a_request_gets_a_503(port: int) -> None:
    async with contextlib.AsyncExitStack() as stack:
        held = [await stack.enter_async_context(connection(port)) for _ in range(LIMITS.max_connections)]
        for reader, writer in held:  # kept alive after their answer
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await answer(reader))[0] == 200
        reader, writer = await stack.enter_async_context(connection(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, body = await answer(reader)
        assert status == 503
        problem(503, headers, body)
        assert int(headers["retry-after"]) >= 1
        assert await closed(reader, within=1)
        held_reader, held_writer = held[0]
        held_writer.close()
        await closed(held_reader, within=1)
    async with connection(port) as (reader, writer):  # below the cap again: served
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await answer(reader))[0] == 200


async def test_a_body_trickled_after_its_refusal_does_not_hold_the_connection(port: int) -> None:
    async with connection(port) as (reader, writer):
        writer.write(b"POST /refuse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n0123456789")
        assert (await answer(reader))[0] == 403
        started = time.monotonic()
        for _ in range(30):  # a byte every 0.1 s: the connection is closed anyway
            if reader.at_eof():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(b"x")
                await writer.drain()
            await asyncio.sleep(0.1)
        assert await closed(reader, within=1)
        assert time.monotonic() - started < 2.5
    async with connection(port) as (reader, writer):  # a refused body that does arrive: the connection goes on
        writer.write(b"POST /refuse HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nbody")
        assert (await answer(reader))[0] == 403
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (await answer(reader))[0] == 200


def test_every_process_gets_the_limits_of_its_settings() -> None:
    settings = Settings(
        header_read_timeout_seconds=2.5,
        max_header_bytes=4096,
        max_connections=77,
        keep_alive_timeout_seconds=7,
        listen_backlog=99,
        graceful_shutdown_seconds=11,
    )
    config = server_config("services.kpi_service.main:app", settings, host="0.0.0.0", port=8002, workers=2)
    assert (config.header_read_timeout, config.max_header_bytes) == (2.5, 4096)
    assert (config.limit_concurrency, config.timeout_keep_alive, config.backlog) == (77, 7, 99)
    assert (config.timeout_graceful_shutdown, config.workers, config.server_header) == (11, 2, False)
    assert config.h11_max_incomplete_event_size == 4096
