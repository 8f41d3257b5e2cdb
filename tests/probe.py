"""A minimal app built by ``create_app`` around test routes, trusting the test signing key."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from shared.app import create_app
from shared.auth import (
    INTERNAL_TOKEN_HEADER,
    Principal,
    TokenSigner,
    TokenVerifier,
    internal_token_authenticator,
    internal_token_scheme,
)
from shared.settings import Settings
from tests.auth import TEST_SECRET

# A valid token for the whole session (made at import: a minute's lifetime would expire mid-suite);
# probe routes ask for no scope.
HEADERS = {
    INTERNAL_TOKEN_HEADER: TokenSigner(TEST_SECRET, 24 * 3600).token_for(Principal("testkey01", frozenset()), "probe")
}


def probe_app(routers: Sequence[APIRouter], settings: Settings | None = None) -> FastAPI:
    app = create_app(
        service="probe",
        title="probe",
        description="",
        settings=settings or Settings(),
        routers=routers,
        uses_database=False,
        security=internal_token_scheme,
    )
    app.state.authenticator = internal_token_authenticator(TokenVerifier(TEST_SECRET, audience="probe"))
    return app
