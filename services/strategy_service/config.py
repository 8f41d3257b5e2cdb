from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from services.strategy_service.progress import PaceThresholds
from shared.settings import Settings, SettingsDep

SERVICE = "strategy"
SCHEMA = "strategy"


class StrategySettings(Settings):
    org_timezone: str = Field(
        default="UTC", description="IANA time zone whose calendar defines periods, days and expected progress."
    )
    pace_at_risk: float = Field(
        default=-0.2, le=0, description="Lowest `progress - expected` still on track (DESIGN §9)."
    )
    pace_off_track: float = Field(default=-0.4, le=0, description="Lowest `progress - expected` still at risk.")
    kpi_cache_seconds: float = Field(
        default=300.0, ge=0, description="How long a KPI value read stays usable while the KPI service is down."
    )

    @field_validator("org_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Self:
        if self.pace_off_track > self.pace_at_risk:
            raise ValueError("pace_off_track must not be above pace_at_risk")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.org_timezone)

    @property
    def pace_thresholds(self) -> PaceThresholds:
        return PaceThresholds(at_risk=self.pace_at_risk, off_track=self.pace_off_track)


@lru_cache
def get_settings() -> StrategySettings:
    return StrategySettings()


StrategySettingsDep = SettingsDep[StrategySettings]
