"""API keys: ``pk_<id>_<secret>``, made with :mod:`secrets`, stored as a SHA-256 hash only."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

KEY_PATTERN = re.compile(r"^pk_(?P<id>[a-z0-9]{8,16})_(?P<secret>[A-Za-z0-9]{32,128})$")
ID_LENGTH = 12
SECRET_LENGTH = 40
_ID_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key_id: str
    full: str


def generate_key() -> ParsedKey:
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_LENGTH))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return ParsedKey(key_id, f"pk_{key_id}_{secret}")


def parse_key(value: str) -> ParsedKey | None:
    match = KEY_PATTERN.match(value)
    return ParsedKey(match["id"], value) if match else None


def hash_key(full_key: str) -> str:
    return hashlib.sha256(full_key.encode()).hexdigest()


def key_matches(full_key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(full_key), stored_hash)
