"""Optimistic concurrency (``ETag`` / ``If-Match``) and replay of creating POSTs (``Idempotency-Key``)."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header

from shared.errors import FieldError, PreconditionFailed, PreconditionRequired

IfMatch = Annotated[
    str | None,
    Header(description="The `ETag` of the version you changed; required, 412 when it is not current any more."),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=200,
        description="Send the same key to retry a create safely: the first response is replayed.",
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def require_if_match(if_match: str | None, version: int) -> None:
    """428 without ``If-Match``; 412 unless it names the current version (or is ``*``)."""
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the ETag you read, so that a concurrent change is not overwritten.",
            errors=[FieldError(location="header", parameter="If-Match", message="Required.", code="missing")],
        )
    candidates = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in candidates and etag(version) not in candidates:
        raise PreconditionFailed(
            f"The resource changed since you read it (now {etag(version)}); read it again and retry.",
            headers={"ETag": etag(version)},
        )


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()
