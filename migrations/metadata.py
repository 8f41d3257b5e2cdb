"""What every migration run shares: the branches, the table models, the per-schema filters, the lock.

There is one Alembic branch per service schema, labelled with the schema's name, recording its state
in ``<schema>.alembic_version``. Migrations may know every schema's models; services may not.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, MutableMapping
from typing import Any

from sqlalchemy.engine import Connection

SCHEMAS = ("gateway", "kpi", "strategy", "talent")
BRANCHES = SCHEMAS
VERSION_TABLE = "alembic_version"
MODEL_MODULES = (
    "services.gateway.models",
    "services.kpi_service.models",
    "services.strategy_service.models",
    "services.talent_service.models",
)
# Every migration run, from `pilotage migrate` or from `alembic`, holds this transaction-level
# advisory lock: two processes migrating the same database at once run one after the other.
MIGRATION_LOCK = 0x70696C6F74616765  # "pilotage"


def load_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def lock(connection: Connection) -> None:
    """Wait for the migration lock; it is released when the transaction ends."""
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


NameFilter = Callable[[str | None, str, MutableMapping[Any, Any]], bool]
ObjectFilter = Callable[[Any, str | None, str, bool, Any], bool]


def include_name(schema: str) -> NameFilter:
    """Autogenerate reflects one schema only, without its version table (not ``public``, not the
    other services' schemas, not other applications')."""

    def include(name: str | None, type_: str, parent_names: MutableMapping[Any, Any]) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table":
            return parent_names.get("schema_name") == schema and name != VERSION_TABLE
        return True

    return include


def include_object(schema: str) -> ObjectFilter:
    """Autogenerate compares the models of one schema only (the others' tables are not its business)."""

    def include(object_: Any, _name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        if type_ == "table":
            return bool(object_.schema == schema)
        return True

    return include
