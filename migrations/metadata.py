"""The table models of every service, for Alembic (migrations may know every schema; services may not)."""

from __future__ import annotations

import importlib
from collections.abc import MutableMapping
from typing import Any

SCHEMAS = ("gateway", "kpi", "strategy", "talent")
MODEL_MODULES = (
    "services.gateway.models",
    "services.kpi_service.models",
    "services.strategy_service.models",
    "services.talent_service.models",
)


def load_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def include_name(name: str | None, type_: str, _parent_names: MutableMapping[Any, Any]) -> bool:
    """Autogenerate looks at the service schemas only (not ``public``, not other applications')."""
    if type_ == "schema":
        return name in SCHEMAS
    return True
