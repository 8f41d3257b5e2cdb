"""Local calendar instants shared by every service.

A local day begins at its *first* instant: where clocks go back at midnight (Atlantic/Azores on
2026-10-25) midnight happens twice and the day starts at the first; where they jump over midnight
(America/Santiago) the day starts at the first instant that exists (01:00)::

    local_midnight(dt.date(2026, 10, 25), ZoneInfo("Atlantic/Azores"))  # 2026-10-25T00:00:00Z
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The instant (UTC) at which ``day`` begins in ``zone``."""
    # fold=0 picks the earlier of two midnights, and for a midnight that does not exist the offset in
    # force before the jump — which lands exactly on the first instant that exists.
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)


def local_date(instant: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The local date in ``zone`` of an aware instant."""
    return instant.astimezone(zone).date()


def period_bounds(first_day: dt.date, last_day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the local days ``first_day``..``last_day`` (inclusive): the first instant of
    the first day and the first instant of the day after the last."""
    return local_midnight(first_day, zone), local_midnight(last_day + dt.timedelta(days=1), zone)
