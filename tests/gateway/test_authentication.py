"""API keys at the gateway: one answer for every bad credential, rate limits, internal tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.types import Receive, Scope, Send

from services.gateway.config import GatewaySettings
from services.gateway.keys import generate_key
from services.gateway.main import build_app
from shared.auth import ALGORITHM, GATEWAY, INTERNAL_TOKEN_HEADER, ConfigurationError
from shared.db import plain_url
from tests.auth import KEYS_DIR, TEST_KEYS, key_file_settings, raw_token, verifier_for
from tests.gateway.conftest import Gateway, running_gateway
from tests.servers import free_port, serve


async def token_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """An upstream answering with the internal token it was given (and every header name)."""
    while (await receive()).get("more_body"):
        pass
    headers = dict(scope["headers"])
    body = orjson.dumps(
        {"token": headers.get(INTERNAL_TOKEN_HEADER.encode(), b"").decode(), "names": [k.decode() for k in headers]}
    )
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def gateway(database_url: str, admin_key: str) -> AsyncIterator[Gateway]:
    async with serve(token_echo) as upstream:
        urls = {"kpi_url": upstream, "strategy_url": upstream, "talent_url": upstream}
        async with running_gateway(database_url, admin_key, **urls) as gateway:
            yield gateway


async def make_key(gateway: Gateway, *scopes: str, **fields: object) -> dict[str, Any]:
    response = await gateway.client.post("/v1/api-keys", json={"name": "test", "scopes": list(scopes), **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_every_bad_credential_gets_the_same_401(gateway: Gateway) -> None:
    revoked = await make_key(gateway, "kpi:read")
    assert (await gateway.client.delete(f"/v1/api-keys/{revoked['id']}")).status_code == 204
    expiring = await make_key(
        gateway, "kpi:read", expires_at=(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    )
    await asyncio.sleep(1.2)
    good = await make_key(gateway, "kpi:read")
    wrong_secret = str(good["key"])[:-4] + "AAAA"
    presented: dict[str, dict[str, str]] = {
        "missing": {},
        "not bearer": {"Authorization": f"Basic {good['key']}"},
        "empty bearer": {"Authorization": "Bearer"},
        "malformed": {"Authorization": "Bearer hello"},
        "unknown": {"Authorization": f"Bearer {generate_key().full}"},
        "wrong secret": {"Authorization": f"Bearer {wrong_secret}"},
        "revoked": {"Authorization": f"Bearer {revoked['key']}"},
        "expired": {"Authorization": f"Bearer {expiring['key']}"},
    }
    bodies = set()
    for case, headers in presented.items():
        async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as client:
            response = await client.get("/v1/kpis")
        assert response.status_code == 401, case
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        bodies.add((body["type"], body["title"], body["detail"]))
    assert len(bodies) == 1, "a 401 must not hint at which check failed"


async def test_health_and_docs_need_no_key(gateway: Gateway) -> None:
    async with gateway.as_key(None) as anonymous:
        assert (await anonymous.get("/healthz")).status_code == 200
        assert (await anonymous.get("/readyz")).status_code == 200
        assert (await anonymous.get("/openapi.json")).status_code == 200
        assert (await anonymous.get("/v1/api-keys")).status_code == 401
        assert (await anonymous.get("/v1/audit-events")).status_code == 401


async def test_forwards_a_signed_short_lived_token_for_the_target_service(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:read", "strategy:read")
    async with gateway.as_key(str(key["key"])) as client:
        kpi = (await client.get("/v1/kpis")).json()
        strategy = (await client.get("/v1/objectives")).json()
    public = TEST_KEYS[GATEWAY].public_key()
    claims = jwt.decode(kpi["token"], public, algorithms=[ALGORITHM], audience="kpi")
    assert jwt.get_unverified_header(kpi["token"])["alg"] == "EdDSA"
    assert claims["sub"] == key["id"]
    assert claims["iss"] == "gateway"
    assert "act" not in claims
    assert sorted(claims["scopes"]) == ["kpi:read", "strategy:read"]
    assert 0 < claims["exp"] - claims["iat"] <= 60
    assert jwt.decode(strategy["token"], public, algorithms=[ALGORITHM], audience="strategy")["aud"] == "strategy"
    principal = verifier_for("kpi").verify(kpi["token"])  # what the KPI service makes of it
    assert (principal.issuer, principal.key_id, principal.act, principal.key_prefix) == (GATEWAY, key["id"], None, None)
    assert "authorization" not in kpi["names"]


async def test_a_client_supplied_internal_token_is_dropped(gateway: Gateway) -> None:
    forged = raw_token({"sub": "x", "scopes": ["admin"], "aud": "kpi"}, key=Ed25519PrivateKey.generate())
    key = await make_key(gateway, "kpi:read")
    async with gateway.as_key(str(key["key"])) as client:
        seen = (await client.get("/v1/kpis", headers={INTERNAL_TOKEN_HEADER: forged})).json()
    assert seen["token"] != forged
    assert verifier_for("kpi").verify(seen["token"]).scopes == {"kpi:read"}
    async with gateway.as_key(None) as anonymous:
        assert (await anonymous.get("/v1/kpis", headers={INTERNAL_TOKEN_HEADER: forged})).status_code == 401


async def test_revocation_takes_effect_within_a_second_on_another_process(
    gateway: Gateway, database_url: str, admin_key: str
) -> None:
    key = await make_key(gateway, "kpi:read")
    async with running_gateway(database_url, admin_key) as other, other.as_key(str(key["key"])) as client:
        assert (await client.get("/v1/api-keys")).status_code == 403  # authenticated, cached on `other`
        assert (await gateway.client.delete(f"/v1/api-keys/{key['id']}")).status_code == 204
        await asyncio.sleep(1.05)
        assert (await client.get("/v1/api-keys")).status_code == 401


async def test_rate_limit_answers_429_then_recovers(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:read", rate_limit_per_second=2)  # burst of 4
    async with gateway.as_key(str(key["key"])) as client:
        statuses = [(await client.get("/v1/kpis")).status_code for _ in range(4)]
        assert statuses == [200] * 4
        limited = await client.get("/v1/kpis")
        assert limited.status_code == 429
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["ratelimit-limit"] == "4"
        assert limited.headers["ratelimit-remaining"] == "0"
        assert int(limited.headers["ratelimit-reset"]) >= 1
        await asyncio.sleep(float(limited.headers["retry-after"]))
        assert (await client.get("/v1/kpis")).status_code == 200
    # Another key is not affected by this one's burst.
    async with gateway.as_key(gateway.admin_key) as admin:
        assert (await admin.get("/v1/kpis")).status_code == 200


async def test_api_key_lifecycle(gateway: Gateway) -> None:
    created = await make_key(gateway, "measurements:write", "kpi:read")
    assert str(created["key"]).startswith(f"pk_{created['id']}_")
    assert created["scopes"] == ["kpi:read", "measurements:write"]
    assert created["created_by"] == gateway.admin_key.split("_")[1]
    one = (await gateway.client.get(f"/v1/api-keys/{created['id']}")).json()
    assert "key" not in one
    assert "secret_hash" not in one
    listed = (await gateway.client.get("/v1/api-keys", params={"limit": 500})).json()["items"]
    assert created["id"] in {k["id"] for k in listed}
    assert (await gateway.client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204
    assert (await gateway.client.delete(f"/v1/api-keys/{created['id']}")).status_code == 204  # idempotent
    listed = (await gateway.client.get("/v1/api-keys", params={"limit": 500})).json()["items"]
    assert created["id"] not in {k["id"] for k in listed}
    revoked = (await gateway.client.get("/v1/api-keys", params={"limit": 500, "revoked": True})).json()["items"]
    assert next(k for k in revoked if k["id"] == created["id"])["revoked_at"] is not None
    assert (await gateway.client.get("/v1/api-keys/nosuchkey1")).status_code == 404
    assert (await gateway.client.delete("/v1/api-keys/NOT-VALID")).status_code == 422


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": "x", "scopes": ["kpi:everything"]}, "/scopes/0"),
        ({"name": "x", "scopes": []}, "/scopes"),
        ({"name": "", "scopes": ["kpi:read"]}, "/name"),
        ({"name": "x", "scopes": ["kpi:read"], "expires_at": "2020-01-01T00:00:00Z"}, "/expires_at"),
        ({"name": "x", "scopes": ["kpi:read"], "expires_at": "2099-01-01T00:00:00"}, "/expires_at"),
        ({"name": "x", "scopes": ["kpi:read"], "owner": "me"}, "/owner"),
        # Beyond year 9999 once in UTC: a 500 before, when the value could not be stored.
        ({"name": "x", "scopes": ["kpi:read"], "expires_at": "9999-12-31T23:59:59-14:00"}, "/expires_at"),
        # Accepted before, then every request of the key was a 500 (a refill of one per 10^320 s).
        ({"name": "x", "scopes": ["kpi:read"], "rate_limit_per_second": 1e-320}, "/rate_limit_per_second"),
        ({"name": "x", "scopes": ["kpi:read"], "rate_limit_per_second": 0}, "/rate_limit_per_second"),
    ],
)
async def test_invalid_key_requests_are_refused_field_by_field(
    gateway: Gateway, body: dict[str, object], pointer: str
) -> None:
    response = await gateway.client.post("/v1/api-keys", json=body)
    assert response.status_code == 422
    assert pointer in {e["pointer"] for e in response.json()["errors"]}


async def test_only_admin_manages_keys_and_reads_the_audit(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:read", "kpi:write", "measurements:write", "talent:sensitive")
    async with gateway.as_key(str(key["key"])) as client:
        for method, path in (("POST", "/v1/api-keys"), ("GET", "/v1/api-keys"), ("GET", "/v1/audit-events")):
            response = await client.request(method, path, json={"name": "x", "scopes": ["admin"]})
            assert response.status_code == 403, path
            assert "'admin'" in response.json()["detail"]


async def test_writes_are_audited_reads_are_not(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:write", "kpi:read")
    async with gateway.as_key(str(key["key"])) as client:
        await client.get("/v1/kpis")
        await client.post("/v1/measurements", json={"points": []}, headers={"x-request-id": "audit-me"})
        await client.patch("/v1/kpis/ops.scrap_rate", json={})
    await gateway.runtime.audit.flush()
    events = (await gateway.client.get("/v1/audit-events", params={"key_id": key["id"]})).json()["items"]
    assert [(e["method"], e["path"], e["resource_id"], e["status"]) for e in events] == [
        ("POST", "/v1/measurements", None, 200),
        ("PATCH", "/v1/kpis/ops.scrap_rate", "ops.scrap_rate", 200),
    ]
    assert events[0]["request_id"] == "audit-me"
    filtered = await gateway.client.get("/v1/audit-events", params={"key_id": key["id"], "method": "patch"})
    assert [e["method"] for e in filtered.json()["items"]] == ["PATCH"]
    since = events[1]["occurred_at"]
    later = await gateway.client.get("/v1/audit-events", params={"key_id": key["id"], "since": since})
    assert [e["path"] for e in later.json()["items"]] == ["/v1/kpis/ops.scrap_rate"]
    # Key management is a write too, and is audited with the key it concerns.
    admin_events = (
        await gateway.client.get("/v1/audit-events", params={"path_prefix": "/v1/api-keys", "status": 201})
    ).json()["items"]
    assert key["id"] in {e["resource_id"] for e in admin_events}


async def test_audit_filters_are_validated(gateway: Gateway) -> None:
    for params in ({"since": "2026-01-01T00:00:00"}, {"method": "GET"}, {"status": 99}, {"key_id": "UPPER"}):
        response = await gateway.client.get("/v1/audit-events", params=params)
        assert response.status_code == 422, params


async def test_key_secrets_never_reach_the_database_or_the_logs(
    gateway: Gateway, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = await make_key(gateway, "kpi:read")
    secret = str(key["key"]).split("_")[2]
    async with gateway.as_key(str(key["key"])) as client:
        await client.get("/v1/kpis")
    connection = await asyncpg.connect(plain_url(database_url))
    try:
        dump = await connection.fetchval("SELECT string_agg(t::text, '|') FROM gateway.api_keys t")
        audit = await connection.fetchval("SELECT coalesce(string_agg(t::text, '|'), '') FROM gateway.audit_events t")
    finally:
        await connection.close()
    assert secret not in dump
    assert secret not in audit
    assert secret not in caplog.text
    listed = (await gateway.client.get("/v1/api-keys", params={"limit": 500})).text
    assert secret not in listed


async def test_concurrent_misses_share_one_database_read(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:read")
    store = gateway.runtime.keys
    loads = 0
    original = store._load

    async def counting(key_id: str) -> object:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)  # a slow database: every request arrives during the read
        return await original(key_id)

    store._load = counting  # type: ignore[assignment,method-assign]
    store.forget(str(key["id"]))
    results = await asyncio.gather(*(store.authenticate(str(key["key"])) for _ in range(20)))
    assert loads == 1
    assert all(r is not None and r.principal.key_id == key["id"] for r in results)


async def test_cors_allows_only_the_configured_origins(database_url: str, admin_key: str) -> None:
    async with running_gateway(database_url, admin_key, cors_origins=["https://dash.example.com"]) as gateway:
        async with gateway.as_key(None) as browser:
            preflight = await browser.options(
                "/v1/kpis",
                headers={
                    "Origin": "https://dash.example.com",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert preflight.status_code == 200  # answered before authentication is asked for
            assert preflight.headers["access-control-allow-origin"] == "https://dash.example.com"
            foreign = await browser.options(
                "/v1/kpis", headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"}
            )
            assert "access-control-allow-origin" not in foreign.headers
        response = await gateway.client.get("/v1/api-keys", headers={"Origin": "https://dash.example.com"})
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "X-Request-Id" in response.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"env": "production", "internal_token_private_key_file": None}, "PILOTAGE_INTERNAL_TOKEN_PRIVATE_KEY_FILE"),
        ({"env": "production", "internal_token_private_key_file": KEYS_DIR / "none.pem"}, "does not exist"),
        ({"bootstrap_admin_key": "pk_short_secret"}, "PILOTAGE_BOOTSTRAP_ADMIN_KEY"),
    ],
)
async def test_the_gateway_refuses_to_start_on_unsafe_settings(
    database_url: str, admin_key: str, overrides: dict[str, object], named: str
) -> None:
    values: dict[str, object] = {
        "database_url": database_url, **key_file_settings(GATEWAY), "bootstrap_admin_key": admin_key
    }  # fmt: skip
    app = build_app(GatewaySettings(**{**values, **overrides}))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=named):
        async with app.router.lifespan_context(app):
            pass


async def test_the_gateway_refuses_a_private_key_that_others_can_read(
    database_url: str, admin_key: str, tmp_path: Path
) -> None:
    shared_key = tmp_path / "gateway.pem"
    shutil.copyfile(KEYS_DIR / "gateway.pem", shared_key)
    shared_key.chmod(0o640)
    settings = GatewaySettings(
        database_url=database_url, internal_token_private_key_file=shared_key, bootstrap_admin_key=admin_key
    )
    app = build_app(settings)
    with pytest.raises(ConfigurationError, match=r"group or others can read \(mode 0640\).*chmod 600"):
        async with app.router.lifespan_context(app):
            pass


async def test_a_request_cannot_poison_the_audit_trail(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:write")
    async with gateway.as_key(str(key["key"])) as client:
        await client.post("/v1/kpis/%00nul")  # PostgreSQL text refuses NUL
        await client.request("UNSUBSCRIBE", "/v1/kpis/x")  # longer than any HTTP method column
        await client.post("/v1/kpis/after")
    await gateway.runtime.audit.flush()
    events = (await gateway.client.get("/v1/audit-events", params={"key_id": key["id"]})).json()["items"]
    assert [(e["method"], e["resource_id"]) for e in events] == [
        ("POST", "\ufffdnul"),
        ("UNSUBSCRIB", "x"),
        ("POST", "after"),
    ]


async def test_an_unreachable_database_is_a_503_not_a_500(admin_key: str) -> None:
    dead = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    async with running_gateway(dead, admin_key, bootstrap_admin_key=None, db_connect_timeout=1) as gateway:
        response = await gateway.client.get("/v1/kpis")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
        ready = await gateway.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["status"] == "failing"


async def test_a_caller_giving_up_does_not_fail_the_others_waiting_for_the_same_key(gateway: Gateway) -> None:
    key = await make_key(gateway, "kpi:read")
    store = gateway.runtime.keys
    original = store._load

    async def slow(key_id: str) -> object:
        await asyncio.sleep(0.1)
        return await original(key_id)

    store._load = slow  # type: ignore[assignment,method-assign]
    store.forget(str(key["id"]))
    impatient = asyncio.create_task(store.authenticate(str(key["key"])))
    await asyncio.sleep(0.01)
    patient = asyncio.create_task(store.authenticate(str(key["key"])))
    await asyncio.sleep(0.01)
    impatient.cancel()
    result = await patient
    assert result is not None
    assert result.principal.key_id == key["id"]
