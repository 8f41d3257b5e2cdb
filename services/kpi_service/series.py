"""Series windows: local calendar buckets, aligned in the requested time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.kpi_service.calendar_units import Unit, local_midnight, shift, start_of
from shared.errors import FieldError, UnprocessableContent

_APPROX_DAYS = {"day": 1, "week": 7, "month": 28, "quarter": 90, "year": 365}
MAX_BUCKETS = 5000


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    start: dt.datetime
    end: dt.datetime


def _bucket_of(instant: dt.datetime, bucket: Unit, zone: ZoneInfo) -> dt.date:
    return start_of(instant.astimezone(zone).date(), bucket)


def series_window(
    bucket: Unit, start: dt.datetime | None, end: dt.datetime | None, zone: ZoneInfo, now: dt.datetime | None = None
) -> SeriesWindow:
    """Widen ``[start, end)`` to whole local buckets: from the start of the bucket holding ``start``
    to the end of the one holding the instant before ``end``, so every bucket is complete."""
    end = end or now or dt.datetime.now(dt.UTC)
    start = start or end - dt.timedelta(days=365)
    if end <= start:
        raise UnprocessableContent(
            "`to` must be after `from`.",
            errors=[FieldError(location="query", parameter="to", message="Not after `from`.", code="empty_window")],
        )
    if (end - start).days / _APPROX_DAYS[bucket] > MAX_BUCKETS:
        raise UnprocessableContent(
            f"At most about {MAX_BUCKETS} buckets per call; use a larger bucket or a shorter window.",
            errors=[FieldError(location="query", parameter="from", message="Window too long.", code="too_many")],
        )
    try:
        first = _bucket_of(start, bucket, zone)
        last = _bucket_of(end - dt.timedelta(microseconds=1), bucket, zone)
        return SeriesWindow(local_midnight(first, zone), local_midnight(shift(last, bucket, 1), zone))
    except (ValueError, OverflowError):  # a window at the edge of the calendar (year 1 or 9999)
        raise UnprocessableContent(
            "The window reaches beyond the dates this API handles.",
            errors=[FieldError(location="query", parameter="to", message="Out of range.", code="out_of_range")],
        ) from None
