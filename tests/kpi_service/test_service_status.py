"""Status rules, without a database: shortfall, thresholds for each direction, periods, staleness."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from services.kpi_service.status import (
    PeriodAggregate,
    Target,
    ThresholdRule,
    add_periods,
    judge,
    period_last_day,
    period_start,
    stale_since,
    trend,
)
from shared.contracts.kpi import Aggregation, Cadence, Direction, Status, ThresholdMode

YEAR = (dt.date(2026, 1, 1), dt.date(2026, 12, 31))
RELATIVE = ThresholdRule(ThresholdMode.relative, amber=0.05, red=0.10)
ABSOLUTE = ThresholdRule(ThresholdMode.absolute, amber=2, red=5)


def target(value: float | None = None, low: float | None = None, high: float | None = None) -> Target:
    return Target(*YEAR, value, low, high)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, Status.green), (96, Status.green), (95, Status.green), (94.9, Status.amber), (90, Status.amber),
     (89.9, Status.red), (120, Status.green)],
)  # fmt: skip
def test_increase_relative(value: float, expected: Status) -> None:
    # "amber below 95 % of target, red below 90 %"
    assert judge(value, Direction.increase, target(100), RELATIVE) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, Status.green), (2.1, Status.green), (2.105, Status.amber), (2.2, Status.amber), (2.25, Status.red),
     (0, Status.green)],
)  # fmt: skip
def test_decrease_relative(value: float, expected: Status) -> None:
    # A scrap rate targeted at 2 %: good when low.
    assert judge(value, Direction.decrease, target(2), RELATIVE) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, Status.green), (20, Status.green), (8, Status.green), (7.9, Status.amber), (25, Status.amber),
     (25.1, Status.red), (4.9, Status.red)],
)  # fmt: skip
def test_target_range_absolute(value: float, expected: Status) -> None:
    # Inventory days between 10 and 20; 2 days outside is tolerated, 5 is the limit of amber.
    assert judge(value, Direction.target_range, target(low=10, high=20), ABSOLUTE) is expected


def test_target_range_relative_scales_with_the_nearest_edge() -> None:
    band = target(low=10, high=20)
    assert judge(9.5, Direction.target_range, band, RELATIVE) is Status.green  # 5 % of 10
    assert judge(9.4, Direction.target_range, band, RELATIVE) is Status.amber
    assert judge(21, Direction.target_range, band, RELATIVE) is Status.green  # 5 % of 20
    assert judge(22.5, Direction.target_range, band, RELATIVE) is Status.red


def test_without_thresholds_any_shortfall_is_red() -> None:
    assert judge(100, Direction.increase, target(100), None) is Status.green
    assert judge(99.99, Direction.increase, target(100), None) is Status.red
    assert judge(0.5, Direction.decrease, target(0), RELATIVE) is Status.red  # relative to 0: no tolerance


@pytest.mark.parametrize(
    ("day", "cadence", "start", "last"),
    [
        (dt.date(2026, 3, 15), Cadence.daily, dt.date(2026, 3, 15), dt.date(2026, 3, 15)),
        (dt.date(2026, 3, 15), Cadence.weekly, dt.date(2026, 3, 9), dt.date(2026, 3, 15)),  # ISO: Monday
        (dt.date(2026, 2, 15), Cadence.monthly, dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2028, 2, 29), Cadence.monthly, dt.date(2028, 2, 1), dt.date(2028, 2, 29)),
        (dt.date(2026, 12, 31), Cadence.monthly, dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
    ],
)
def test_periods(day: dt.date, cadence: Cadence, start: dt.date, last: dt.date) -> None:
    assert period_start(day, cadence) == start
    assert period_last_day(start, cadence) == last


def test_add_periods_crosses_years() -> None:
    assert add_periods(dt.date(2026, 11, 1), Cadence.monthly, 3) == dt.date(2027, 2, 1)
    assert add_periods(dt.date(2026, 1, 1), Cadence.monthly, -1) == dt.date(2025, 12, 1)


def test_stale_after_two_whole_periods_without_data_in_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    # Last data on Friday 2026-03-27 (daily): Saturday and Sunday pass without data; stale from
    # Monday 00:00 Paris — which is 22:00 UTC on Sunday, since DST began on the 29th.
    assert stale_since(dt.date(2026, 3, 27), Cadence.daily, paris, dt.timedelta()) == dt.datetime(
        2026, 3, 29, 22, 0, tzinfo=dt.UTC
    )
    assert stale_since(dt.date(2026, 1, 1), Cadence.monthly, paris, dt.timedelta(hours=6)) == dt.datetime(
        2026, 4, 1, 4, 0, tzinfo=dt.UTC
    )


def test_trend_only_against_the_period_just_before() -> None:
    now = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
    current = PeriodAggregate(dt.date(2026, 3, 1), 2, 10.0, 4.0, 6.0, 6.0, now)
    before = PeriodAggregate(dt.date(2026, 2, 1), 1, 4.0, 4.0, 4.0, 4.0, now)
    assert trend(current, before, Cadence.monthly, Aggregation.avg) == (dt.date(2026, 2, 1), 4.0, 1.0, 0.25)
    gap = PeriodAggregate(dt.date(2026, 1, 1), 1, 4.0, 4.0, 4.0, 4.0, now)
    assert trend(current, gap, Cadence.monthly, Aggregation.avg) is None
    zero = PeriodAggregate(dt.date(2026, 2, 1), 1, 0.0, 0.0, 0.0, 0.0, now)
    assert trend(current, zero, Cadence.monthly, Aggregation.sum) == (dt.date(2026, 2, 1), 0.0, 10.0, None)


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [(Aggregation.sum, 12.0), (Aggregation.avg, 4.0), (Aggregation.min, 1.0), (Aggregation.max, 8.0),
     (Aggregation.last, 3.0)],
)  # fmt: skip
def test_aggregations(aggregation: Aggregation, expected: float) -> None:
    period = PeriodAggregate(dt.date(2026, 3, 1), 3, 12.0, 1.0, 8.0, 3.0, dt.datetime(2026, 3, 2, tzinfo=dt.UTC))
    assert period.value(aggregation) == expected
