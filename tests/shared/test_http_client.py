"""The resilient client retries only what is safe, backs off, honours Retry-After and keeps a deadline."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from shared.http_client import DeadlineExceeded, create_service_client
from shared.observability import RequestIdMiddleware
from shared.settings import Settings
from tests.servers import free_port, serve


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "upstream_retries": 3,
        "upstream_retry_backoff": 0.01,
        "upstream_deadline": 5.0,
        "upstream_connect_timeout": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Recorder:
    """A scripted upstream: answers each attempt with the next status (the last one repeats)."""

    def __init__(self, *statuses: int, headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.headers = headers or {}
        self.delay = delay
        self.attempts: list[float] = []
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(time.monotonic())
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.statuses[min(len(self.attempts) - 1, len(self.statuses) - 1)]
        return httpx.Response(
            status, headers=self.headers if status >= 500 else {}, json={"attempt": len(self.attempts)}
        )


def client_for(recorder: Recorder, **overrides: object) -> httpx.AsyncClient:
    return create_service_client("http://upstream", settings(**overrides), transport=httpx.MockTransport(recorder))


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_idempotent_requests_are_retried_on_gateway_errors(status: int) -> None:
    recorder = Recorder(status, status, 200)
    async with client_for(recorder) as client:
        response = await client.get("/v1/kpis")
    assert response.status_code == 200
    assert len(recorder.attempts) == 3


@pytest.mark.parametrize("status", [400, 404, 409, 422, 500])
async def test_other_errors_are_not_retried(status: int) -> None:
    recorder = Recorder(status, 200)
    async with client_for(recorder) as client:
        response = await client.get("/v1/kpis")
    assert response.status_code == status
    assert len(recorder.attempts) == 1


async def test_post_is_never_retried() -> None:
    recorder = Recorder(503, 200)
    async with client_for(recorder) as client:
        response = await client.post("/v1/measurements", json={"points": []})
    assert response.status_code == 503
    assert len(recorder.attempts) == 1


async def test_gives_up_after_the_configured_retries() -> None:
    recorder = Recorder(503)
    async with client_for(recorder, upstream_retries=2) as client:
        response = await client.get("/v1/kpis")
    assert response.status_code == 503
    assert len(recorder.attempts) == 3  # the first attempt and two retries


async def test_retry_after_is_honoured() -> None:
    recorder = Recorder(503, 200, headers={"Retry-After": "1"})
    async with client_for(recorder) as client:
        response = await client.get("/v1/kpis")
    assert response.status_code == 200
    assert recorder.attempts[1] - recorder.attempts[0] >= 0.95


async def test_backoff_is_jittered_and_grows() -> None:
    waits: list[float] = []
    for _ in range(5):
        recorder = Recorder(503, 503, 503, 200)
        async with client_for(recorder, upstream_retry_backoff=0.05) as client:
            await client.get("/v1/kpis")
        waits.append(recorder.attempts[3] - recorder.attempts[2])
    assert all(w < 0.5 for w in waits)
    assert len({round(w, 3) for w in waits}) > 1, "backoff should be jittered"


async def test_deadline_bounds_the_whole_exchange_retries_included() -> None:
    recorder = Recorder(503, headers={"Retry-After": "10"})
    started = time.monotonic()
    async with client_for(recorder, upstream_deadline=0.3) as client:
        with pytest.raises(DeadlineExceeded):
            await client.get("/v1/kpis")
    assert time.monotonic() - started < 1.0


async def test_deadline_bounds_a_slow_upstream() -> None:
    recorder = Recorder(200, delay=2.0)
    async with client_for(recorder, upstream_deadline=0.2) as client:
        with pytest.raises(httpx.TimeoutException):
            await client.get("/v1/kpis")


async def test_connection_refused_is_retried_for_get_but_not_post() -> None:
    port = free_port()  # nothing listens there
    async with create_service_client(f"http://127.0.0.1:{port}", settings(upstream_retries=2)) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ConnectError):
            await client.get("/v1/kpis")
        with pytest.raises(httpx.ConnectError):
            await client.post("/v1/measurements", json={})
    assert time.monotonic() - started < 3


async def test_request_id_travels_downstream() -> None:
    seen: list[str | None] = []

    async def upstream(scope: Scope, _receive: Receive, send: Send) -> None:
        seen.append(dict(scope["headers"]).get(b"x-request-id", b"").decode() or None)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async with serve(upstream) as upstream_url:

        async def caller(_scope: Scope, _receive: Receive, send: Send) -> None:
            async with create_service_client(upstream_url, settings()) as client:
                await client.get("/v1/kpis")
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        transport = httpx.ASGITransport(app=RequestIdMiddleware(caller))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/", headers={"x-request-id": "trace-42"})
    assert seen == ["trace-42"]
