"""The pass-through path: pure ASGI, no FastAPI routing or validation on the hot path.

:class:`ProxyMiddleware` sits in front of the gateway's own routes. A request whose path belongs to
a backend service (``config.ROUTES``) is passed to it with aiohttp — body in, status, headers and
streamed body out — and everything else falls through to the gateway's FastAPI routes. The request body is
read whole (within the body limits of size and time) before an upstream connection is taken. An
unreachable service answers 503 with ``Retry-After``; a service that does not answer in time, 504.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from shared.auth import INTERNAL_TOKEN_HEADER, principal_of
from shared.errors import GatewayTimeout, PayloadTooLarge, RequestTimeout, ServiceUnavailable, send_problem
from shared.metrics import ROUTE_STATE
from shared.observability import current_request_id
from shared.settings import Settings

if TYPE_CHECKING:
    from services.gateway.runtime import GatewayRuntime

logger = logging.getLogger("pilotage.gateway.proxy")

# RFC 9110 §7.6.1 connection-specific headers, plus the ones the proxy sets itself.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# The gateway's own server sets Date and Server; the upstream's would be duplicates.
# The API key stays at the gateway; the service receives the signed internal token instead.
_CREDENTIAL_HEADERS = frozenset({b"authorization", INTERNAL_TOKEN_HEADER.encode()})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade", "date", "server"})


# Connections to each upstream. A request holds one only once its body is read whole, and one API key
# holds at most ``max_inflight_per_key`` of them (see authentication.py).
UPSTREAM_CONNECTIONS = 256


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    base_url: str


class RouteTable:
    """Maps a request path to the upstream that owns it."""

    def __init__(self, routes: Mapping[str, Iterable[str]], urls: Mapping[str, str]) -> None:
        self._by_prefix = {
            prefix: Upstream(name, urls[name].rstrip("/")) for name, prefixes in routes.items() for prefix in prefixes
        }
        # Every prefix starts with /v1/<segment>; the segment picks the candidate in O(1).
        self._by_segment = {prefix.split("/")[2]: prefix for prefix in self._by_prefix}

    def match(self, path: str) -> Upstream | None:
        parts = path.split("/", 3)
        if len(parts) < 3 or parts[1] != "v1":
            return None
        prefix = self._by_segment.get(parts[2])
        if prefix is None:
            return None
        return self._by_prefix[prefix]

    @property
    def upstreams(self) -> list[Upstream]:
        return list({u.name: u for u in self._by_prefix.values()}.values())


class UpstreamPool:
    """One aiohttp session for all upstreams; created at start-up, closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=UPSTREAM_CONNECTIONS, keepalive_timeout=30, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(
                total=None,
                connect=self.settings.upstream_connect_timeout,
                sock_read=self.settings.upstream_read_timeout,
            ),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("upstream pool used before start-up")
        return self._session


def _forward_headers(scope: Scope, drop: frozenset[bytes]) -> list[tuple[str, str]]:
    # Headers the client names in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    named = {
        token.strip().lower().encode("latin-1")
        for name, value in scope["headers"]
        if name == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope["headers"]
        if name not in _HOP_BY_HOP and name not in drop and name not in named and name != b"x-request-id"
    ]
    request_id = current_request_id()
    if request_id:
        headers.append(("X-Request-Id", request_id))
    client = scope.get("client")
    if client:
        headers.append(("X-Forwarded-For", client[0]))
    headers.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
    return headers


class _ClientGone(Exception):
    """The client disconnected before sending its whole body: forward nothing truncated."""


async def _read_body(receive: Receive) -> bytes:
    """The client's whole body, before any upstream connection is taken: a slow client holds only
    its own connection, and the body limits (size, time) of :mod:`shared.limits` apply on the way."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return bool(value != b"0")
        if name == b"transfer-encoding":
            return True
    return False


async def forward(
    upstream: Upstream,
    pool: UpstreamPool,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    extra_headers: Iterable[tuple[str, str]] = (),
    drop_headers: frozenset[bytes] = frozenset(),
) -> int:
    """Stream the request to ``upstream`` and its response back; return the status sent."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = upstream.base_url + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    headers = _forward_headers(scope, drop_headers)
    headers.extend(extra_headers)
    settings = pool.settings
    try:
        body = await _read_body(receive) if _has_body(scope) else None
    except (PayloadTooLarge, RequestTimeout) as refused:
        await send_problem(send, refused.status, str(refused.detail), slug=refused.slug, headers=refused.headers)
        return refused.status
    except _ClientGone:
        logger.info("client left before sending its whole body; nothing forwarded to %s", upstream.name)
        return 499
    started = False
    try:
        async with pool.session.request(
            scope["method"],
            URL(target, encoded=True),
            headers=headers,
            data=body,
            allow_redirects=False,
        ) as response:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [
                        (name.lower(), value)
                        for name, value in response.raw_headers
                        if name.decode("latin-1").lower() not in _RESPONSE_DROP
                    ],
                }
            )
            started = True
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return response.status
    except TimeoutError:  # aiohttp's timeouts are TimeoutErrors too (and ClientErrors: catch them first)
        if started:
            raise
        logger.warning("%s service timed out", upstream.name)
        await send_problem(send, 504, f"The {upstream.name} service did not answer in time.", slug=GatewayTimeout.slug)
        return 504
    except aiohttp.ClientError as exc:
        if started:
            raise
        if not isinstance(exc, aiohttp.ClientConnectorError) and scope["method"] not in _IDEMPOTENT:
            # A write may have been done before the connection broke: the caller must check, not retry.
            logger.warning("%s service failed mid-exchange: %r", upstream.name, exc)
            await send_problem(
                send, 502, f"The {upstream.name} service closed the connection unexpectedly.", slug="bad-gateway"
            )
            return 502
        # Unreachable, or gone mid-answer to a request that is safe to repeat (aiohttp has already
        # sent it once more on a fresh connection): the service is away, and retrying is the advice.
        logger.warning("%s service unreachable: %r", upstream.name, exc)
        await send_problem(
            send,
            503,
            f"The {upstream.name} service is unavailable; retry shortly.",
            slug=ServiceUnavailable.slug,
            headers={"Retry-After": str(settings.upstream_unavailable_retry_after)},
        )
        return 503


class ProxyMiddleware:
    """Forwards the allow-listed paths with the caller's internal token; hands every other request to
    the gateway's own app."""

    def __init__(self, app: ASGIApp, routes: RouteTable, runtime: GatewayRuntime) -> None:
        self.app = app
        self.routes = routes
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            upstream = self.routes.match(scope["path"])
            if upstream is not None:
                principal = principal_of(scope)
                if principal is None:  # the authentication middleware lets no such request through
                    raise RuntimeError("proxying an unauthenticated request")
                scope[ROUTE_STATE] = f"proxied:{upstream.name}"
                token = self.runtime.signer.token_for(principal, upstream.name)
                await forward(
                    upstream,
                    self.runtime.pool,
                    scope,
                    receive,
                    send,
                    extra_headers=((INTERNAL_TOKEN_HEADER, token),),
                    drop_headers=_CREDENTIAL_HEADERS,
                )
                return
        await self.app(scope, receive, send)
