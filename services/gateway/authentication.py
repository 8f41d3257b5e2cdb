"""API-key authentication, rate limiting and audit for every gateway request but health (pure ASGI).

Runs before the pass-through and the gateway's own routes: it removes any client-supplied internal
token, authenticates ``Authorization: Bearer <key>``, applies the key's rate limit and its cap on
requests in progress, attaches the principal to the request scope, and records every write once its
response status is known.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.runtime import GatewayRuntime
from shared.auth import INTERNAL_TOKEN_HEADER, PRINCIPAL_STATE
from shared.errors import TooManyRequests, Unauthorized, database_unavailable, send_problem, unavailable_response
from shared.models import utcnow
from shared.observability import current_request_id

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_INTERNAL = INTERNAL_TOKEN_HEADER.encode()


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return None
    return None


def _resource_id(path: str, location: str | None) -> str | None:
    parts = path.split("/")
    if len(parts) > 3 and parts[3]:
        return parts[3][:200]  # /v1/<collection>/<id>/...
    if location:
        return location.rstrip("/").rsplit("/", 1)[-1][:200]
    return None


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, runtime: GatewayRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        runtime = self.runtime
        headers = [(n, v) for n, v in scope["headers"] if n != _INTERNAL]
        scope["headers"] = headers
        presented = _bearer(headers)
        try:
            key = await runtime.keys.authenticate(presented) if presented else None
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            await unavailable_response(scope["path"])(scope, receive, send)
            return
        if key is None:
            await send_problem(
                send,
                401,
                "Missing or invalid credentials.",
                slug=Unauthorized.slug,
                headers={"WWW-Authenticate": "Bearer"},
            )
            return
        decision = runtime.limiter.check(key.principal.key_id, key.rate_limit_per_second)
        if not decision.allowed:
            await send_problem(
                send,
                429,
                f"Rate limit of this API key exceeded; retry in {decision.retry_after}s.",
                slug=TooManyRequests.slug,
                headers={
                    "Retry-After": str(decision.retry_after),
                    "RateLimit-Limit": str(decision.limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(decision.reset_seconds),
                },
            )
            return
        key_id = key.principal.key_id
        if not runtime.inflight.acquire(key_id):
            await send_problem(
                send,
                429,
                f"This API key already has {runtime.inflight.limit} requests in progress; retry when one ends.",
                slug=TooManyRequests.slug,
                headers={"Retry-After": "1"},
            )
            return
        try:
            scope.setdefault("state", {})[PRINCIPAL_STATE] = key.principal
            if scope["method"] in READ_METHODS:
                await self.app(scope, receive, send)
            else:
                await self._audited(scope, receive, send, key_id)
        finally:
            runtime.inflight.release(key_id)

    async def _audited(self, scope: Scope, receive: Receive, send: Send, key_id: str) -> None:
        """Run a write and record it with the status it got."""
        status = 500
        location: str | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status, location
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"location":
                        location = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            self.runtime.audit.record(
                {
                    "occurred_at": utcnow(),
                    "key_id": key_id,
                    "method": scope["method"],
                    "path": scope["path"][:2000],
                    "resource_id": _resource_id(scope["path"], location),
                    "status": status,
                    "request_id": current_request_id(),
                }
            )
