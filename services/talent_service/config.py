from __future__ import annotations

import datetime as dt
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from shared.schemas import time_zone
from shared.settings import Settings, SettingsDep

SERVICE = "talent"
SCHEMA = "talent"
MAX_BATCH_PEOPLE = 1_000


class TalentSettings(Settings):
    org_timezone: str = Field(default="UTC", description="IANA time zone whose calendar defines HR days.")
    hr_publish_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often the service publishes its HR indicators to the KPI service as `hr.*` KPIs "
        "(0: never on its own; `POST /v1/hr-indicators/publish` still does).",
    )
    hr_publish_concurrency: int = Field(
        default=8, ge=1, le=64, description="KPI definitions a publish creates at once in the KPI service."
    )
    hr_publish_months: int = Field(
        default=24, ge=1, le=600, description="How many calendar months, the current one included, a publish covers."
    )

    @field_validator("org_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        time_zone(value)
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.org_timezone)

    def today(self) -> dt.date:
        """The organisation's current date."""
        return dt.datetime.now(self.zone).date()


@lru_cache
def get_settings() -> TalentSettings:
    return TalentSettings()


TalentSettingsDep = SettingsDep[TalentSettings]
