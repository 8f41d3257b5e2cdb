"""Judging a KPI: cadence periods in local time, aggregation, shortfall against the target, status,
trend and staleness. Pure functions: the SQL that feeds them lives in ``repository`` (which takes
the staleness rule's SQL twin, :func:`sql_stale_since`, from here)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from services.kpi_service.calendar_units import (
    CADENCE_UNIT,
    local_midnight,
    shift,
    sql_cadence_step,
    sql_local_instant,
    start_of,
)
from shared.contracts.kpi import Aggregation, Cadence, Direction, Status, ThresholdMode

STALE_AFTER_PERIODS = 3  # the period with the last data, then two whole periods without any


def add_periods(start: dt.date, cadence: Cadence, count: int) -> dt.date:
    return shift(start, CADENCE_UNIT[cadence], count)


def period_start(day: dt.date, cadence: Cadence) -> dt.date:
    return start_of(day, CADENCE_UNIT[cadence])


def period_last_day(start: dt.date, cadence: Cadence) -> dt.date:
    return add_periods(start, cadence, 1) - dt.timedelta(days=1)


def aggregate(aggregation: Aggregation, count: int, total: float, low: float, high: float, last: float) -> float:
    """The KPI's aggregation over a period or bucket, from its count, sum, min, max and last value."""
    if aggregation is Aggregation.sum:
        return total
    if aggregation is Aggregation.avg:
        return total / count
    if aggregation is Aggregation.min:
        return low
    if aggregation is Aggregation.max:
        return high
    return last


@dataclass(frozen=True, slots=True)
class PeriodAggregate:
    period_start: dt.date
    count: int
    sum: float
    min: float
    max: float
    last_value: float
    last_ts: dt.datetime

    def value(self, aggregation: Aggregation) -> float:
        return aggregate(aggregation, self.count, self.sum, self.min, self.max, self.last_value)


@dataclass(frozen=True, slots=True)
class Target:
    period_start: dt.date
    period_end: dt.date
    value: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    mode: ThresholdMode
    amber: float
    red: float


def shortfall(value: float, direction: Direction, target: Target) -> tuple[float, float]:
    """How far ``value`` is on the bad side of ``target``, and the magnitude relative thresholds
    scale with (the target, or the nearest edge of the band)."""
    if direction is Direction.target_range:
        low = target.min if target.min is not None else -math.inf
        high = target.max if target.max is not None else math.inf
        if value < low:
            return low - value, abs(low)
        if value > high:
            return value - high, abs(high)
        return 0.0, abs(low if math.isfinite(low) else high)
    assert target.value is not None
    gap = target.value - value if direction is Direction.increase else value - target.value
    return max(gap, 0.0), abs(target.value)


def judge(value: float, direction: Direction, target: Target, rule: ThresholdRule | None) -> Status:
    gap, scale = shortfall(value, direction, target)
    if gap == 0:
        return Status.green
    if rule is None:
        return Status.red
    measured = gap if rule.mode is ThresholdMode.absolute else (gap / scale if scale else math.inf)
    if _within(measured, rule.amber):
        return Status.green
    if _within(measured, rule.red):
        return Status.amber
    return Status.red


def _within(measured: float, limit: float) -> bool:
    """``measured <= limit``, forgiving binary rounding: 2.2 against a target of 2 is exactly 10 %."""
    return measured <= limit or math.isclose(measured, limit, rel_tol=1e-9, abs_tol=1e-12)


def stale_since(latest_period: dt.date, cadence: Cadence, zone: ZoneInfo, grace: dt.timedelta) -> dt.datetime:
    """When a KPI whose last data falls in ``latest_period`` turns stale: once two whole periods
    have passed without data (plus the grace)."""
    return local_midnight(add_periods(latest_period, cadence, STALE_AFTER_PERIODS), zone) + grace


def sql_stale_since(period_start: str, cadence: str, zone: str, grace: str) -> str:
    """SQL twin of :func:`stale_since`, over columns or parameters named by the arguments."""
    local = f"({period_start}) + {STALE_AFTER_PERIODS} * {sql_cadence_step(cadence)}"
    return f"{sql_local_instant(local, zone)} + {grace}"


def trend(
    current: PeriodAggregate, previous: PeriodAggregate | None, cadence: Cadence, aggregation: Aggregation
) -> tuple[dt.date, float, float, float | None] | None:
    """Change against the period just before (only when that period has data)."""
    if previous is None or previous.period_start != add_periods(current.period_start, cadence, -1):
        return None
    now, before = current.value(aggregation), previous.value(aggregation)
    change = now - before
    if not math.isfinite(change):  # two values near the float limit, of opposite signs
        return None
    relative = change / abs(before) if before else None
    return previous.period_start, before, change, relative if relative is None or math.isfinite(relative) else None
