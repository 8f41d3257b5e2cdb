"""Local calendar arithmetic shared by status periods and series buckets: the start of the day,
ISO week, month, quarter or year holding a date, the next ones, and when a local day begins.
(The SQL twins are ``date_trunc(unit, ts AT TIME ZONE zone)`` in ``repository``.)"""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo

Unit = Literal["day", "week", "month", "quarter", "year"]
_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}


def start_of(day: dt.date, unit: Unit) -> dt.date:
    if unit == "day":
        return day
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())  # ISO weeks start on Monday
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def shift(start: dt.date, unit: Unit, count: int) -> dt.date:
    """``start`` (the start of a unit) moved by ``count`` units."""
    if unit == "day":
        return start + dt.timedelta(days=count)
    if unit == "week":
        return start + dt.timedelta(weeks=count)
    months = start.year * 12 + start.month - 1 + count * _MONTHS[unit]
    return dt.date(months // 12, months % 12 + 1, 1)


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The instant a local day begins (PostgreSQL's ``day::timestamp AT TIME ZONE zone``)."""
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
