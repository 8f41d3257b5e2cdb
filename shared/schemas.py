"""Wire models shared by every service: the strict base and the contracts services exchange."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict


class StrictModel(BaseModel):
    """Base of every request body: unknown fields and NaN/Infinity are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class PublicModel(BaseModel):
    """Base of every response body; built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII)


def parse_rfc3339(value: object) -> dt.datetime:
    """An RFC 3339 timestamp with an offset, as an aware UTC datetime; ``ValueError`` says what is
    wrong (not RFC 3339, no offset, out of range). Epoch numbers and other ISO 8601 forms are refused."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("the timestamp has no offset; give one (e.g. `Z` or `+02:00`)")
        return value.astimezone(dt.UTC)
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        if isinstance(value, str) and _RFC3339.fullmatch(value + "Z"):
            raise ValueError("the timestamp has no offset; give one (e.g. `Z` or `+02:00`)")
        raise ValueError("not an RFC 3339 timestamp (e.g. `2026-11-28T09:30:00+01:00`)")
    try:
        return dt.datetime.fromisoformat(_six_digit_fraction(value.upper())).astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValueError("the timestamp is out of range") from None


def _six_digit_fraction(value: str) -> str:
    """Python parses at most microseconds: pad or cut the fraction RFC 3339 allows to six digits."""
    match = re.match(r"^(.*?\.)(\d+)(.*)$", value)
    if not match:
        return value
    return f"{match[1]}{match[2][:6].ljust(6, '0')}{match[3]}"


Rfc3339 = Annotated[dt.datetime, BeforeValidator(parse_rfc3339)]
"""A request field or query parameter holding an RFC 3339 timestamp with offset (UTC once parsed)."""
