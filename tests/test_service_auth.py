"""Every service verifies the internal token itself and enforces scopes: reached directly, it is closed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.auth import INTERNAL_TOKEN_HEADER, ConfigurationError, ScopeChecker, authenticate, internal_token_secret
from shared.settings import Settings
from tests.auth import raw_token, token
from tests.conftest import bind_app
from tests.routes import api_routes

# One route per service, with the scope it needs.
PROBES = {
    "kpi": ("/v1/kpis", "kpi:read"),
    "strategy": ("/v1/objectives", "strategy:read"),
    "talent": ("/v1/org-units", "talent:read"),
}


def _apps() -> dict[str, FastAPI]:
    from services.gateway.main import app as gateway
    from services.kpi_service.main import app as kpi
    from services.strategy_service.main import app as strategy
    from services.talent_service.main import app as talent

    return {"gateway": gateway, "kpi": kpi, "strategy": strategy, "talent": talent}


@pytest.fixture(params=list(PROBES))
async def service(
    request: pytest.FixtureRequest, database_url: str, connection: AsyncConnection
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    name: str = request.param
    app = _apps()[name]
    bind_app(app, database_url, connection)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield name, client
    del app.state.database
    del app.state.authenticator


async def _status(client: httpx.AsyncClient, path: str, credential: str | None) -> httpx.Response:
    headers = {INTERNAL_TOKEN_HEADER: credential} if credential is not None else {}
    return await client.get(path, headers=headers)


async def test_no_forged_expired_or_misaddressed_token_gets_in(service: tuple[str, httpx.AsyncClient]) -> None:
    name, client = service
    path, scope = PROBES[name]
    now = int(time.time())
    other = "kpi" if name != "kpi" else "talent"
    bad = {
        "none": None,
        "empty": "",
        "garbage": "not-a-jwt",
        "forged": raw_token({"aud": name}, secret="another-signing-key-" + "y" * 32),
        "expired": raw_token({"aud": name, "iat": now - 120, "exp": now - 60}),
        "wrong audience": token(other, scope),
        "wrong issuer": raw_token({"aud": name, "iss": "someone-else"}),
        "no expiry": raw_token({"aud": name, "exp": None}),
        "tampered signature": token(name, scope)[:-8] + "AAAAAAAA",
        "unsigned": raw_token({"aud": name}).rsplit(".", 1)[0] + ".",
        "scopes not a list": raw_token({"aud": name, "scopes": "admin"}),
    }
    for case, credential in bad.items():
        response = await _status(client, path, credential)
        assert response.status_code == 401, case
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "Missing or invalid credentials."


async def test_a_valid_token_without_the_scope_is_a_403(service: tuple[str, httpx.AsyncClient]) -> None:
    name, client = service
    path, scope = PROBES[name]
    others = [s for _, s in PROBES.values() if s != scope]
    response = await _status(client, path, token(name, *others, "measurements:write"))
    assert response.status_code == 403
    assert scope in response.json()["detail"]
    assert (await _status(client, path, token(name, scope))).status_code == 200
    assert (await _status(client, path, token(name, "admin"))).status_code == 200


async def test_health_needs_no_token(service: tuple[str, httpx.AsyncClient]) -> None:
    _, client = service
    assert (await client.get("/healthz")).status_code == 200


def _dependencies(app: FastAPI, route: APIRoute) -> list[object]:
    """Every dependency callable of ``route`` as the app serves it (router-level ones included)."""
    from fastapi.routing import iter_route_contexts

    found: list[object] = []

    def walk(dependant: Dependant) -> None:
        for sub in dependant.dependencies:
            found.append(sub.call)
            walk(sub)

    for context in iter_route_contexts(app.routes):
        if context.original_route is route:
            walk(context.dependant)
    return found


@pytest.mark.parametrize("app_name", ["gateway", "kpi", "strategy", "talent"])
def test_deny_by_default_every_route_but_health_authenticates_and_declares_its_scope(app_name: str) -> None:
    app = _apps()[app_name]
    for route in api_routes(app.routes):
        calls = _dependencies(app, route)
        if route.path in ("/healthz", "/readyz"):
            assert authenticate not in calls
            continue
        assert authenticate in calls, f"{app_name} {route.path} does not authenticate"
        scopes = [c.scopes for c in calls if isinstance(c, ScopeChecker)]
        assert scopes, f"{app_name} {route.methods} {route.path} declares no scope"


@pytest.mark.parametrize("app_name", ["gateway", "kpi", "strategy", "talent"])
def test_openapi_declares_the_security_scheme_on_every_operation(app_name: str) -> None:
    spec = _apps()[app_name].openapi()
    schemes = spec["components"]["securitySchemes"]
    assert len(schemes) == 1
    expected = "HTTPBearer" if app_name == "gateway" else "APIKeyHeader"
    assert next(iter(schemes)) == expected
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path in ("/healthz", "/readyz"):
                assert "security" not in operation
            else:
                assert operation["security"] == [{expected: []}], f"{method} {path}"


def test_signing_secret_is_required_outside_development(tmp_path: Path) -> None:
    for env in ("production", "test"):
        with pytest.raises(ConfigurationError, match="must be set"):
            internal_token_secret(Settings(env=env, data_dir=tmp_path))
        for weak in ("changeme", "short-secret"):
            with pytest.raises(ConfigurationError, match="placeholder"):
                internal_token_secret(Settings(env=env, data_dir=tmp_path, internal_token_secret=weak))
        strong = "s" * 48
        assert internal_token_secret(Settings(env=env, internal_token_secret=strong)) == strong


def test_development_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = internal_token_secret(Settings(env="development", data_dir=tmp_path))
    second = internal_token_secret(Settings(env="development", data_dir=tmp_path))
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "internal-token-secret").stat().st_mode & 0o777 == 0o600
    assert internal_token_secret(Settings(env="development", data_dir=tmp_path / "other")) != first
