"""Credentials for tests: the signing key services trust in the suite, and tokens made with it."""

from __future__ import annotations

import time

import jwt

from shared.auth import ALGORITHM, ISSUER, Principal, TokenSigner

TEST_SECRET = "test-signing-key-" + "x" * 32


def token(audience: str, *scopes: str, key_id: str = "testkey01", secret: str = TEST_SECRET) -> str:
    """A valid internal token for ``audience`` with ``scopes``."""
    return TokenSigner(secret, ttl_seconds=60).token_for(Principal(key_id, frozenset(scopes)), audience)


def raw_token(claims: dict[str, object], secret: str = TEST_SECRET, algorithm: str = ALGORITHM) -> str:
    """A token with exactly these claims (to forge expired, wrong-audience or malformed ones)."""
    now = int(time.time())
    base: dict[str, object] = {
        "iss": ISSUER, "aud": "kpi", "sub": "testkey01", "scopes": ["admin"], "iat": now, "exp": now + 60
    }  # fmt: skip
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret, algorithm=algorithm)
