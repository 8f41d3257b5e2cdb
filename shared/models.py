"""Column helpers every service's table models use, so timestamps and ids look the same everywhere."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Column, DateTime, Dialect, String, TypeDecorator, func
from sqlmodel import Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def id_field() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column_kwargs={"server_default": func.now()},
        sa_type=DateTime(timezone=True),
        nullable=False,
    )


def updated_at_field() -> Any:
    return Field(
        default_factory=utcnow,
        sa_column_kwargs={"server_default": func.now(), "onupdate": utcnow},
        sa_type=DateTime(timezone=True),
        nullable=False,
    )


def timestamp_column(*, nullable: bool, primary_key: bool = False) -> Column[Any]:
    return Column(DateTime(timezone=True), nullable=nullable, primary_key=primary_key)


class StrEnumString(TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as a plain VARCHAR (its value): the attribute reads back as the enum, the
    database sees only text, guarded by :func:`one_of`'s CHECK where the table wants one."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:  # noqa: ARG002
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:  # noqa: ARG002
        return None if value is None else self.enum(value)


def enum_field(enum: type[StrEnum], length: int, *, nullable: bool = False, default: Any = ...) -> Any:
    """A table column typed as ``enum``, stored as ``VARCHAR(length)``."""
    return Field(default=default, sa_type=StrEnumString(enum, length), nullable=nullable)


def one_of(column: str, enum: type[StrEnum]) -> CheckConstraint:
    """The CHECK that keeps ``column`` to the values of ``enum`` (named ``<column>_valid``)."""
    values = ", ".join(f"'{v.value}'" for v in enum)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_valid")


# Deterministic constraint names, so migrations can address them and autogenerate finds no drift.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
