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

from shared.auth import Principal, Scope, TokenSigner, internal_token_secret
from shared.clients.base import ServiceClient, TokenSource, signer_token_source
from shared.health import BreakerReport
from shared.settings import Settings

C = TypeVar("C", bound=ServiceClient)


def service_token_source(settings: Settings, service: str, scopes: frozenset[str]) -> TokenSource:
    """The calling service signs as itself, with the fixed scopes its job needs."""
    signer = TokenSigner(internal_token_secret(settings), settings.internal_token_ttl_seconds)
    return signer_token_source(signer, Principal(key_id=service, scopes=scopes))


def client_lifespan(client_class: type[C], *scopes: Scope) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A lifespan that puts a ``client_class`` on ``app.state.<service>_client`` (what the
    ``…ClientDep`` aliases read), reports its breaker in ``/readyz`` and closes it at shutdown. Its
    calls carry ``scopes``; ``app.state.token_source``, when set before start-up, signs instead."""
    attribute = f"{client_class.service}_client"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        token_source: TokenSource | None = getattr(app.state, "token_source", None)
        if token_source is None:
            token_source = service_token_source(settings, app.state.service, frozenset(scopes))
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
