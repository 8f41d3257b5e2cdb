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
