from __future__ import annotations

from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from shared.settings import Settings

SERVICE = "gateway"
SCHEMA = "gateway"

# Path prefixes served by each backend service: an allow-list, not a catch-all. A path is routed
# when it equals a prefix or continues it with "/"; anything else stays with the gateway (404).
ROUTES: dict[str, tuple[str, ...]] = {
    "kpi": (
        "/v1/kpis",
        "/v1/kpi-domains",
        "/v1/measurements",
        "/v1/kpi-statuses",
        "/v1/kpi-aggregates",
        "/v1/kpi-index",
        "/v1/kpi-events",
    ),
    "strategy": ("/v1/objectives", "/v1/key-results", "/v1/check-ins", "/v1/kpi-links", "/v1/objective-forest"),
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
    org_timezone: str = Field(default="UTC", description="IANA time zone whose calendar defines today.")
    view_deadline_seconds: PositiveFloat = Field(
        default=2.0,
        description="An alignment view answers with what it has once this has passed; a service still "
        "silent is listed in `missing` with reason `timeout`.",
    )
    # The alignment verdict's thresholds (DESIGN §9).
    verdict_skill_coverage: float = Field(default=0.8, ge=0, le=1, description="Below: `skill_gap`.")
    verdict_turnover: float = Field(default=0.15, ge=0, description="Above (last 365 days): `high_turnover`.")
    verdict_enps: float = Field(default=0.0, ge=-100, le=100, description="Below: `low_engagement`.")
    verdict_confidence: float = Field(default=0.7, ge=0, le=1, description="`overconfident` at or above it.")
    unmeasured_after_days: PositiveInt = Field(
        default=30, description="A check-in key result with no check-in for this long measures nothing (gaps)."
    )

    @field_validator("org_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.org_timezone)


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
