"""What the gateway holds while it runs: the upstream pool, the token signer, the key store, the rate
and in-flight limiters and the audit recorder. Built with the app, started and stopped by its lifespan."""

from __future__ import annotations

import logging
from typing import TypeVar

from services.gateway.config import GatewaySettings
from services.gateway.proxy import UpstreamPool
from services.gateway.ratelimit import InflightLimiter, RateLimiter
from services.gateway.service import AuditRecorder, KeyStore, ensure_bootstrap_key
from shared.auth import GatewayIdentity
from shared.db import Database
from shared.token_keys import gateway_identity

logger = logging.getLogger("pilotage.gateway")
T = TypeVar("T")


class GatewayRuntime:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.pool = UpstreamPool(settings)
        self.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.inflight = InflightLimiter(settings.max_inflight_per_key)
        self._signer: GatewayIdentity | None = None
        self._keys: KeyStore | None = None
        self._audit: AuditRecorder | None = None

    async def start(self, database: Database) -> None:
        settings = self.settings
        self._signer = gateway_identity(settings)
        if settings.bootstrap_admin_key is not None:
            key_id = await ensure_bootstrap_key(database.engine, settings.bootstrap_admin_key.get_secret_value())
            logger.info("bootstrap admin key %s is in place", key_id)
        self._keys = KeyStore(database.engine, settings.key_cache_seconds)
        self._audit = AuditRecorder(database.engine, settings.audit_flush_seconds)
        self._audit.start()
        await self.pool.start()

    async def stop(self) -> None:
        await self.pool.close()
        if self._audit is not None:
            await self._audit.stop()

    @property
    def signer(self) -> GatewayIdentity:
        return _started(self._signer)

    @property
    def keys(self) -> KeyStore:
        return _started(self._keys)

    @property
    def audit(self) -> AuditRecorder:
        return _started(self._audit)


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the gateway is not started")
    return part
