from __future__ import annotations

from functools import lru_cache

from shared.settings import Settings, SettingsDep

SERVICE = "talent"
SCHEMA = "talent"


class TalentSettings(Settings):
    pass


@lru_cache
def get_settings() -> TalentSettings:
    return TalentSettings()


TalentSettingsDep = SettingsDep[TalentSettings]
