"""A failing dependency becomes one problem+json answer naming it, and its circuit breaker stops
calling it after repeated failures: against real servers (uvicorn) and a closed port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import APIRouter
from starlette.types import Receive, Scope, Send

from shared.clients import KpiClient, KpiClientDep
from shared.contracts.kpi import KpiStatus
from shared.errors import (
    DependencyError,
    DependencyFailed,
    DependencyRejected,
    DependencyTimeout,
    DependencyUnavailable,
)
from tests.probe import HEADERS, probe_app
from tests.servers import free_port, serve
from tests.shared.conftest import client_settings, tokens

READER = tokens("kpi:read")


class Upstream:
    """A real server standing in for a dependency in trouble: it answers as ``mode`` says and counts
    the requests that reach it."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.calls = 0
        self.retry_after: str | None = None

    async def __call__(self, scope: Scope, _receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.calls += 1
        status, body, headers = 200, orjson.dumps({"items": []}), [(b"content-type", b"application/json")]
        if self.mode == "slow":
            await asyncio.sleep(1.0)
        elif self.mode in ("500", "502", "503", "504", "404"):
            status = int(self.mode)
            body = orjson.dumps({"type": "urn:x", "title": "Trouble", "status": status, "detail": "Upstream trouble."})
            headers = [(b"content-type", b"application/problem+json")]
            if self.retry_after is not None:
                headers.append((b"retry-after", self.retry_after.encode()))
        elif self.mode == "malformed":
            body = orjson.dumps({"items": [{"kpi": "x", "status": "purple"}]})
        elif self.mode == "not-json":
            body = b"<html>proxy error page</html>"
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    app = Upstream()
    async with serve(app) as url:
        yield app, url


def client_of(url: str, **settings: object) -> KpiClient:
    return KpiClient.create(client_settings(**settings), READER, base_url=url)


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


async def failure_of(client: KpiClient) -> DependencyError:
    with pytest.raises(DependencyError) as failed:
        await client.statuses(["ops.anything"])
    return failed.value


async def answer_of(client: KpiClient) -> httpx.Response:
    """What a route that calls ``client`` without catching anything answers its own caller."""
    router = APIRouter(prefix="/v1", tags=["probe"])

    @router.get("/calls-kpi")
    async def calls_kpi(kpi: KpiClientDep) -> list[KpiStatus]:
        return await kpi.statuses(["ops.anything"])

    app = probe_app([router])
    app.state.kpi_client = client
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://caller", headers=HEADERS) as caller:
        return await caller.get("/v1/calls-kpi")


# ------------------------------------------------------------------ one failure, one answer


async def test_connection_refused_is_503_naming_the_dependency_with_retry_after() -> None:
    async with client_of(closed_port(), upstream_unavailable_retry_after=7) as client:
        failure = await failure_of(client)
        assert isinstance(failure, DependencyUnavailable)
        answer = await answer_of(client)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "7"
    body = answer.json()
    assert body["source"] == "kpi"
    assert body["type"] == "urn:pilotage:problem:dependency-unavailable"
    assert "127.0.0.1" not in body["detail"]  # the internal address is not told to the caller


async def test_a_slow_dependency_is_504_naming_it(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "slow"
    async with client_of(url, upstream_deadline=0.2, upstream_retries=2) as client:
        started = time.monotonic()
        failure = await failure_of(client)
        assert time.monotonic() - started < 0.6
        assert isinstance(failure, DependencyTimeout)
        answer = await answer_of(client)
    assert answer.status_code == 504
    assert answer.json()["source"] == "kpi"
    assert answer.json()["type"] == "urn:pilotage:problem:dependency-timeout"


@pytest.mark.parametrize("status", ["502", "503"])
async def test_a_dependency_that_is_unavailable_is_503_with_its_retry_after(
    upstream: tuple[Upstream, str], status: str
) -> None:
    server, url = upstream
    server.mode, server.retry_after = status, "11"
    async with client_of(url) as client:
        answer = await answer_of(client)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "11"
    assert answer.json()["source"] == "kpi"


async def test_a_503_without_retry_after_gets_ours(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "503"
    async with client_of(url, upstream_unavailable_retry_after=4) as client:
        failure = await failure_of(client)
    assert isinstance(failure, DependencyUnavailable)
    assert failure.retry_after == 4


async def test_a_503_is_retried_for_a_read_before_it_counts(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "503"
    async with client_of(url, upstream_retries=2) as client:
        await failure_of(client)
        assert server.calls == 3
        assert client.breaker_state().failures == 1  # one call, however many attempts


async def test_a_504_from_the_dependency_is_our_504(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "504"
    async with client_of(url) as client:
        assert isinstance(await failure_of(client), DependencyTimeout)


async def test_a_500_from_the_dependency_is_502_never_500(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "500"
    async with client_of(url) as client:
        assert isinstance(await failure_of(client), DependencyFailed)
        answer = await answer_of(client)
    assert answer.status_code == 502
    assert answer.json()["source"] == "kpi"
    assert answer.json()["type"] == "urn:pilotage:problem:dependency-failed"


@pytest.mark.parametrize("mode", ["malformed", "not-json"])
async def test_an_answer_outside_the_contract_is_502(upstream: tuple[Upstream, str], mode: str) -> None:
    server, url = upstream
    server.mode = mode
    async with client_of(url, breaker_failures=1) as client:
        failure = await failure_of(client)
        assert type(failure) is DependencyFailed
        assert (await answer_of(client)).status_code == 502
        assert client.breaker_state().state == "closed"  # the dependency answers: pausing would not help


async def test_a_4xx_without_a_problem_body_is_still_a_typed_rejection(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "404"
    async with client_of(url) as client:
        failure = await failure_of(client)
    assert isinstance(failure, DependencyRejected)
    assert failure.dependency_status == 404
    assert failure.problem is not None
    assert failure.problem.detail == "Upstream trouble."


# ------------------------------------------------------------------ the circuit breaker


async def test_the_breaker_opens_after_n_failures_and_answers_without_calling(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "503"
    async with client_of(url, breaker_failures=3, breaker_reset_seconds=30) as client:
        for expected in (1, 2):
            await failure_of(client)
            assert client.breaker_state().failures == expected
        await failure_of(client)
        assert server.calls == 3
        assert client.breaker_state().state == "open"
        started = time.monotonic()
        for _ in range(20):
            failure = await failure_of(client)
            assert isinstance(failure, DependencyUnavailable)
        assert time.monotonic() - started < 0.2
        assert server.calls == 3  # nothing reached the server while open
        assert isinstance(failure, DependencyUnavailable)
        assert failure.retry_after in (29, 30)
        answer = await answer_of(client)
    assert answer.status_code == 503
    assert answer.json()["source"] == "kpi"
    assert int(answer.headers["retry-after"]) in (29, 30)


async def test_connection_errors_and_timeouts_open_it_too() -> None:
    async with client_of(closed_port(), breaker_failures=2) as client:
        await failure_of(client)
        await failure_of(client)
        assert client.breaker_state().state == "open"
    server = Upstream()
    server.mode = "slow"
    async with serve(server) as url, client_of(url, breaker_failures=2, upstream_deadline=0.1) as client:
        assert isinstance(await failure_of(client), DependencyTimeout)
        assert isinstance(await failure_of(client), DependencyTimeout)
        assert isinstance(await failure_of(client), DependencyUnavailable)
        assert server.calls == 2


async def test_calls_their_caller_gave_up_on_count(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "slow"
    async with client_of(url, breaker_failures=2) as client:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.statuses(["ops.anything"]), 0.05)
        assert client.breaker_state().state == "open"
        assert isinstance(await failure_of(client), DependencyUnavailable)
    assert server.calls == 2


async def test_4xx_answers_do_not_count(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "404"
    async with client_of(url, breaker_failures=2) as client:
        for _ in range(5):
            assert isinstance(await failure_of(client), DependencyRejected)
        assert client.breaker_state().state == "closed"
        assert server.calls == 5


async def test_only_consecutive_failures_count(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    async with client_of(url, breaker_failures=3) as client:
        for mode in ("500", "503", "ok", "500", "503"):
            server.mode = mode
            if mode == "ok":
                assert await client.statuses(["ops.anything"]) == []
            else:
                await failure_of(client)
        assert client.breaker_state().state == "closed"
        assert client.breaker_state().failures == 2


async def test_half_open_after_the_pause_then_closed_by_a_success(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "503"
    async with client_of(url, breaker_failures=2, breaker_reset_seconds=0.3) as client:
        await failure_of(client)
        await failure_of(client)
        assert client.breaker_state().state == "open"
        await asyncio.sleep(0.35)
        assert client.breaker_state().state == "half_open"
        server.mode = "ok"
        assert await client.statuses(["ops.anything"]) == []  # the probe reaches the server
        assert server.calls == 3
        assert client.breaker_state().state == "closed"
        server.mode = "503"
        await failure_of(client)  # closed again: a failure counts from one and reaches the server
        assert server.calls == 4
        assert client.breaker_state().failures == 1


async def test_a_failed_probe_opens_it_again_at_once(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    server.mode = "500"
    async with client_of(url, breaker_failures=3, breaker_reset_seconds=0.3) as client:
        for _ in range(3):
            await failure_of(client)
        await asyncio.sleep(0.35)
        await failure_of(client)  # the probe: one call, failing
        assert server.calls == 4
        assert client.breaker_state().state == "open"
        await failure_of(client)
        assert server.calls == 4


async def test_each_dependency_has_its_own_breaker(upstream: tuple[Upstream, str]) -> None:
    server, url = upstream
    async with client_of(closed_port(), breaker_failures=1) as down, client_of(url, breaker_failures=1) as up:
        await failure_of(down)
        assert down.breaker_state().state == "open"
        assert await up.statuses(["ops.anything"]) == []
        assert up.breaker_state().state == "closed"
        assert down.acting_for("callerkey01").breaker_state().state == "open"  # views share the breaker
    assert server.calls == 1
