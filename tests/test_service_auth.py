"""Every service verifies the internal token itself and enforces scopes: reached directly, it is closed.
A service's own token carries only what its issuer policy allows, and talent writes only ``hr.*`` KPIs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.app import create_app
from shared.auth import (
    GATEWAY,
    INTERNAL_TOKEN_HEADER,
    ConfigurationError,
    CurrentPrincipal,
    RequireScope,
    Scope,
    ScopeChecker,
    authenticate,
    internal_token_scheme,
)
from shared.settings import Settings
from tests.auth import TEST_KEYS, key_file_settings, raw_token, service_token, token
from tests.conftest import bind_app
from tests.kpi_service.helpers import kpi_body
from tests.routes import api_routes

# One route per service, with the scope it needs.
PROBES = {
    "kpi": ("/v1/kpis", "kpi:read"),
    "strategy": ("/v1/objectives", "strategy:read"),
    "talent": ("/v1/org-units", "talent:read"),
}


def _public(issuer: str, encoding: Encoding) -> bytes:
    fmt = PublicFormat.Raw if encoding is Encoding.Raw else PublicFormat.SubjectPublicKeyInfo
    return TEST_KEYS[issuer].public_key().public_bytes(encoding, fmt)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(claims: dict[str, Any], secret: bytes) -> str:
    """Algorithm confusion, made by hand (PyJWT refuses to HMAC with a PEM key): an HS256 token
    whose secret is the gateway's public key, which every verifier holds."""
    now = int(time.time())
    body = {"iss": GATEWAY, "sub": "testkey01", "scopes": ["admin"], "iat": now, "exp": now + 60, **claims}
    signing_input = _b64(b'{"alg":"HS256","typ":"JWT"}') + "." + _b64(json.dumps(body).encode())
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def _with_claims(signed: str, changes: dict[str, Any]) -> str:
    header, payload, signature = signed.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, _b64(json.dumps({**claims, **changes}).encode()), signature])


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
        "signed by an unknown key": raw_token({"aud": name}, key=Ed25519PrivateKey.generate()),
        "a service's key posing as the gateway": raw_token({"aud": name}, key=TEST_KEYS["talent"]),
        "alg none": raw_token({"aud": name}, key="", algorithm="none"),
        "signature stripped": raw_token({"aud": name}).rsplit(".", 1)[0] + ".",
        "HS256 keyed with the gateway's public PEM": _hs256({"aud": name}, _public(GATEWAY, Encoding.PEM)),
        "HS256 keyed with the gateway's raw public key": _hs256({"aud": name}, _public(GATEWAY, Encoding.Raw)),
        "expired": raw_token({"aud": name, "iat": now - 120, "exp": now - 60}),
        "wrong audience": token(other, scope),
        "unknown issuer": raw_token({"aud": name, "iss": "someone-else"}),
        "no issuer": raw_token({"aud": name, "iss": None}),
        "issuer with no policy here (kpi)": service_token("kpi", name, scope),
        "strategy addressing a service other than kpi": service_token("strategy", other if name == "kpi" else name),
        "no expiry": raw_token({"aud": name, "exp": None}),
        "tampered signature": token(name, scope)[:-8] + "AAAAAAAA",
        "tampered claims": _with_claims(token(name, scope), {"scopes": ["admin"]}),
        "scopes not a list": raw_token({"aud": name, "scopes": "admin"}),
        "audience as a list": raw_token({"aud": [name, other]}),
        "gateway token naming an act": raw_token({"aud": name, "act": "k3f9a1b2c3"}),
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


# --------------------------------------------------------------------------- services' own tokens


def _as(credential: str) -> dict[str, str]:
    return {INTERNAL_TOKEN_HEADER: credential}


TALENT = ("kpi:write", "measurements:write")


async def test_a_service_token_within_its_policy_gets_in(kpi_client: httpx.AsyncClient) -> None:
    assert (
        await kpi_client.get("/v1/kpis", headers=_as(service_token("strategy", "kpi", "kpi:read")))
    ).status_code == 200
    job = service_token("talent", "kpi", *TALENT, act="job:hr-publish")
    assert (await kpi_client.post("/v1/measurements", json={"points": []}, headers=_as(job))).status_code == 200


async def test_a_service_token_beyond_its_policy_is_refused_not_trimmed(kpi_client: httpx.AsyncClient) -> None:
    beyond = {
        "strategy writing KPIs": service_token("strategy", "kpi", "kpi:read", "kpi:write"),
        "strategy as admin": service_token("strategy", "kpi", "admin"),
        "talent reading KPIs": service_token("talent", "kpi", *TALENT, "kpi:read"),
        "talent as admin": service_token("talent", "kpi", "admin"),
        "talent reading salaries": service_token("talent", "kpi", "talent:sensitive"),
        "talent acting for nobody": raw_token(
            {"iss": "talent", "sub": "talent", "scopes": list(TALENT)}, TEST_KEYS["talent"]
        ),
        "talent acting for a malformed caller": service_token("talent", "kpi", *TALENT, act="K3F9 ; drop"),
        "talent naming another subject": raw_token(
            {"iss": "talent", "sub": "testkey01", "act": "testkey01", "scopes": list(TALENT)}, TEST_KEYS["talent"]
        ),
        "talent signing as strategy": raw_token(
            {"iss": "strategy", "sub": "strategy", "act": "testkey01", "scopes": ["kpi:read"]}, TEST_KEYS["talent"]
        ),
    }
    for case, credential in beyond.items():
        for method, path in (("GET", "/v1/kpis"), ("POST", "/v1/measurements")):
            response = await kpi_client.request(method, path, json={"points": []}, headers=_as(credential))
            assert response.status_code == 401, (case, path)
            assert response.json()["detail"] == "Missing or invalid credentials."


async def test_talent_writes_only_hr_kpis_through_the_real_kpi_app(
    kpi_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    talent = _as(service_token("talent", "kpi", *TALENT, act="k3f9a1b2c3"))
    definition = {"name": "x", "unit": "ratio", "domain": "hr", "direction": "decrease", "aggregation": "last"}
    foreign = await kpi_client.post("/v1/kpis", json={**definition, "key": "supply.otd", "cadence": "daily"})
    assert foreign.status_code == 201  # made by an admin caller: not talent's to change
    own = await kpi_client.post(
        "/v1/kpis", json={**definition, "key": "hr.turnover_rate.sales", "cadence": "monthly"}, headers=talent
    )
    assert own.status_code == 201, own.text

    refused = await kpi_client.post(
        "/v1/kpis", json={**definition, "key": "hrx.sneaky", "cadence": "daily"}, headers=talent
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "'hrx.sneaky'" in refused.json()["detail"]
    assert refused.json()["errors"] == [
        {"location": "body", "pointer": "/key", "code": "kpi_key_not_allowed",
         "message": "KPI 'hrx.sneaky' does not start with 'hr.'."}
    ]  # fmt: skip
    foreign_id = foreign.json()["id"]
    writes: dict[str, tuple[str, str, dict[str, Any] | None]] = {
        "change": ("PATCH", "/v1/kpis/supply.otd", {"name": "mine"}),
        "change by id": ("PATCH", f"/v1/kpis/{foreign_id}", {"name": "mine"}),
        "archive": ("DELETE", "/v1/kpis/supply.otd", None),
        "targets": ("PUT", "/v1/kpis/supply.otd/targets", {"targets": []}),
    }
    for case, (method, path, body) in writes.items():
        response = await kpi_client.request(method, path, json=body, headers={**talent, "If-Match": '"1"'})
        assert response.status_code == 403, (case, response.text)
        [error] = response.json()["errors"]
        assert (error["location"], error["parameter"]) == ("path", "id_or_key"), case
        assert "'supply.otd'" in error["message"]

    ts = "2026-03-01T00:00:00Z"
    mixed = {
        "points": [
            {"kpi": "hr.turnover_rate.sales", "ts": ts, "value": 0.1},
            {"kpi": "supply.otd", "ts": ts, "value": 1},
        ]
    }
    response = await kpi_client.post("/v1/measurements", json=mixed, headers=talent)
    assert response.status_code == 403
    assert [e["pointer"] for e in response.json()["errors"]] == ["/points/1/kpi"]
    assert (await kpi_client.get("/v1/kpis/hr.turnover_rate.sales/measurements")).json()[
        "items"
    ] == []  # nothing written

    changed = await kpi_client.patch(
        "/v1/kpis/hr.turnover_rate.sales", json={"name": "Turnover"}, headers={**talent, "If-Match": '"1"'}
    )
    assert changed.status_code == 200, changed.text
    assert (
        await kpi_client.put("/v1/kpis/hr.turnover_rate.sales/targets", json={"targets": []}, headers=talent)
    ).status_code == 200
    pushed = await kpi_client.post("/v1/measurements", json={"points": mixed["points"][:1]}, headers=talent)
    assert pushed.status_code == 200, pushed.text
    recorded = await connection.scalar(
        text("SELECT m.recorded_by FROM kpi.measurements m JOIN kpi.kpis k ON k.id = m.kpi_id WHERE k.key = :key"),
        {"key": "hr.turnover_rate.sales"},
    )
    assert recorded == "talent for k3f9a1b2c3"  # who acted, for whom


async def test_a_caller_through_the_gateway_is_recorded_by_its_key_id(
    kpi_client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    await kpi_client.post("/v1/kpis", json=kpi_body(key="ops.scrap"))
    body = {"points": [{"kpi": "ops.scrap", "ts": "2026-03-01T00:00:00Z", "value": 2}]}
    caller = _as(token("kpi", "measurements:write", key_id="k3f9a1b2c3"))
    assert (await kpi_client.post("/v1/measurements", json=body, headers=caller)).status_code == 200
    recorded = await connection.scalar(
        text("SELECT recorded_by FROM kpi.measurements ORDER BY recorded_at DESC LIMIT 1")
    )
    assert recorded == "k3f9a1b2c3"


# --------------------------------------------------------------------------- start-up


whoami = APIRouter(prefix="/v1", tags=["probe"])


@whoami.get("/whoami", dependencies=[RequireScope(Scope.kpi_read, Scope.measurements_write)])
async def who_am_i(principal: CurrentPrincipal) -> dict[str, object]:
    return {
        "key_id": principal.key_id,
        "issuer": principal.issuer,
        "act": principal.act,
        "prefix": principal.key_prefix,
    }


def _service_app(name: str, settings: Settings) -> FastAPI:
    return create_app(
        service=name, title=name, description="", settings=settings, routers=[whoami], uses_database=False,
        security=internal_token_scheme,
    )  # fmt: skip


@pytest.mark.parametrize("name", ["kpi", "strategy", "talent"])
async def test_a_service_refuses_to_start_without_its_keys_outside_development(name: str, tmp_path: Path) -> None:
    for env in ("production", "test"):
        app = _service_app(name, Settings(env=env, data_dir=tmp_path))
        with pytest.raises(ConfigurationError, match=rf"PILOTAGE_\w+_FILE must name .* PILOTAGE_ENV={env}"):
            async with app.router.lifespan_context(app):
                pass
    assert not (tmp_path / "keys").exists(), "nothing is generated outside development"


async def test_a_service_starts_on_its_named_key_files_and_verifies_its_callers(tmp_path: Path) -> None:
    settings = Settings(env="production", data_dir=tmp_path, **key_file_settings("kpi"))  # type: ignore[arg-type]
    app = _service_app("kpi", settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            caller = await client.get("/v1/whoami", headers=_as(token("kpi", "kpi:read", key_id="k3f9a1b2c3")))
            talent = await client.get("/v1/whoami", headers=_as(service_token("talent", "kpi", *TALENT)))
            forged = await client.get("/v1/whoami", headers=_as(raw_token({"aud": "kpi"}, key=TEST_KEYS["kpi"])))
        assert app.state.identity.issuer == "kpi"
    assert caller.json() == {"key_id": "k3f9a1b2c3", "issuer": "gateway", "act": None, "prefix": None}
    assert talent.json() == {"key_id": "talent", "issuer": "talent", "act": "testkey01", "prefix": "hr."}
    assert forged.status_code == 401
    del app.state.authenticator, app.state.identity
