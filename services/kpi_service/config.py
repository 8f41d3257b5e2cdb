from __future__ import annotations

from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from shared.settings import Settings, SettingsDep

SERVICE = "kpi"
SCHEMA = "kpi"


class KpiSettings(Settings):
    org_timezone: str = Field(
        default="UTC", description="IANA time zone whose calendar defines days, weeks and months."
    )
    max_batch_points: PositiveInt = 10_000
    future_tolerance_seconds: int = Field(default=600, ge=0)
    stale_grace_hours: float = Field(default=0.0, ge=0)
    stale_sweep_seconds: PositiveFloat = Field(
        default=60.0, description="How often the service records the KPIs that the clock made stale."
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
def get_settings() -> KpiSettings:
    return KpiSettings()


KpiSettingsDep = SettingsDep[KpiSettings]
