from __future__ import annotations

from functools import lru_cache

from shared.settings import Settings

SERVICE = "kpi"
SCHEMA = "kpi"


class KpiSettings(Settings):
    pass


@lru_cache
def get_settings() -> KpiSettings:
    return KpiSettings()
