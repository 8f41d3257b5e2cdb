"""Credentials for tests: an Ed25519 key pair per issuer, made once per test run (never the data
folder's), the verifier services trust in the suite, and tokens signed with those keys."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from shared.auth import (
    ALGORITHM,
    GATEWAY,
    ISSUERS,
    GatewayIdentity,
    Principal,
    TokenSigner,
    TokenVerifier,
    trusted_issuers,
)
from shared.settings import Settings

TEST_KEYS: dict[str, Ed25519PrivateKey] = {issuer: Ed25519PrivateKey.generate() for issuer in ISSUERS}
# Test tokens outlive the suite: a module may make its token once, at import.
TTL_SECONDS = 3600
_GATEWAY = GatewayIdentity(TEST_KEYS[GATEWAY], ttl_seconds=TTL_SECONDS)


def _write_key_files(directory: Path) -> None:
    for issuer, key in TEST_KEYS.items():
        private = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        descriptor = os.open(directory / f"{issuer}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(private)
        public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        (directory / f"{issuer}.pub.pem").write_bytes(public)


KEYS_DIR = Path(tempfile.mkdtemp(prefix="pilotage-test-keys-"))
atexit.register(shutil.rmtree, KEYS_DIR, ignore_errors=True)
_write_key_files(KEYS_DIR)


def install_test_keys(data_dir: Path) -> Path:
    """Lay the suite's key pairs where a development platform in ``data_dir`` looks for its own, so
    that processes started by a test trust (and sign with) the keys the test signs with."""
    keys = data_dir / "keys"
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in KEYS_DIR.iterdir():
        shutil.copy2(path, keys / path.name)
    return data_dir


def key_file_settings(issuer: str) -> dict[str, object]:
    """Settings naming the test key files: ``issuer``'s private key and every trusted public key."""
    values: dict[str, object] = {"internal_token_private_key_file": KEYS_DIR / f"{issuer}.pem"}
    for trusted in ISSUERS:
        field = Settings.public_key_setting(trusted)
        if field in Settings.model_fields:
            values[field] = KEYS_DIR / f"{trusted}.pub.pem"
    return values


def verifier_for(audience: str) -> TokenVerifier:
    """What ``audience`` verifies with in the suite: the test public keys of the issuers it trusts."""
    return TokenVerifier(audience, {issuer: TEST_KEYS[issuer].public_key() for issuer in trusted_issuers(audience)})


def token(audience: str, *scopes: str, key_id: str = "testkey01") -> str:
    """A valid token the gateway forwards to ``audience`` for the key ``key_id`` holding ``scopes``."""
    return _GATEWAY.token_for(Principal(key_id, frozenset(scopes)), audience)


def service_token(issuer: str, audience: str, *scopes: str, act: str = "testkey01") -> str:
    """A token ``issuer`` signs with its own key, carrying exactly ``scopes`` (even ones its policy
    does not allow: :class:`ServiceIdentity` would never sign those, a compromised service might)."""
    signer = TokenSigner(issuer, TEST_KEYS[issuer], ttl_seconds=TTL_SECONDS)
    return signer.sign(audience, issuer, frozenset(scopes), act)


def raw_token(
    claims: dict[str, object],
    key: Ed25519PrivateKey | bytes | str = TEST_KEYS[GATEWAY],
    algorithm: str = ALGORITHM,
) -> str:
    """A token with exactly these claims (a ``None`` value removes the claim), signed with ``key``."""
    now = int(time.time())
    base: dict[str, object] = {
        "iss": GATEWAY, "aud": "kpi", "sub": "testkey01", "scopes": ["admin"], "iat": now, "exp": now + TTL_SECONDS
    }  # fmt: skip
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, key, algorithm=algorithm)
