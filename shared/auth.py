"""Scopes, principals and the signed internal tokens that carry them between Pilotage processes.

Every internal token is a JWT signed with Ed25519 (``EdDSA``) by the process that issues it, in
``X-Internal-Token``. Each issuer — ``gateway``, ``strategy``, ``kpi``, ``talent`` — holds its own
private key; a verifier holds only the public keys of the issuers it trusts, so no service can forge
the gateway's tokens and none can grant itself scopes. Claims: ``iss`` (the issuer), ``aud`` (the
target service), ``sub``, ``scopes``, ``iat``, ``exp``, and for a service calling another ``act``.

- The gateway authenticates the caller's API key and forwards ``sub`` = the key id with the key's
  scopes (:class:`GatewayIdentity`).
- A service calling another signs as itself (``sub`` = ``iss`` = its name) with the fixed scopes its
  job needs for that audience, and names in ``act`` the caller it acts for: the caller's key id, or
  ``job:<name>`` for a periodic job that no caller started (:class:`ServiceIdentity`). (Unlike
  RFC 8693's ``act``, which names the actor, ours names whom the call is made for: ``iss`` is
  the actor.) The audit trail shows both: :attr:`Principal.recorded_as`.

Each verifier applies :data:`POLICIES`: per issuer, the audiences it may address, the scopes it may
carry and the KPI keys it may write. A token carrying more than its issuer may is refused outright
(401), never trimmed. ``admin`` implies every scope and only the gateway may carry it.

A typed client calls a **token source**, ``source(audience, act=None) -> str``: the value of the
``X-Internal-Token`` header for a call to ``audience`` made for the caller ``act`` (its API key id;
``None`` when there is none — a job's source then names the job itself). :class:`ServiceIdentity`
is one (``identity.for_job("hr-publish")`` gives a job's); ``GatewayIdentity.for_caller(principal)``
gives the gateway's for one caller. Tokens are reused for half their lifetime, so calling the source
on every request is cheap::

    identity: ServiceIdentity = request.app.state.identity  # the service's own, built at start-up
    headers = {INTERNAL_TOKEN_HEADER: identity("kpi", principal.key_id)}  # for the current caller
    publish: TokenSource = identity.for_job("hr-publish")  # a periodic job's source
    headers = {INTERNAL_TOKEN_HEADER: publish("kpi")}

Routes declare the scope they need; the principal is established once per request::

    @router.get("/kpis", dependencies=[RequireScope(Scope.kpi_read)], ...)
    async def list_kpis(...): ...

    @router.post("/measurements", ...)
    async def ingest(principal: Annotated[Principal, RequireScope(Scope.measurements_write)], ...): ...
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from shared.errors import FieldError, Forbidden, Unauthorized

INTERNAL_TOKEN_HEADER = "x-internal-token"
ALGORITHM = "EdDSA"
GATEWAY = "gateway"
# Tolerated difference between two processes' clocks (a token "issued in the future").
CLOCK_LEEWAY_SECONDS = 5
# ``act``: an API key id (pk_<id>_…), or ``job:<name>`` for work no caller started.
_ACT = re.compile(r"[a-z0-9]{8,16}|job:[a-z0-9][a-z0-9-]{0,35}")
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


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
class IssuerPolicy:
    """What one issuer's tokens may carry. ``scopes`` maps each audience the issuer may address to
    the scopes it may carry there; ``None`` means any audience and any scope (the gateway, which
    forwards what the caller's key holds)."""

    scopes: Mapping[str, frozenset[str]] | None
    key_prefix: str | None = None  # only KPIs whose key starts with this may be written

    def allows(self, audience: str, scopes: frozenset[str]) -> bool:
        if self.scopes is None:
            return True
        allowed = self.scopes.get(audience)
        return allowed is not None and Scope.admin not in scopes and scopes <= allowed


POLICIES: Mapping[str, IssuerPolicy] = {
    GATEWAY: IssuerPolicy(scopes=None),
    # Progress of KPI-linked key results is strategy data: reading KPIs is all strategy needs.
    "strategy": IssuerPolicy(scopes={"kpi": frozenset({Scope.kpi_read})}),
    # The talent service publishes HR indicators as ``hr.*`` KPIs, and nothing else.
    "talent": IssuerPolicy(scopes={"kpi": frozenset({Scope.kpi_write, Scope.measurements_write})}, key_prefix="hr."),
    # The KPI service calls no other service: its tokens are accepted nowhere.
    "kpi": IssuerPolicy(scopes={}),
}
ISSUERS = tuple(POLICIES)


def trusted_issuers(audience: str) -> list[str]:
    """The issuers whose tokens ``audience`` accepts at all (whose public keys it needs)."""
    return [name for name, policy in POLICIES.items() if policy.scopes is None or audience in policy.scopes]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling. ``key_id`` is the token's subject: the caller's API key id for a token the
    gateway forwards, the calling service's name for a service's own token, which then names in
    ``act`` the caller it acts for. ``admin`` holds every scope. ``key_prefix``, when set, bounds
    the KPIs this principal may write."""

    key_id: str
    scopes: frozenset[str]
    issuer: str = GATEWAY
    act: str | None = None
    key_prefix: str | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or Scope.admin in self.scopes

    @property
    def recorded_as(self) -> str:
        """Who acted, for the audit trail and ``recorded_by``: the key id through the gateway,
        ``"<service> for <act>"`` for a service acting for a caller (``talent for k3f9a1b2``)."""
        return f"{self.issuer} for {self.act}" if self.act is not None else self.key_id

    def require_kpi_keys(self, located: Iterable[tuple[str, str]], *, location: Literal["body", "path"]) -> None:
        """403 unless this principal may write every KPI of ``located`` — ``(where, key)`` pairs,
        ``where`` a JSON pointer into the body or the name of the path parameter."""
        if self.key_prefix is None:
            return
        refused = [(where, key) for where, key in located if not key.startswith(self.key_prefix)]
        if not refused:
            return
        raise Forbidden(
            f"{self.recorded_as} may write only KPIs whose key starts with {self.key_prefix!r}, not "
            + ", ".join(repr(key) for _, key in refused[:5])
            + ("…" if len(refused) > 5 else "")
            + ".",
            errors=[
                FieldError(
                    location=location,
                    pointer=where if location == "body" else None,
                    parameter=where if location == "path" else None,
                    message=f"KPI {key!r} does not start with {self.key_prefix!r}.",
                    code="kpi_key_not_allowed",
                )
                for where, key in refused
            ],
        )


class ConfigurationError(RuntimeError):
    """A setting makes it unsafe to start."""


# --------------------------------------------------------------------------- signing


class TokenSigner:
    """Signs internal tokens as one issuer; a token is reused for half its lifetime, so signing is rare."""

    def __init__(self, issuer: str, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        if issuer not in POLICIES:
            raise ValueError(f"unknown issuer {issuer!r}")
        self.issuer = issuer
        self._key = private_key
        self._ttl = ttl_seconds
        self._cache: dict[tuple[str, str, frozenset[str], str | None], tuple[str, float]] = {}

    def sign(self, audience: str, subject: str, scopes: frozenset[str], act: str | None = None) -> str:
        now = time.time()
        cache_key = (audience, subject, scopes, act)
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        issued = int(now)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": subject,
            "scopes": sorted(scopes),
            "iat": issued,
            "exp": issued + self._ttl,
        }
        if act is not None:
            claims["act"] = act
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[cache_key] = (token, now + self._ttl / 2)
        return token


class TokenSource(Protocol):
    """The header value for a call to ``audience`` made for the caller ``act`` (see the module doc)."""

    def __call__(self, audience: str, act: str | None = None, /) -> str: ...


class GatewayIdentity:
    """The gateway's signer: forwards the caller's key id and scopes to the service it calls."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int) -> None:
        self._signer = TokenSigner(GATEWAY, private_key, ttl_seconds)

    def token_for(self, principal: Principal, audience: str) -> str:
        return self._signer.sign(audience, principal.key_id, principal.scopes)

    def for_caller(self, principal: Principal) -> TokenSource:
        """A token source for the calls one request of ``principal`` makes (alignment views)."""

        def source(audience: str, act: str | None = None, /) -> str:
            if act is not None and act != principal.key_id:
                raise ValueError(f"the gateway forwards its caller {principal.key_id!r}, not {act!r}")
            return self.token_for(principal, audience)

        return source


class ServiceIdentity:
    """A service's signer for its calls to another service: it signs as itself with the scopes its
    issuer policy grants for that audience (never more), naming the caller it acts for."""

    def __init__(
        self, issuer: str, private_key: Ed25519PrivateKey, ttl_seconds: int, *, job: str | None = None
    ) -> None:
        policy = POLICIES.get(issuer)
        if policy is None or policy.scopes is None:
            raise ValueError(f"{issuer!r} is not a service issuer")
        if job is not None and not _ACT.fullmatch(f"job:{job}"):
            raise ValueError(f"not a job name: {job!r}")
        self.issuer = issuer
        self._grants = policy.scopes
        self._signer = TokenSigner(issuer, private_key, ttl_seconds)
        self._key = private_key
        self._ttl = ttl_seconds
        self._job = job

    def __call__(self, audience: str, act: str | None = None, /) -> str:
        scopes = self._grants.get(audience)
        if scopes is None:
            raise ValueError(f"{self.issuer} may not call {audience!r}")
        act = act if act is not None else (f"job:{self._job}" if self._job else None)
        if act is None or not _ACT.fullmatch(act):
            raise ValueError(f"a call by {self.issuer} must name the API key id or the job it is made for, not {act!r}")
        return self._signer.sign(audience, self.issuer, scopes, act)

    def scopes_for(self, audience: str) -> frozenset[str]:
        """The scopes this identity's calls to ``audience`` carry (none: it may not call it)."""
        return self._grants.get(audience, frozenset())

    def for_job(self, name: str) -> ServiceIdentity:
        """The source of a periodic job: calls made for no caller name ``job:<name>``."""
        return ServiceIdentity(self.issuer, self._key, self._ttl, job=name)


# --------------------------------------------------------------------------- verification


def _token_expiry(_key: str, principal_and_exp: tuple[Principal, float], _now: float) -> float:
    return principal_and_exp[1]


class TokenVerifier:
    """Verifies internal tokens for one audience against the public keys of the issuers it trusts and
    their :data:`POLICIES`; a verified token is remembered until it expires (the hot path is a
    dictionary look-up)."""

    def __init__(self, audience: str, public_keys: Mapping[str, Ed25519PublicKey]) -> None:
        unknown = set(public_keys) - set(POLICIES)
        if unknown:
            raise ValueError(f"no policy for issuers {sorted(unknown)}")
        self._audience = audience
        self._keys = dict(public_keys)
        self._cache: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            maxsize=10_000, ttu=_token_expiry, timer=time.time
        )

    def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        if cached is not None:
            return cached[0]
        principal, expires = self._verify(token)
        self._cache[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            # The issuer picks the key: read it unverified, then verify everything with that key.
            issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss"))
            key = self._keys.get(issuer)
            if key is None:
                raise unauthorized()
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=issuer,
                options={"require": _REQUIRED_CLAIMS},
                leeway=CLOCK_LEEWAY_SECONDS,
            )
        except jwt.PyJWTError:
            raise unauthorized() from None
        scopes, subject, act = claims.get("scopes"), claims["sub"], claims.get("act")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise unauthorized()
        granted = frozenset(scopes)
        policy = POLICIES[issuer]
        if claims["aud"] != self._audience or not policy.allows(self._audience, granted):
            raise unauthorized()
        if issuer == GATEWAY:
            if act is not None or not isinstance(subject, str):
                raise unauthorized()
        elif subject != issuer or not isinstance(act, str) or not _ACT.fullmatch(act):
            raise unauthorized()
        principal = Principal(subject, granted, issuer=issuer, act=act, key_prefix=policy.key_prefix)
        return principal, float(claims["exp"])


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
    name=INTERNAL_TOKEN_HEADER,
    auto_error=False,
    description="Signed internal token (EdDSA JWT) from the gateway or a calling service.",
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
