"""The resilient HTTP client services use to call each other.

:func:`create_service_client` returns an ``httpx.AsyncClient`` with explicit connect/read/pool
timeouts, an overall deadline per request (retries included), and retries with jittered exponential
backoff (honouring ``Retry-After``) for idempotent methods only (and a POST that carries an
``Idempotency-Key``, with :func:`keyed_create_retry_policy`), and only on connection failures and
502/503/504. The caller's request id travels downstream::

    async with create_service_client("http://127.0.0.1:8002", settings) as kpi:
        response = await kpi.get("/v1/kpi-statuses", params={"kpi": keys})
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from httpx_retries import Retry, RetryTransport

from shared.observability import REQUEST_ID_HEADER, current_request_id
from shared.settings import Settings

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
# Only failures where the request cannot have reached the handler: safe to send again.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout)


class DeadlineExceeded(httpx.TimeoutException):
    """The whole exchange, retries and backoff included, took longer than the deadline."""


class DeadlineTransport(httpx.AsyncBaseTransport):
    """Bounds the time until response headers, across every retry, by ``deadline`` seconds."""

    def __init__(self, inner: httpx.AsyncBaseTransport, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            async with asyncio.timeout(self._deadline):
                return await self._inner.handle_async_request(request)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{request.method} {request.url} exceeded its {self._deadline}s deadline", request=request
            ) from None

    async def aclose(self) -> None:
        await self._inner.aclose()


def retry_policy(retries: int, backoff: float, max_wait: float) -> Retry:
    return Retry(
        total=retries,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=RETRY_STATUSES,
        retry_on_exceptions=RETRY_EXCEPTIONS,
        backoff_factor=backoff,
        backoff_jitter=1.0,
        respect_retry_after_header=True,
        max_backoff_wait=max_wait,
        total_timeout=max_wait,
    )


def keyed_create_retry_policy(settings: Settings) -> Retry:
    """Retries for a POST carrying an ``Idempotency-Key``: the server answers a repeat with its first
    answer, so sending it again is as safe as a GET. Pass it per request as the ``retry`` extension."""
    policy = retry_policy(settings.upstream_retries, settings.upstream_retry_backoff, settings.upstream_deadline)
    return policy.copy_with(allowed_methods=IDEMPOTENT_METHODS | {"POST"})


async def _add_request_id(request: httpx.Request) -> None:
    request_id = current_request_id()
    if request_id and REQUEST_ID_HEADER not in request.headers:
        request.headers[REQUEST_ID_HEADER] = request_id


def create_service_client(
    base_url: str,
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An ``AsyncClient`` for one dependency, configured from ``settings``."""
    timeout = httpx.Timeout(
        connect=settings.upstream_connect_timeout,
        read=settings.upstream_read_timeout,
        write=settings.upstream_read_timeout,
        pool=settings.upstream_pool_timeout,
    )
    inner = transport or httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )
    retrying = RetryTransport(
        transport=inner,
        retry=retry_policy(settings.upstream_retries, settings.upstream_retry_backoff, settings.upstream_deadline),
    )
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        transport=DeadlineTransport(retrying, settings.upstream_deadline),
        event_hooks={"request": [_add_request_id]},
        **kwargs,
    )
