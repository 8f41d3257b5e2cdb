"""The strategy arithmetic of DESIGN §9: key result progress, objective roll-up, expected progress,
pace and forecast. Pure functions of numbers and instants — no I/O — so every read computes them
afresh from current data, and tests can check them against hand computations::

    key_result_progress(KeyResultKind.increase, start=10, target=20, current=15)   # 0.5
    pace_status(now, start, progress=0.3, expected=0.6, thresholds=PaceThresholds())  # at_risk
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.contracts.kpi import Aggregation, LeastSquares
from shared.contracts.strategy import KeyResultKind, PaceStatus

# Float noise must not push a figure sitting exactly on a threshold to the other side of it.
_EDGE = 1e-9


def _clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(max(value, low), high)


def key_result_progress(kind: KeyResultKind, start: float, target: float, current: float | None) -> float:
    """Progress 0 to 1 of a key result whose current value is ``current`` (0 without one)."""
    if current is None:
        return 0.0
    if kind in (KeyResultKind.increase, KeyResultKind.decrease):
        # start == target is refused at creation; the formula covers both directions.
        return _clamp((current - start) / (target - start))
    if kind is KeyResultKind.stay_above:
        return 1.0 if current >= target else 0.0
    if kind is KeyResultKind.stay_below:
        return 1.0 if current <= target else 0.0
    return 1.0 if current == 1 else 0.0  # milestone: its latest check-in says done (1) or not


def weighted_progress(parts: Iterable[tuple[float, float | None]]) -> float | None:
    """The weighted mean of ``(weight, progress)`` pairs that have a progress; None when none has.
    The caller leaves out what does not count (archived key results, archived or cancelled children)."""
    total = weighted = 0.0
    for weight, progress in parts:
        if progress is None:
            continue
        total += weight
        weighted += weight * progress
    return weighted / total if total > 0 else None


def expected_progress(now: dt.datetime, start: dt.datetime, end: dt.datetime) -> float:
    """The share of ``[start, end)`` elapsed at ``now``, clamped to 0 to 1."""
    return _clamp((now - start) / (end - start))


@dataclass(frozen=True, slots=True)
class PaceThresholds:
    """Lowest ``progress - expected`` still on track, and still at risk."""

    at_risk: float = -0.2
    off_track: float = -0.4


def pace_status(
    now: dt.datetime, start: dt.datetime, progress: float | None, expected: float, thresholds: PaceThresholds
) -> PaceStatus:
    """The first that applies: not started, no data, achieved, then by how far progress lags."""
    if now < start:
        return PaceStatus.not_started
    if progress is None:
        return PaceStatus.no_data
    if progress >= 1.0 - _EDGE:
        return PaceStatus.achieved
    gap = progress - expected
    if gap >= thresholds.at_risk - _EDGE:
        return PaceStatus.on_track
    if gap >= thresholds.off_track - _EDGE:
        return PaceStatus.at_risk
    return PaceStatus.off_track


@dataclass(frozen=True, slots=True)
class Observation:
    at: dt.datetime
    value: float


def linear_forecast(observations: Sequence[Observation], at: dt.datetime) -> float | None:
    """The least-squares line of value against time evaluated at ``at``; None with fewer than 3
    observations or fewer than 2 distinct instants."""
    if len(observations) < 3:
        return None
    origin = observations[0].at
    xs = [(o.at - origin).total_seconds() for o in observations]
    ys = [o.value for o in observations]
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:  # every observation at one instant: no line
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y + slope * ((at - origin).total_seconds() - mean_x)


def fitted_forecast(fit: LeastSquares | None, at: dt.datetime) -> float | None:
    """:func:`linear_forecast` from the least-squares sums of the observations (as the KPI service
    gives them for a KPI's days); None with fewer than 3 observations or no spread in time."""
    if fit is None or fit.count < 3 or fit.sxx <= 0:
        return None
    return fit.mean_value + fit.sxy / fit.sxx * (at - fit.mean_time).total_seconds()


@dataclass(frozen=True, slots=True)
class DayAggregate:
    """A KPI over one local day with data: the day's bounds and its figures."""

    start: dt.datetime
    end: dt.datetime
    value: float  # the KPI's aggregation over the day
    count: int
    sum: float
    min: float
    max: float


def daily_observations(days: Sequence[DayAggregate]) -> list[Observation]:
    """A ``latest`` KPI-linked key result: each day's value at the day's midpoint."""
    return [Observation(d.start + (d.end - d.start) / 2, d.value) for d in days]


def running_observations(days: Sequence[DayAggregate], aggregation: Aggregation) -> list[Observation]:
    """A ``period`` KPI-linked key result: the aggregate from the period's start to the end of each
    day with data, at that day's end (``days`` in order)."""
    observations: list[Observation] = []
    count, total = 0, 0.0
    low, high = float("inf"), float("-inf")
    for day in days:
        count += day.count
        total += day.sum
        low, high = min(low, day.min), max(high, day.max)
        value = {
            Aggregation.sum: total,
            Aggregation.avg: total / count,
            Aggregation.min: low,
            Aggregation.max: high,
            Aggregation.last: day.value,  # the day's last value is the period's last so far
        }[aggregation]
        observations.append(Observation(day.end, value))
    return observations


def in_window(observations: Iterable[Observation], start: dt.datetime, end: dt.datetime) -> list[Observation]:
    """The observations inside ``[start, end]`` (a day's end may be the period's end), in time order."""
    return sorted((o for o in observations if start <= o.at <= end), key=lambda o: o.at)
