"""Clients live as long as the app: opened at start-up, closed at shutdown.

::

    app = create_app(..., lifespans=[client_lifespan(KpiClient, Scope.kpi_read)])

    @router.get("/objectives/{id}/progress")
    async def progress(kpi: KpiClientDep, ...) -> Progress: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

from fastapi import FastAPI

from shared.auth import ConfigurationError, Scope, ServiceIdentity
from shared.clients.base import ServiceClient, TokenSource
from shared.health import BreakerReport
from shared.settings import Settings

C = TypeVar("C", bound=ServiceClient)

# What a service's client does when no caller is being served (start-up, sweeps): it says so.
BACKGROUND_JOB = "background"


def service_token_source(identity: ServiceIdentity, audience: str, scopes: frozenset[Scope]) -> TokenSource:
    """The calling service signs as itself (:class:`~shared.auth.ServiceIdentity`), with the fixed
    scopes its issuer policy grants; start-up fails at once if those do not cover ``scopes``, the
    scopes the client's calls need — rather than every call failing later with a 403."""
    granted = identity.scopes_for(audience)
    missing = {s.value for s in scopes} - granted
    if missing:
        raise ConfigurationError(
            f"the {identity.issuer} service may not call {audience} with {sorted(missing)}: its policy grants "
            f"{sorted(granted) or 'nothing'}"
        )
    return identity.for_job(BACKGROUND_JOB)


def client_lifespan(client_class: type[C], *scopes: Scope) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that puts a ``client_class`` on ``app.state.<service>_client`` (what the
    ``…ClientDep`` aliases read), reports its breaker in ``/readyz`` and closes it at shutdown. Its
    calls are signed by the service's identity (``app.state.identity``) and need ``scopes``;
    ``app.state.token_source``, when set before start-up, signs instead (tests)."""
    attribute = f"{client_class.service}_client"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        token_source: TokenSource | None = getattr(app.state, "token_source", None)
        if token_source is None:
            token_source = service_token_source(app.state.identity, client_class.service, frozenset(scopes))
        client = client_class.create(settings, token_source)
        setattr(app.state, attribute, client)
        if not hasattr(app.state, "breakers"):
            app.state.breakers = {}
        breakers: dict[str, BreakerReport] = app.state.breakers
        breakers[client_class.service] = client.breaker_state
        try:
            yield
        finally:
            breakers.pop(client_class.service, None)
            delattr(app.state, attribute)
            await client.aclose()

    return lifespan
