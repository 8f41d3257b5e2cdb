from __future__ import annotations

from functools import lru_cache

from shared.settings import Settings

SERVICE = "gateway"
SCHEMA = "gateway"

# Path prefixes served by each backend service: an allow-list, not a catch-all. A path is routed
# when it equals a prefix or continues it with "/"; anything else stays with the gateway (404).
ROUTES: dict[str, tuple[str, ...]] = {
    "kpi": ("/v1/kpis", "/v1/kpi-domains", "/v1/measurements", "/v1/kpi-statuses", "/v1/kpi-events"),
    "strategy": ("/v1/objectives", "/v1/key-results", "/v1/check-ins"),
    "talent": (
        "/v1/org-units",
        "/v1/people",
        "/v1/skills",
        "/v1/trainings",
        "/v1/enrolments",
        "/v1/engagement-surveys",
        "/v1/hr-indicators",
        "/v1/org-unit-health",
    ),
}


class GatewaySettings(Settings):
    pass


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
