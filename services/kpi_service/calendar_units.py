"""Local calendar arithmetic shared by status periods and series buckets: the start of the day,
ISO week, month, quarter or year holding a date, the next ones, and when a local day begins — and
the one mapping from a KPI's cadence to its calendar unit. The SQL twins (``date_trunc(unit, ts AT
TIME ZONE zone)`` and the unit's interval) are generated here from the same tables, for
``repository``."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo

from shared import calendar as shared_calendar
from shared.contracts.kpi import Cadence

Unit = Literal["day", "week", "month", "quarter", "year"]
_MONTHS: dict[str, int] = {"month": 1, "quarter": 3, "year": 12}
# PostgreSQL interval of one unit (``date_trunc`` knows the units by the same names).
STEP: dict[Unit, str] = {"day": "1 day", "week": "7 days", "month": "1 month", "quarter": "3 months", "year": "1 year"}
CADENCE_UNIT: dict[Cadence, Unit] = {Cadence.daily: "day", Cadence.weekly: "week", Cadence.monthly: "month"}


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
    """The instant a local day begins: its first (see :func:`shared.calendar.local_midnight`)."""
    return shared_calendar.local_midnight(day, zone)


def sql_local_instant(local: str, zone: str) -> str:
    """SQL twin of :func:`local_midnight` for a local date or timestamp expression: the FIRST instant
    showing that local time. PostgreSQL's ``local AT TIME ZONE zone`` takes the later of two
    (Atlantic/Azores, 2026-10-25 00:00 is 00:00Z and again 01:00Z); an hour earlier is never
    ambiguous at the same time, so one hour after it is the first instant (and a local time that
    does not exist resolves, like Python's, to the offset before the jump)."""
    at = f"({local})::timestamp"
    return f"LEAST(({at} AT TIME ZONE {zone}), (({at} - interval '1 hour') AT TIME ZONE {zone}) + interval '1 hour')"


def sql_cadence_unit(column: str) -> str:
    """SQL: the ``date_trunc`` unit of the cadence held by ``column``."""
    cases = " ".join(f"WHEN '{cadence.value}' THEN '{unit}'" for cadence, unit in CADENCE_UNIT.items())
    return f"CASE {column} {cases} END"


def sql_cadence_step(column: str) -> str:
    """SQL: the interval of one period of the cadence held by ``column``."""
    cases = " ".join(f"WHEN '{cadence.value}' THEN interval '{STEP[unit]}'" for cadence, unit in CADENCE_UNIT.items())
    return f"CASE {column} {cases} END"
