"""Where the Ed25519 keys of internal tokens come from (see :mod:`shared.auth` for the tokens).

Outside development they are PEM files named by settings: this process's private key
(``PILOTAGE_INTERNAL_TOKEN_PRIVATE_KEY_FILE``) and the public key of each issuer it trusts
(``PILOTAGE_<ISSUER>_PUBLIC_KEY_FILE``); start-up refuses to run without them, or with a private key
file that group or others can read. In development, one key pair per issuer is generated once into
``<data_dir>/keys/`` (``<issuer>.pem``, mode 0600, and ``<issuer>.pub.pem``) and shared by every
local process; a file named by a setting is used instead when there is one. Make a pair with::

    openssl genpkey -algorithm ed25519 -out gateway.pem && chmod 600 gateway.pem
    openssl pkey -in gateway.pem -pubout -out gateway.pub.pem
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from shared.auth import (
    GATEWAY,
    ConfigurationError,
    GatewayIdentity,
    ServiceIdentity,
    TokenVerifier,
    trusted_issuers,
)
from shared.settings import Settings

PRIVATE_KEY_SETTING = "internal_token_private_key_file"


def _variable(field: str) -> str:
    return f"PILOTAGE_{field.upper()}"


def development_keys_dir(settings: Settings) -> Path:
    return settings.data_dir / "keys"


def _place(path: Path, content: bytes, mode: int) -> None:
    """Written whole under a private name, then linked into place: a process or thread that races us
    sees either no file (and links its own, which fails) or the complete one — never half of it."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def development_key_pair(keys_dir: Path, issuer: str) -> tuple[Path, Path]:
    """``issuer``'s key pair in ``keys_dir``, generated if missing; idempotent and safe to race."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = keys_dir / f"{issuer}.pem", keys_dir / f"{issuer}.pub.pem"
    if not private.exists():
        key = Ed25519PrivateKey.generate()
        _place(private, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), 0o600)
    if not public.exists():  # derived from the private key that won, so every racer writes the same
        derived = _read_private(private, "the development key").public_key()
        _place(public, derived.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), 0o644)
    return private, public


def _read(path: Path, source: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{source} names {path}, which does not exist.") from None
    except OSError as exc:
        raise ConfigurationError(f"{source} names {path}, which cannot be read: {exc.strerror}.") from None


def _read_private(path: Path, source: str) -> Ed25519PrivateKey:
    data = _read(path, source)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(
            f"{source} names {path}, which group or others can read (mode {mode:04o}); "
            f"make it readable by its owner only: chmod 600 {path}"
        )
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{source} names {path}, which is not an unencrypted Ed25519 private key (PEM).")
    return key


def _read_public(path: Path, source: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(_read(path, source))
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{source} names {path}, which is not an Ed25519 public key (PEM).")
    return key


def load_private_key(settings: Settings, issuer: str) -> Ed25519PrivateKey:
    """This process's private key, signing as ``issuer``."""
    configured = settings.internal_token_private_key_file
    if configured is not None:
        return _read_private(configured, _variable(PRIVATE_KEY_SETTING))
    if settings.env != "development":
        variable = _variable(PRIVATE_KEY_SETTING)
        raise ConfigurationError(
            f"{variable} must name the {issuer} private key (PEM) when PILOTAGE_ENV={settings.env}."
        )
    private, _ = development_key_pair(development_keys_dir(settings), issuer)
    return _read_private(private, "the development key")


def load_public_keys(settings: Settings, audience: str) -> dict[str, Ed25519PublicKey]:
    """The public key of every issuer whose tokens ``audience`` accepts."""
    keys = {}
    for issuer in trusted_issuers(audience):
        field = Settings.public_key_setting(issuer)
        configured: Path | None = getattr(settings, field)
        if configured is not None:
            keys[issuer] = _read_public(configured, _variable(field))
        elif settings.env != "development":
            raise ConfigurationError(
                f"{_variable(field)} must name the {issuer} public key (PEM) when PILOTAGE_ENV={settings.env}: "
                f"the {audience} service accepts {issuer}'s tokens."
            )
        else:
            _, public = development_key_pair(development_keys_dir(settings), issuer)
            keys[issuer] = _read_public(public, "the development key")
    return keys


def token_verifier(settings: Settings, audience: str) -> TokenVerifier:
    return TokenVerifier(audience, load_public_keys(settings, audience))


def gateway_identity(settings: Settings) -> GatewayIdentity:
    return GatewayIdentity(load_private_key(settings, GATEWAY), settings.internal_token_ttl_seconds)


def service_identity(settings: Settings, issuer: str) -> ServiceIdentity:
    """``issuer``'s signer. Its key must not be one of the issuers it trusts: a service given the
    gateway's private key (one environment shared by every process, a wrong mount) could forge the
    gateway's tokens, so it refuses to start."""
    private = load_private_key(settings, issuer)
    own = private.public_key()
    for other, public in load_public_keys(settings, issuer).items():
        if other != issuer and public == own:
            raise ConfigurationError(
                f"{_variable(PRIVATE_KEY_SETTING)} holds the {other} private key; the {issuer} service needs its own."
            )
    return ServiceIdentity(issuer, private, settings.internal_token_ttl_seconds)
