"""The gateway forwards allow-listed paths over real HTTP, faithfully, and fails cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Receive, Scope, Send

from services.gateway.config import ROUTES
from services.gateway.proxy import RouteTable
from tests.gateway.conftest import running_gateway
from tests.servers import free_port, serve


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream that reports what it received; some paths misbehave on purpose."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    path = scope["path"]
    if path.endswith("/slow"):
        await asyncio.sleep(2)
    if path.endswith("/big"):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for _ in range(64):
            await send({"type": "http.response.body", "body": b"x" * 16384, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    payload = orjson.dumps(
        {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body": body.decode(),
        }
    )
    status = 201 if scope["method"] == "POST" else 200
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"etag", b'"v7"'), (b"x-upstream", b"echo")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
async def upstream_url() -> AsyncIterator[str]:
    async with serve(echo) as url:
        yield url


@pytest.fixture
async def gateway(database_url: str, admin_key: str, upstream_url: str) -> AsyncIterator[httpx.AsyncClient]:
    urls = {"kpi_url": upstream_url, "strategy_url": upstream_url, "talent_url": upstream_url}
    async with running_gateway(database_url, admin_key, **urls) as gateway:
        yield gateway.client


async def test_forwards_method_path_query_headers_and_body(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/v1/measurements?dry_run=true&x=%2F",
        content=b'{"points": []}',
        headers={"content-type": "application/json", "idempotency-key": "k-1", "x-request-id": "rid-1"},
    )
    assert response.status_code == 201
    assert response.headers["etag"] == '"v7"'
    assert response.headers["x-upstream"] == "echo"
    assert response.headers["x-request-id"] == "rid-1"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/v1/measurements"
    assert seen["query"] == "dry_run=true&x=%2F"
    assert seen["body"] == '{"points": []}'
    assert seen["headers"]["idempotency-key"] == "k-1"
    assert seen["headers"]["x-request-id"] == "rid-1"
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert "authorization" not in seen["headers"], "the API key must not travel past the gateway"


async def test_a_request_id_is_made_and_passed_down_when_the_client_sends_none(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/kpis")
    assert response.json()["headers"]["x-request-id"] == response.headers["x-request-id"]


async def test_each_prefix_goes_to_its_service(gateway: httpx.AsyncClient) -> None:
    paths = ("/v1/kpis/abc/status", "/v1/objectives", "/v1/org-units/1", "/v1/kpi-statuses", "/v1/org-unit-health",
             "/v1/skills", "/v1/trainings/t/enrolments", "/v1/enrolments/1")  # fmt: skip
    for path in paths:
        response = await gateway.get(path)
        assert response.status_code == 200, path
        assert response.json()["path"] == path


@pytest.mark.parametrize("path", ["/v1/kpisx", "/v1/unknown", "/v2/kpis", "/kpis", "/v1"])
async def test_paths_off_the_allow_list_are_not_forwarded(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-upstream" not in response.headers


async def test_streams_large_bodies_both_ways(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/kpis/big")
    assert len(response.content) == 64 * 16384

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"y" * 1000

    response = await gateway.post("/v1/measurements", content=chunks())
    assert response.json()["body"] == "y" * 8000


async def test_unreachable_service_is_a_503_with_retry_after(database_url: str, admin_key: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_gateway(database_url, admin_key, kpi_url=dead) as gateway:
        response = await gateway.client.get("/v1/kpis")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) > 0
        assert "kpi service" in response.json()["detail"]


@contextlib.asynccontextmanager
async def dropping_first_connection(drops: int = 1) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A service that reads the first request and closes its connection without a word (a process
    killed mid-request, a pooled connection it closed), then answers every later one with 200."""
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            requests.append(head.split(b" ")[0])
            if len(requests) <= drops:
                writer.transport.abort()
                return
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", requests
    finally:
        server.close()


async def test_a_connection_dropped_before_the_answer_is_retried_for_idempotent_methods_only(
    database_url: str, admin_key: str
) -> None:
    async with (
        dropping_first_connection() as (url, requests),
        running_gateway(database_url, admin_key, kpi_url=url) as gateway,
    ):
        # aiohttp sends an idempotent request once more on a fresh connection: a killed service then
        # refuses it (a clean 503), a live one answers.
        response = await gateway.client.get("/v1/kpis")
        assert response.status_code == 200, response.text
        assert requests == [b"GET", b"GET"]
    async with (
        dropping_first_connection() as (url, requests),
        running_gateway(database_url, admin_key, kpi_url=url) as gateway,
    ):
        # A write may have been done before the connection broke: never sent twice, a 502 says so.
        response = await gateway.client.post("/v1/measurements", json={"points": []})
        assert response.status_code == 502, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert requests == [b"POST"]


async def test_a_read_the_service_keeps_dropping_is_a_503_to_retry(database_url: str, admin_key: str) -> None:
    async with (
        dropping_first_connection(drops=10) as (url, requests),
        running_gateway(database_url, admin_key, kpi_url=url) as gateway,
    ):
        response = await gateway.client.get("/v1/kpis")
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"].isdigit()
        assert "kpi" in response.json()["detail"]
        assert requests == [b"GET", b"GET"]


async def test_slow_service_is_a_504(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/v1/kpis/slow")
    assert response.status_code == 504
    assert response.headers["content-type"] == "application/problem+json"


async def test_readiness_reports_each_service(database_url: str, admin_key: str, upstream_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    urls = {"kpi_url": upstream_url, "strategy_url": upstream_url, "talent_url": dead}
    async with running_gateway(database_url, admin_key, **urls) as gateway:
        response = await gateway.client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["database"]["status"] == "ok"
        assert checks["kpi"]["status"] == "ok"
        assert checks["strategy"]["status"] == "ok"
        assert checks["talent"]["status"] == "failing"


async def test_an_oversized_streamed_body_is_a_413_not_a_502(
    database_url: str, admin_key: str, upstream_url: str
) -> None:
    async with running_gateway(database_url, admin_key, kpi_url=upstream_url, max_body_bytes=1000) as gateway:

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(20):
                yield b"z" * 100

        response = await gateway.client.post("/v1/measurements", content=chunks())
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        declared = await gateway.client.post("/v1/measurements", content=b"z" * 2000)
        assert declared.status_code == 413


async def test_headers_named_in_connection_are_not_forwarded(gateway: httpx.AsyncClient) -> None:
    seen = (
        await gateway.get("/v1/kpis", headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1"})
    ).json()
    assert "x-secret-hop" not in seen["headers"]


async def test_proxied_requests_are_counted_under_their_service_not_their_path(gateway: httpx.AsyncClient) -> None:
    def proxied_to_kpi(text: str) -> float:
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "pilotage_http_requests_total"
            and sample.labels["route"] == "proxied:kpi"
            and sample.labels["status"] == "200"
        )

    before = (await gateway.get("/metrics", headers={"authorization": ""})).text
    for path in ("/v1/kpis/abc/status", "/v1/kpis/def/status"):
        assert (await gateway.get(path)).status_code == 200
    after = (await gateway.get("/metrics")).text
    assert proxied_to_kpi(after) - proxied_to_kpi(before) == 2
    assert "/v1/kpis/abc" not in after


def _answering_as(name: str) -> ASGIApp:
    async def upstream(scope: Scope, _receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps({"service": name, "path": scope["path"]})})

    return upstream


async def test_alignment_reads_reach_the_service_that_owns_them(database_url: str, admin_key: str) -> None:
    async with (
        serve(_answering_as("kpi")) as kpi_url,
        serve(_answering_as("strategy")) as strategy_url,
        serve(_answering_as("talent")) as talent_url,
        running_gateway(
            database_url, admin_key, kpi_url=kpi_url, strategy_url=strategy_url, talent_url=talent_url
        ) as gateway,
    ):
        for service, method, path in (
            ("kpi", "GET", "/v1/kpi-index"),
            ("kpi", "POST", "/v1/kpi-aggregates"),
            ("kpi", "GET", "/v1/kpi-statuses"),
            ("strategy", "GET", "/v1/kpi-links"),
            ("strategy", "GET", "/v1/key-results"),
            ("strategy", "GET", "/v1/objective-forest"),
            ("strategy", "GET", f"/v1/objectives/{uuid.uuid4()}/lineage"),
        ):
            response = await gateway.client.request(method, path)
            assert response.status_code == 200, path
            assert response.json() == {"service": service, "path": path}
        assert (await gateway.client.get("/v1/kpi-indexes")).status_code == 404


@pytest.mark.parametrize(
    ("path", "service"),
    [("/v1/initiatives", "strategy"), ("/v1/initiative-lookups", "strategy"), ("/v1/org-unit-health", "talent")],
)
def test_every_service_route_of_the_contract_is_forwarded(path: str, service: str) -> None:
    upstream = RouteTable(ROUTES, {name: f"http://{name}" for name in ROUTES}).match(path)
    assert upstream is not None
    assert upstream.name == service
