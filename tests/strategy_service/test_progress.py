"""DESIGN §9's strategy arithmetic on hand-computed cases."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from services.strategy_service.progress import (
    DayAggregate,
    Observation,
    PaceThresholds,
    daily_observations,
    expected_progress,
    in_window,
    key_result_progress,
    linear_forecast,
    pace_status,
    running_observations,
    weighted_progress,
)
from shared.calendar import local_midnight, period_bounds
from shared.contracts.kpi import Aggregation
from shared.contracts.strategy import KeyResultKind, PaceStatus

K = KeyResultKind
PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


@pytest.mark.parametrize(
    ("kind", "start", "target", "current", "expected"),
    [
        (K.increase, 10, 20, 10, 0.0),  # at start
        (K.increase, 10, 20, 5, 0.0),  # below start: the wrong way is 0
        (K.increase, 10, 20, 15, 0.5),
        (K.increase, 10, 20, 20, 1.0),  # at target
        (K.increase, 10, 20, 35, 1.0),  # beyond target
        (K.decrease, 100, 60, 100, 0.0),
        (K.decrease, 100, 60, 110, 0.0),  # worse than start
        (K.decrease, 100, 60, 90, 0.25),
        (K.decrease, 100, 60, 60, 1.0),
        (K.decrease, 100, 60, 10, 1.0),
        (K.stay_above, 0, 95, 95, 1.0),
        (K.stay_above, 0, 95, 94.999, 0.0),
        (K.stay_below, 0, 5, 5, 1.0),
        (K.stay_below, 0, 5, 5.001, 0.0),
        (K.milestone, 0, 1, 1, 1.0),
        (K.milestone, 0, 1, 0, 0.0),
        (K.milestone, 0, 1, 0.99, 0.0),
        (K.increase, 10, 20, None, 0.0),  # no current value
        (K.stay_above, 0, 95, None, 0.0),
        (K.milestone, 0, 1, None, 0.0),
    ],
)
def test_key_result_progress(
    kind: KeyResultKind, start: float, target: float, current: float | None, expected: float
) -> None:
    assert key_result_progress(kind, start, target, current) == pytest.approx(expected)


def test_weighted_progress_skips_what_has_none() -> None:
    assert weighted_progress([(1, 0.5), (3, 1.0)]) == pytest.approx(0.875)
    assert weighted_progress([(2, 0.4), (5, None)]) == pytest.approx(0.4)  # the child without progress
    assert weighted_progress([(1, None)]) is None
    assert weighted_progress([]) is None


def test_three_level_roll_up_by_weight() -> None:
    team_a = weighted_progress([(1, 1.0), (1, 0.0)])  # 0.5
    team_b = weighted_progress([(2, 0.9), (1, 0.6)])  # 0.8
    empty_team = weighted_progress([])  # nothing measurable: excluded from its parent
    department = weighted_progress([(1, team_a), (3, team_b), (5, empty_team), (1, 0.2)])
    assert department == pytest.approx((0.5 + 3 * 0.8 + 0.2) / 5)
    company = weighted_progress([(2, department), (1, 0.1)])
    assert company == pytest.approx((2 * (3.1 / 5) + 0.1) / 3)


def test_expected_progress_at_the_edges_of_a_paris_quarter() -> None:
    start, end = period_bounds(dt.date(2026, 1, 1), dt.date(2026, 3, 31), PARIS)
    assert start == dt.datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert end == dt.datetime(2026, 3, 31, 22, tzinfo=UTC)  # after the spring change: UTC+2
    assert expected_progress(start, start, end) == 0.0
    assert expected_progress(start - dt.timedelta(seconds=1), start, end) == 0.0
    assert expected_progress(end, start, end) == 1.0
    assert expected_progress(end + dt.timedelta(days=3), start, end) == 1.0
    last_instant = end - dt.timedelta(microseconds=1)
    assert 0.9999999 < expected_progress(last_instant, start, end) < 1.0


def test_expected_progress_across_a_dst_change_counts_real_time() -> None:
    # 2026-03-29 in Paris lasts 23 hours: [28 Mar 00:00, 31 Mar 00:00) is 71 hours, not 72.
    start, end = period_bounds(dt.date(2026, 3, 28), dt.date(2026, 3, 30), PARIS)
    assert (end - start) == dt.timedelta(hours=71)
    noon_on_the_29th = dt.datetime(2026, 3, 29, 12, tzinfo=PARIS)
    assert expected_progress(noon_on_the_29th, start, end) == pytest.approx((24 + 11) / 71)


def test_local_midnight_is_the_first_instant_of_the_day() -> None:
    # Clocks go back at 01:00 to 00:00 in the Azores: midnight happens twice, the day starts at the first.
    assert local_midnight(dt.date(2026, 10, 25), ZoneInfo("Atlantic/Azores")) == dt.datetime(2026, 10, 25, tzinfo=UTC)
    # Santiago jumps from 24:00 to 01:00: the day starts at 01:00 local (-03:00).
    assert local_midnight(dt.date(2026, 9, 6), ZoneInfo("America/Santiago")) == dt.datetime(2026, 9, 6, 4, tzinfo=UTC)


START = dt.datetime(2026, 1, 1, tzinfo=UTC)
T = PaceThresholds()


@pytest.mark.parametrize(
    ("now", "progress", "expected", "status"),
    [
        (START - dt.timedelta(seconds=1), None, 0.0, PaceStatus.not_started),  # before the start, first
        (START - dt.timedelta(seconds=1), 0.5, 0.0, PaceStatus.not_started),
        (START, None, 0.0, PaceStatus.no_data),
        (START, 1.0, 0.9, PaceStatus.achieved),
        (START, 1.0, 0.0, PaceStatus.achieved),
        (START, 0.3, 0.5, PaceStatus.on_track),  # exactly -0.2
        (START, 0.29, 0.5, PaceStatus.at_risk),
        (START, 0.1, 0.5, PaceStatus.at_risk),  # exactly -0.4
        (START, 0.09, 0.5, PaceStatus.off_track),
        (START, 0.9, 0.5, PaceStatus.on_track),  # ahead
    ],
)
def test_pace_status_at_its_edges(
    now: dt.datetime, progress: float | None, expected: float, status: PaceStatus
) -> None:
    assert pace_status(now, START, progress, expected, T) is status


def test_pace_thresholds_are_configurable() -> None:
    strict = PaceThresholds(at_risk=-0.05, off_track=-0.1)
    assert pace_status(START, START, 0.44, 0.5, strict) is PaceStatus.at_risk
    assert pace_status(START, START, 0.39, 0.5, strict) is PaceStatus.off_track
    assert pace_status(START, START, 0.45, 0.5, strict) is PaceStatus.on_track


def _at(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 1, day, hour, tzinfo=UTC)


def test_forecast_on_exact_linear_data_equals_the_line() -> None:
    # value = 10 + 2 per day
    observations = [Observation(_at(d), 10 + 2 * (d - 1)) for d in (1, 4, 6, 11)]
    assert linear_forecast(observations, _at(31)) == pytest.approx(70)


def test_forecast_is_least_squares_on_noisy_data() -> None:
    observations = [Observation(_at(1), 1.0), Observation(_at(2), 3.0), Observation(_at(3), 2.0)]
    # x = 0, 1, 2 days; slope 0.5, intercept 1.5 → at day 10 (x = 9): 6.0
    assert linear_forecast(observations, _at(10)) == pytest.approx(6.0)


def test_forecast_needs_three_observations_at_two_instants() -> None:
    assert linear_forecast([Observation(_at(1), 1), Observation(_at(2), 2)], _at(9)) is None
    assert linear_forecast([], _at(9)) is None
    same_instant = [Observation(_at(1), v) for v in (1, 2, 3)]
    assert linear_forecast(same_instant, _at(9)) is None
    two_instants = [Observation(_at(1), 1), Observation(_at(1), 3), Observation(_at(3), 4)]
    assert linear_forecast(two_instants, _at(5)) is not None


def _day(day: int, value: float, count: int, total: float, low: float, high: float) -> DayAggregate:
    return DayAggregate(_at(day), _at(day + 1), value, count, total, low, high)


DAYS = [_day(1, 5, 2, 10, 4, 6), _day(2, 9, 1, 9, 9, 9), _day(4, 1, 3, 6, 1, 3)]


def test_daily_observations_sit_at_each_days_midpoint() -> None:
    assert daily_observations(DAYS) == [
        Observation(_at(1, 12), 5),
        Observation(_at(2, 12), 9),
        Observation(_at(4, 12), 1),
    ]


@pytest.mark.parametrize(
    ("aggregation", "values"),
    [
        (Aggregation.sum, [10, 19, 25]),
        (Aggregation.avg, [5, 19 / 3, 25 / 6]),
        (Aggregation.min, [4, 4, 1]),
        (Aggregation.max, [6, 9, 9]),
        (Aggregation.last, [5, 9, 1]),
    ],
)
def test_running_observations_aggregate_from_the_period_start(aggregation: Aggregation, values: list[float]) -> None:
    observations = running_observations(DAYS, aggregation)
    assert [o.at for o in observations] == [_at(2), _at(3), _at(5)]
    assert [o.value for o in observations] == pytest.approx(values)


def test_in_window_keeps_the_period_and_orders_by_time() -> None:
    observations = [Observation(_at(5), 3), Observation(_at(1), 1), Observation(_at(9), 9), Observation(_at(3), 2)]
    assert in_window(observations, _at(1), _at(5)) == [
        Observation(_at(1), 1),
        Observation(_at(3), 2),
        Observation(_at(5), 3),
    ]
