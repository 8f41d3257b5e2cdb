"""What the gateway holds while it runs: the upstream pool, the token signer, the key store, the rate
and in-flight limiters and the audit recorder. Built with the app, started and stopped by its lifespan."""

from __future__ import annotations

import logging
from typing import TypeVar

from services.gateway.config import GatewaySettings
from services.gateway.proxy import UpstreamPool
from services.gateway.ratelimit import InflightLimiter, RateLimiter
from services.gateway.service import AuditRecorder, KeyStore, ensure_bootstrap_key
from shared.auth import GatewayIdentity, Principal
from shared.clients import KpiClient, StrategyClient, TalentClient
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
        # The alignment views' clients: one pool and breaker per service, each call signed for its caller.
        self._clients: tuple[StrategyClient, KpiClient, TalentClient] | None = None

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
        self._clients = (
            StrategyClient.create(settings, _unsigned),
            KpiClient.create(settings, _unsigned),
            TalentClient.create(settings, _unsigned),
        )

    async def stop(self) -> None:
        await self.pool.close()
        if self._clients is not None:
            for client in self._clients:
                await client.aclose()
            self._clients = None
        if self._audit is not None:
            await self._audit.stop()

    def clients_for(self, principal: Principal) -> tuple[StrategyClient, KpiClient, TalentClient]:
        """The views' clients calling for ``principal``: its key id and scopes, signed by the gateway."""
        source = self.signer.for_caller(principal)
        strategy, kpi, talent = _started(self._clients)
        act = principal.key_id
        return strategy.calling_as(source, act), kpi.calling_as(source, act), talent.calling_as(source, act)

    @property
    def clients(self) -> tuple[StrategyClient, KpiClient, TalentClient]:
        return _started(self._clients)

    @property
    def signer(self) -> GatewayIdentity:
        return _started(self._signer)

    @property
    def keys(self) -> KeyStore:
        return _started(self._keys)

    @property
    def audit(self) -> AuditRecorder:
        return _started(self._audit)


def _unsigned(audience: str, _act: str | None) -> str:
    raise RuntimeError(f"a call to {audience} made for no caller: views call through `clients_for(principal)`")


def _started(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the gateway is not started")
    return part
