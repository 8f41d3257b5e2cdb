"""Scopes, principals and the signed internal tokens that carry them from the gateway to a service.

The gateway authenticates the caller's API key and forwards a short-lived HS256 JWT in
``X-Internal-Token`` (issuer ``pilotage-gateway``, audience = the target service, the key id as
subject, the key's scopes). Each service verifies that token on every route but health and enforces
scopes itself, so a service reached directly is as closed as the gateway::

    router = APIRouter(prefix="/v1")

    @router.get("/kpis", dependencies=[RequireScope(Scope.kpi_read)], ...)
    async def list_kpis(...): ...

    @router.post("/measurements", ...)
    async def ingest(principal: Annotated[Principal, RequireScope(Scope.measurements_write)], ...): ...
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from shared.errors import Forbidden, Unauthorized
from shared.settings import Settings

INTERNAL_TOKEN_HEADER = "x-internal-token"
ISSUER = "pilotage-gateway"
ALGORITHM = "HS256"
MIN_SECRET_LENGTH = 32
# Tolerated difference between the gateway's clock and a service's (a token "issued in the future").
CLOCK_LEEWAY_SECONDS = 5
_PLACEHOLDERS = {"changeme", "change-me", "secret", "please-change", "placeholder", "development"}


class Scope(StrEnum):
    kpi_read = "kpi:read"
    kpi_write = "kpi:write"
    measurements_write = "measurements:write"
    strategy_read = "strategy:read"
    strategy_write = "strategy:write"
    talent_read = "talent:read"
    talent_write = "talent:write"
    talent_sensitive = "talent:sensitive"
    admin = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: an API key's id and the scopes it holds. ``admin`` holds every scope."""

    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or Scope.admin in self.scopes


class ConfigurationError(RuntimeError):
    """A setting makes it unsafe to start."""


def internal_token_secret(settings: Settings) -> str:
    """The signing key. Outside development it must be configured and not a placeholder; in
    development it is generated once into the data folder and shared by every local process."""
    configured = settings.internal_token_secret.get_secret_value() if settings.internal_token_secret else None
    if configured is not None:
        weak = configured.strip().lower() in _PLACEHOLDERS or len(configured) < MIN_SECRET_LENGTH
        if weak and settings.env != "development":
            raise ConfigurationError(
                "PILOTAGE_INTERNAL_TOKEN_SECRET is a placeholder or shorter than "
                f"{MIN_SECRET_LENGTH} characters; set a random secret."
            )
        return configured
    if settings.env != "development":
        raise ConfigurationError(f"PILOTAGE_INTERNAL_TOKEN_SECRET must be set when PILOTAGE_ENV={settings.env}.")
    return _development_secret(settings.data_dir)


def _development_secret(data_dir: Path) -> str:
    path = data_dir / "internal-token-secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: a process that races us reads
        # either nothing (and links its own, which fails) or the complete secret — never half of it.
        draft = data_dir / f".internal-token-secret.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()


class TokenSigner:
    """Signs internal tokens; a token is reused for half its lifetime, so signing is rare."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, frozenset[str], str], tuple[str, float]] = {}

    def token_for(self, principal: Principal, audience: str) -> str:
        now = time.time()
        cache_key = (principal.key_id, principal.scopes, audience)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        issued = int(now)
        token = jwt.encode(
            {
                "iss": ISSUER,
                "aud": audience,
                "sub": principal.key_id,
                "scopes": sorted(principal.scopes),
                "iat": issued,
                "exp": issued + self._ttl,
            },
            self._secret,
            algorithm=ALGORITHM,
        )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (token, now + self._ttl / 2)
        return token


def _token_expiry(_key: str, principal_and_exp: tuple[Principal, float], _now: float) -> float:
    return principal_and_exp[1]


class TokenVerifier:
    """Verifies internal tokens for one audience; a verified token is remembered until it expires."""

    def __init__(self, secret: str, audience: str) -> None:
        self._secret = secret
        self._audience = audience
        self._cache: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=10_000, ttu=_token_expiry, timer=time.time
        )

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            return cached[0]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=CLOCK_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError:
            raise unauthorized() from None
        scopes = claims.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise unauthorized()
        principal = Principal(key_id=str(claims["sub"]), scopes=frozenset(scopes))
        self._cache[token] = (principal, float(claims["exp"]))
        return principal


def unauthorized() -> Unauthorized:
    """The one answer to every authentication failure: it says nothing about which check failed."""
    return Unauthorized("Missing or invalid credentials.", headers={"WWW-Authenticate": "Bearer"})


Authenticator = Callable[[Request], Awaitable[Principal]]

# Where the gateway's authentication middleware leaves the caller, in the ASGI scope's state.
PRINCIPAL_STATE = "principal"


def principal_of(scope: MutableMapping[str, Any]) -> Principal | None:
    principal: Principal | None = scope.get("state", {}).get(PRINCIPAL_STATE)
    return principal


async def authenticated_upstream(request: Request) -> Principal:
    """Authenticator of an app behind the gateway's authentication middleware (the gateway itself)."""
    principal = principal_of(request.scope)
    if principal is None:
        raise unauthorized()
    return principal


# OpenAPI security schemes: the public API takes a bearer API key; a service takes the internal token.
bearer_scheme = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pk_<id>_<secret>`.")
internal_token_scheme = APIKeyHeader(
    name=INTERNAL_TOKEN_HEADER, auto_error=False, description="Signed token the gateway forwards."
)


def internal_token_authenticator(verifier: TokenVerifier) -> Authenticator:
    async def authenticate(request: Request) -> Principal:
        token = request.headers.get(INTERNAL_TOKEN_HEADER)
        if not token:
            raise unauthorized()
        return verifier.verify(token)

    return authenticate


async def authenticate(request: Request) -> Principal:
    """The caller's principal, established once per request by the app's authenticator."""
    authenticator: Authenticator = request.app.state.authenticator
    principal = await authenticator(request)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


class ScopeChecker:
    """Dependency: the caller must hold one of ``scopes``. The route walker in the tests reads them."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = scopes

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        if not any(principal.allows(scope) for scope in self.scopes):
            needed = " or ".join(repr(s.value) for s in self.scopes)
            raise Forbidden(f"This operation needs the {needed} scope.")
        return principal


def RequireScope(*scopes: Scope) -> Any:
    """``Depends`` on :class:`ScopeChecker` (any one of ``scopes`` suffices): use in
    ``dependencies=[...]`` or ``Annotated[Principal, RequireScope(...)]``."""
    return Depends(ScopeChecker(*scopes))
