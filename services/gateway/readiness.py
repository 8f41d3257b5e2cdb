"""Readiness of the services behind the gateway."""

from __future__ import annotations

from services.gateway.proxy import Upstream, UpstreamPool
from shared.health import ReadinessCheck


def service_readiness_check(pool: UpstreamPool, upstream: Upstream) -> ReadinessCheck:
    async def check() -> None:
        async with pool.session.get(f"{upstream.base_url}/readyz") as response:
            if response.status != 200:
                raise RuntimeError(f"{upstream.name} answered {response.status}")

    return check
