"""A minimal app built by ``create_app`` around test routes, trusting the test public keys."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from shared.app import create_app
from shared.auth import INTERNAL_TOKEN_HEADER, internal_token_authenticator, internal_token_scheme
from shared.settings import Settings
from tests.auth import token, verifier_for

HEADERS = {INTERNAL_TOKEN_HEADER: token("probe")}  # valid for the whole suite; probe routes ask for no scope


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
    app.state.authenticator = internal_token_authenticator(verifier_for("probe"))
    return app
