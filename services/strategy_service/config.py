from __future__ import annotations

from functools import lru_cache

from shared.settings import Settings, SettingsDep

SERVICE = "strategy"
SCHEMA = "strategy"


class StrategySettings(Settings):
    pass


@lru_cache
def get_settings() -> StrategySettings:
    return StrategySettings()


StrategySettingsDep = SettingsDep[StrategySettings]
