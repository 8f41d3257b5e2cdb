"""The gateway's rules: authenticating API keys, managing them, and recording the audit trail."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.gateway import repository
from services.gateway.keys import generate_key, hash_key, key_matches, parse_key
from services.gateway.models import ApiKey, AuditEvent
from services.gateway.schemas import ApiKeyCreate, ApiKeyPublic, AuditEventPublic
from shared.auth import ConfigurationError, Principal
from shared.errors import NotFound, database_unavailable
from shared.models import utcnow
from shared.pagination import Page, PageRequest, paginate

logger = logging.getLogger("pilotage.gateway")

BOOTSTRAP_KEY_NAME = "bootstrap admin (PILOTAGE_BOOTSTRAP_ADMIN_KEY)"
DEVELOPMENT_KEY_NAME = "development admin"
DEVELOPMENT_KEY_FILE = "dev-admin-key"


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    principal: Principal
    rate_limit_per_second: float | None


@dataclass(frozen=True, slots=True)
class _CachedKey:
    secret_hash: str
    authenticated: AuthenticatedKey
    expires_at: dt.datetime | None
    revoked: bool


class KeyStore:
    """Authenticates presented keys against the database through a short cache (hits and misses), so
    a key costs one query per ``ttl`` seconds per process, and a revocation takes effect within
    ``ttl`` everywhere."""

    def __init__(self, engine: AsyncEngine, ttl: float, *, max_concurrent_reads: int = 4) -> None:
        self._engine = engine
        self._known: TTLCache[str, _CachedKey] = TTLCache(maxsize=100_000, ttl=ttl)
        # Unknown ids are remembered apart, so a flood of made-up keys cannot push real ones out.
        self._unknown: TTLCache[str, None] = TTLCache(maxsize=10_000, ttl=ttl)
        # One database read per key at a time: when an entry expires under load, the requests that
        # miss together share one query instead of each taking a connection.
        self._loading: dict[str, asyncio.Task[_CachedKey | None]] = {}
        # And few reads at once overall: made-up keys queue here instead of draining the pool.
        self._reads = asyncio.Semaphore(max_concurrent_reads)

    async def authenticate(self, presented: str) -> AuthenticatedKey | None:
        parsed = parse_key(presented)
        if parsed is None or parsed.key_id in self._unknown:
            return None
        cached = self._known.get(parsed.key_id) or await self._load_once(parsed.key_id)
        if cached is None or cached.revoked or not key_matches(parsed.full, cached.secret_hash):
            return None
        if cached.expires_at is not None and cached.expires_at <= utcnow():
            return None
        return cached.authenticated

    def forget(self, key_id: str) -> None:
        self._known.pop(key_id, None)
        self._unknown.pop(key_id, None)

    async def _load_once(self, key_id: str) -> _CachedKey | None:
        # The read runs as its own task: a caller that gives up (disconnects) cancels only its wait,
        # never the read the others are waiting for.
        loading = self._loading.get(key_id)
        if loading is None:
            loading = self._loading[key_id] = asyncio.create_task(self._load(key_id))
            loading.add_done_callback(lambda _: self._loading.pop(key_id, None))
        return await asyncio.shield(loading)

    async def _load(self, key_id: str) -> _CachedKey | None:
        async with self._reads, self._engine.connect() as connection:
            key = await repository.fetch_key(connection, key_id)
        if key is None:
            self._unknown[key_id] = None
            return None
        principal = Principal(key_id=key.id, scopes=frozenset(key.scopes))
        cached = _CachedKey(
            secret_hash=key.secret_hash,
            authenticated=AuthenticatedKey(principal, key.rate_limit_per_second),
            expires_at=key.expires_at,
            revoked=key.revoked_at is not None,
        )
        self._known[key_id] = cached
        return cached


async def create_key(session: AsyncSession, request: ApiKeyCreate, created_by: str | None) -> tuple[ApiKey, str]:
    """A new key and its full value (to show once)."""
    generated = generate_key()
    key = ApiKey(
        id=generated.key_id,
        name=request.name,
        secret_hash=hash_key(generated.full),
        scopes=[s.value for s in request.scopes],
        rate_limit_per_second=request.rate_limit_per_second,
        expires_at=request.expires_at,
        created_by=created_by,
    )
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return key, generated.full


async def ensure_bootstrap_key(engine: AsyncEngine, full_key: str) -> str:
    """Make sure an admin key with exactly ``full_key`` exists; return its id."""
    parsed = parse_key(full_key)
    if parsed is None:
        raise ConfigurationError(
            "PILOTAGE_BOOTSTRAP_ADMIN_KEY must look like pk_<id>_<secret>: id of 8 to 16 lowercase letters "
            "or digits, secret of at least 32 letters or digits."
        )
    async with engine.begin() as connection:
        await repository.upsert_admin_key(connection, parsed.key_id, hash_key(parsed.full), BOOTSTRAP_KEY_NAME)
    return parsed.key_id


async def ensure_development_key(engine: AsyncEngine, data_dir: Path) -> str:
    """The development admin key kept in the data folder, created on first start (never hard-coded)."""
    path = data_dir / DEVELOPMENT_KEY_FILE
    if path.exists():
        parsed = parse_key(path.read_text().strip())
        if parsed is not None:
            async with engine.connect() as connection:
                if await repository.key_usable(connection, parsed.key_id, hash_key(parsed.full)):
                    return parsed.full
    generated = generate_key()
    async with engine.begin() as connection:
        await repository.upsert_admin_key(connection, generated.key_id, hash_key(generated.full), DEVELOPMENT_KEY_NAME)
    data_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(generated.full + "\n")
    return generated.full


def _storable(text: str | None, limit: int) -> str | None:
    """What PostgreSQL text columns accept: no NUL, no more than the column holds."""
    return None if text is None else text.replace("\x00", "\ufffd")[:limit]


class AuditRecorder:
    """Collects write events in memory and stores them in batches, off the request path: a write
    through the gateway costs no extra database round trip."""

    def __init__(self, engine: AsyncEngine, flush_seconds: float, max_pending: int = 100_000) -> None:
        self._engine = engine
        self._flush_seconds = flush_seconds
        self._pending: deque[dict[str, Any]] = deque(maxlen=max_pending)
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, event: dict[str, Any]) -> None:
        """Queue one event; its text is made storable here, so no request can poison a batch."""
        if len(self._pending) == self._pending.maxlen:
            logger.error("audit backlog full; the oldest pending event is dropped")
        event["method"] = _storable(event["method"], 10)
        event["path"] = _storable(event["path"], 2000)
        event["resource_id"] = _storable(event.get("resource_id"), 200)
        event["request_id"] = _storable(event.get("request_id"), 128)
        self._pending.append(event)

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(len(self._pending), 1000))]
                try:
                    await self._store(batch)
                except BaseException:
                    # Database down, or cancelled at shutdown: what is not stored yet waits for the next flush.
                    self._pending.extendleft(reversed(batch))
                    raise

    async def _store(self, batch: list[dict[str, Any]]) -> None:
        """Store ``batch``, removing from it what is stored (or refused for good) as it goes."""
        try:
            async with self._engine.begin() as connection:
                await repository.insert_audit_events(connection, batch)
            batch.clear()
            return
        except Exception as exc:
            if database_unavailable(exc):
                raise
            logger.exception("an audit batch was refused; storing its events one by one")
        # One event the database refuses must not hold back the others.
        while batch:
            try:
                async with self._engine.begin() as connection:
                    await repository.insert_audit_events(connection, batch[:1])
            except Exception as exc:
                if database_unavailable(exc):
                    raise
                logger.error("audit event dropped, the database refuses it: %r (%s)", batch[0], exc)
            del batch[0]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_seconds)
            try:
                await self.flush()
            except Exception as exc:
                logger.warning("audit events could not be stored yet (%r); retrying", exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:
            logger.exception("%d audit events could not be stored at shutdown", len(self._pending))


async def list_keys(session: AsyncSession, page: PageRequest, *, include_revoked: bool) -> Page[ApiKeyPublic]:
    statement = repository.keys_query(include_revoked=include_revoked)
    return await paginate(
        session, statement, (col(ApiKey.created_at), col(ApiKey.id)), page, ApiKeyPublic.model_validate
    )


async def read_key(session: AsyncSession, key_id: str) -> ApiKey:
    key = await repository.get_key(session, key_id)
    if key is None:
        raise NotFound(f"No API key {key_id!r}.")
    return key


async def revoke_key(session: AsyncSession, key_id: str, keys: KeyStore) -> None:
    """Revoke a key (revoking twice is harmless) and forget it in this process's cache at once."""
    await repository.revoke_key(session, await read_key(session, key_id))
    keys.forget(key_id)


async def list_audit_events(
    session: AsyncSession,
    page: PageRequest,
    *,
    key_id: str | None,
    method: str | None,
    path_prefix: str | None,
    status: int | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> Page[AuditEventPublic]:
    statement = repository.audit_query(
        key_id=key_id, method=method, path_prefix=path_prefix, status=status, since=since, until=until
    )
    return await paginate(
        session, statement, (col(AuditEvent.occurred_at), col(AuditEvent.id)), page, AuditEventPublic.model_validate
    )
