"""Wire models shared by every service: the strict base and the contracts services exchange."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
import types
import typing
import uuid
import zoneinfo
from typing import Annotated, Any

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """Base of every request body: unknown fields and NaN/Infinity are refused, and so are the values
    only lax parsing would accept (``false`` or ``"1"`` for a number, ``0`` for a date, ``1`` for a
    boolean: JSON says what type a value has) and strings holding a NUL character (PostgreSQL cannot
    store one in text)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _refuse_what_lax_parsing_lets_through(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if _holds_nul(value):
            raise PydanticCustomError("nul_character", "Input contains a NUL character, which cannot be stored")
        validated = handler(value)  # what pydantic refuses on its own keeps pydantic's error
        if info.field_name is not None and value is not None:
            expected = _scalar_kinds(cls, info.field_name)
            if expected and not _json_type_fits(value, expected):
                _, code, message = _KINDS[min(expected)]
                raise PydanticCustomError(code, message)
        return validated


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


# The scalar types of request fields, each with the error naming it; subclasses before their bases
# (bool is an int, a datetime a date, a StrEnum a str). Enums are strings on the wire.
_KINDS: tuple[tuple[type[Any], str, str], ...] = (
    (bool, "bool_type", "Input should be a boolean"),
    (float, "float_type", "Input should be a number"),
    (int, "int_type", "Input should be an integer"),
    (dt.datetime, "datetime_type", "Input should be an RFC 3339 timestamp"),
    (dt.date, "date_type", "Input should be a date (`YYYY-MM-DD`)"),
    (uuid.UUID, "uuid_type", "Input should be a UUID string"),
    (enum.Enum, "enum", "Input should be one of the documented values"),
    (str, "string_type", "Input should be a string"),
)
_BOOL, _FLOAT, _INT = 0, 1, 2


def _json_type_fits(value: Any, expected: frozenset[int]) -> bool:
    """Whether a JSON value is of a type the field takes, before any coercion."""
    if isinstance(value, bool):
        return _BOOL in expected
    if isinstance(value, int | float):
        return bool(expected & {_FLOAT, _INT})
    if isinstance(value, str):
        return bool(expected - {_BOOL, _FLOAT, _INT})
    return True  # arrays and objects: their own validation says what is wrong


def _alternatives(annotation: Any) -> set[Any]:
    """The plain types an annotation accepts (``Optional``, unions and ``Annotated`` unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return set().union(*(_alternatives(a) for a in typing.get_args(annotation)))
    return {_PYDANTIC_TIMES.get(annotation, annotation)}


# pydantic's constrained times are classes of their own, not subclasses of the types they stand for.
_PYDANTIC_TIMES: dict[Any, type[Any]] = {
    pydantic.AwareDatetime: dt.datetime,
    pydantic.NaiveDatetime: dt.datetime,
    pydantic.PastDatetime: dt.datetime,
    pydantic.FutureDatetime: dt.datetime,
    pydantic.PastDate: dt.date,
    pydantic.FutureDate: dt.date,
}


def _kind(annotation: Any) -> int | None:
    if isinstance(annotation, type):
        for index, (kind, _, _) in enumerate(_KINDS):
            if issubclass(annotation, kind):
                return index
    return None


@functools.cache
def _scalar_kinds(model: type[BaseModel], field: str) -> frozenset[int]:
    """The kinds of scalar a field takes, or none when it takes anything else too (a list, a
    model, ``Any``): its own validation is left to say what is wrong."""
    kinds = {_kind(t) for t in _alternatives(model.model_fields[field].annotation) - {type(None)}}
    if None in kinds:
        return frozenset()
    return frozenset(k for k in kinds if k is not None)


class PublicModel(BaseModel):
    """Base of every response body; built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


# Timestamps the platform accepts: PostgreSQL stores wider ones, but at the edges of Python's range
# they overflow on the way (year 1 became -infinity), and no operations data lies outside these.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200


def parse_rfc3339(value: object) -> dt.datetime:
    """An RFC 3339 timestamp with an offset, as an aware UTC datetime; ``ValueError`` says what is
    wrong (not RFC 3339, no offset, out of range, outside the years 1900 to 2200). Epoch numbers and
    other ISO 8601 forms are refused."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("the timestamp has no offset; give one (e.g. `Z` or `+02:00`)")
        if not EARLIEST_YEAR <= value.astimezone(dt.UTC).year <= LATEST_YEAR:
            raise ValueError(f"the timestamp is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}")
        return value.astimezone(dt.UTC)
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        if isinstance(value, str) and _RFC3339.fullmatch(value + "Z"):
            raise ValueError("the timestamp has no offset; give one (e.g. `Z` or `+02:00`)")
        raise ValueError("not an RFC 3339 timestamp (e.g. `2026-11-28T09:30:00+01:00`)")
    try:
        parsed = dt.datetime.fromisoformat(_six_digit_fraction(value.upper())).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValueError("the timestamp is out of range") from None
    if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
        raise ValueError(f"the timestamp is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return parsed


def _within_years(day: dt.date) -> dt.date:
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"the date is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}")
    return day


CalendarDay = Annotated[dt.date, AfterValidator(_within_years)]
"""A date written to the platform (a period's bounds, a hire date, an effective date): within the
years 1900 to 2200, like timestamps, so that every window and `day ± n` computed from it exists."""


def _six_digit_fraction(value: str) -> str:
    """Python parses at most microseconds: pad or cut the fraction RFC 3339 allows to six digits."""
    match = re.match(r"^(.*?\.)(\d+)(.*)$", value)
    if not match:
        return value
    return f"{match[1]}{match[2][:6].ljust(6, '0')}{match[3]}"


Rfc3339 = Annotated[dt.datetime, BeforeValidator(parse_rfc3339)]
"""A request field or query parameter holding an RFC 3339 timestamp with offset (UTC once parsed)."""


@functools.cache
def _iana_zones() -> frozenset[str]:
    # Python also finds the `posix/` and `right/` copies of the database and `localtime`, the
    # machine's own zone, which PostgreSQL does not know: `available_timezones` leaves the copies
    # out, and `localtime` is not a zone name.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def time_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Paris``); ``ValueError`` for any other name."""
    if name not in _iana_zones():
        raise ValueError(f"unknown time zone {name!r}")
    return zoneinfo.ZoneInfo(name)


def _iso_date(value: Any) -> Any:
    """A query parameter's date only as ``YYYY-MM-DD`` (lax parsing would take ``0`` as 1970-01-01)."""
    if isinstance(value, str) and len(value) == 10:
        return dt.date.fromisoformat(value)
    if isinstance(value, dt.date):
        return value
    raise ValueError("not a date (`YYYY-MM-DD`)")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
