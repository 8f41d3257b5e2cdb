"""Signing and verifying internal tokens: issuer policies, the token sources typed clients call,
token reuse, and the verification cache."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from shared.auth import (
    ALGORITHM,
    GATEWAY,
    ISSUERS,
    POLICIES,
    GatewayIdentity,
    Principal,
    ServiceIdentity,
    TokenSource,
    trusted_issuers,
)
from shared.errors import Forbidden, Unauthorized
from shared.settings import Settings
from tests.auth import TEST_KEYS, raw_token, service_token, verifier_for


def _claims(signed: str, issuer: str, audience: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        signed, TEST_KEYS[issuer].public_key(), algorithms=[ALGORITHM], audience=audience
    )
    return claims


def test_every_issuer_a_service_trusts_has_a_public_key_setting() -> None:
    for audience in ISSUERS:
        for issuer in trusted_issuers(audience):
            assert Settings.public_key_setting(issuer) in Settings.model_fields, issuer
    assert trusted_issuers("kpi") == [GATEWAY, "strategy", "talent"]
    assert trusted_issuers("strategy") == trusted_issuers("talent") == [GATEWAY]


def test_no_service_issuer_may_carry_admin() -> None:
    for issuer, policy in POLICIES.items():
        if issuer != GATEWAY:
            assert policy.scopes is not None
            assert all("admin" not in scopes for scopes in policy.scopes.values())
            assert not policy.allows("kpi", frozenset({"admin"}))


def test_a_service_identity_signs_its_fixed_scopes_and_the_caller_it_acts_for() -> None:
    talent = ServiceIdentity("talent", TEST_KEYS["talent"], ttl_seconds=60)
    source: TokenSource = talent  # what a typed client is given
    claims = _claims(source("kpi", "k3f9a1b2c3"), "talent", "kpi")
    assert claims["iss"] == claims["sub"] == "talent"
    assert claims["act"] == "k3f9a1b2c3"
    assert claims["scopes"] == ["kpi:write", "measurements:write"]
    assert claims["aud"] == "kpi"
    strategy = ServiceIdentity("strategy", TEST_KEYS["strategy"], ttl_seconds=60)
    assert _claims(strategy("kpi", "k3f9a1b2c3"), "strategy", "kpi")["scopes"] == ["kpi:read"]
    principal = verifier_for("kpi").verify(strategy("kpi", "k3f9a1b2c3"))
    assert principal == Principal("strategy", frozenset({"kpi:read"}), issuer="strategy", act="k3f9a1b2c3")
    assert principal.recorded_as == "strategy for k3f9a1b2c3"


def test_a_job_names_itself_and_a_call_for_nobody_is_refused() -> None:
    talent = ServiceIdentity("talent", TEST_KEYS["talent"], ttl_seconds=60)
    publish = talent.for_job("hr-publish")
    assert _claims(publish("kpi"), "talent", "kpi")["act"] == "job:hr-publish"
    assert _claims(publish("kpi", "k3f9a1b2c3"), "talent", "kpi")["act"] == "k3f9a1b2c3"  # a caller wins
    assert verifier_for("kpi").verify(publish("kpi")).recorded_as == "talent for job:hr-publish"
    with pytest.raises(ValueError, match="must name"):
        talent("kpi")
    with pytest.raises(ValueError, match="must name"):
        talent("kpi", "Not A Key")
    with pytest.raises(ValueError, match="not a job name"):
        talent.for_job("HR publish")


def test_a_service_identity_signs_nothing_its_policy_does_not_grant() -> None:
    with pytest.raises(ValueError, match="may not call 'strategy'"):
        ServiceIdentity("talent", TEST_KEYS["talent"], ttl_seconds=60)("strategy", "k3f9a1b2c3")
    with pytest.raises(ValueError, match="may not call 'talent'"):
        ServiceIdentity("kpi", TEST_KEYS["kpi"], ttl_seconds=60)("talent", "k3f9a1b2c3")
    with pytest.raises(ValueError, match="not a service issuer"):
        ServiceIdentity(GATEWAY, TEST_KEYS[GATEWAY], ttl_seconds=60)


def test_the_gateway_forwards_its_callers_key_id_and_scopes() -> None:
    gateway = GatewayIdentity(TEST_KEYS[GATEWAY], ttl_seconds=60)
    caller = Principal("k3f9a1b2c3", frozenset({"strategy:read", "kpi:read"}))
    source = gateway.for_caller(caller)
    claims = _claims(source("strategy"), GATEWAY, "strategy")
    assert (claims["iss"], claims["sub"], claims["scopes"]) == (GATEWAY, "k3f9a1b2c3", ["kpi:read", "strategy:read"])
    assert "act" not in claims
    assert source("kpi", "k3f9a1b2c3") == gateway.token_for(caller, "kpi")
    with pytest.raises(ValueError, match="forwards its caller"):
        source("kpi", "someoneelse")


def test_a_token_is_reused_for_half_its_lifetime(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    talent = ServiceIdentity("talent", TEST_KEYS["talent"], ttl_seconds=60)
    first = talent("kpi", "k3f9a1b2c3")
    clock[0] += 29
    assert talent("kpi", "k3f9a1b2c3") == first
    assert talent("kpi", "otherkey01") != first  # another caller, another token
    clock[0] += 2
    renewed = talent("kpi", "k3f9a1b2c3")
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["iat"] == 1_000_031


def test_a_verified_token_is_cached_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = verifier_for("kpi")
    expires = int(time.time()) + 1
    signed = raw_token({"aud": "kpi", "scopes": ["kpi:read"], "exp": expires})
    decodes = 0
    original = jwt.decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    first = verifier.verify(signed)
    verified_once = decodes
    assert verified_once > 0
    assert verifier.verify(signed) is first
    assert decodes == verified_once, "a cached token is not verified again"
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    assert verifier.verify(signed) == first  # within the clock leeway: verified again, still valid
    assert decodes > verified_once, "an expired token leaves the cache"


def test_a_service_token_is_refused_by_any_audience_its_policy_does_not_name() -> None:
    for audience in ("strategy", "talent", "probe"):
        with pytest.raises(Unauthorized):
            verifier_for(audience).verify(service_token("talent", audience, "kpi:write", "measurements:write"))
        with pytest.raises(Unauthorized):
            verifier_for(audience).verify(service_token("strategy", audience, "kpi:read"))


def test_a_principal_limited_to_a_prefix_refuses_other_kpis_by_name() -> None:
    talent = Principal("talent", frozenset({"kpi:write"}), issuer="talent", act="k3f9a1b2c3", key_prefix="hr.")
    talent.require_kpi_keys([("/key", "hr.headcount.sales")], location="body")
    with pytest.raises(Forbidden) as refused:
        talent.require_kpi_keys(
            [("/points/0/kpi", "hr.enps.sales"), ("/points/1/kpi", "supply.otd"), ("/points/2/kpi", "HR.x")],
            location="body",
        )
    assert "talent for k3f9a1b2c3" in str(refused.value.detail)
    assert "'supply.otd', 'HR.x'" in str(refused.value.detail)
    assert [e.pointer for e in refused.value.errors or []] == ["/points/1/kpi", "/points/2/kpi"]
    unrestricted = Principal("k3f9a1b2c3", frozenset({"admin"}))
    unrestricted.require_kpi_keys([("id_or_key", "supply.otd")], location="path")
    assert unrestricted.recorded_as == "k3f9a1b2c3"
