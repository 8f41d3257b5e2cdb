"""Initiative effect (DESIGN §9): did the KPI move after the work was done?

The KPI's daily values before the initiative started are compared with those after it was done
(or, while it is in progress, since it started): the difference of means, its size relative to the
level before, and a two-sided Welch t-test (unequal variances; SciPy's implementation) for whether
the difference is more than noise::

    window = effect_window(start, due, done_on=None, today=today)
    result = measure_effect(before_values, after_values, good=GoodSide.up)
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, StrEnum

from scipy import stats

MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 90
MIN_SAMPLE_DAYS = 5
SIGNIFICANCE = 0.05
DAY = dt.timedelta(days=1)


class EffectVerdict(StrEnum):
    """Whether an initiative's KPI moved the right way, the wrong way, or not clearly."""

    improved = "improved"
    worsened = "worsened"
    inconclusive = "inconclusive"


class GoodSide(Enum):
    """Which way the KPI should move: up (`increase`), down (`decrease`), or none known (a
    `target_range` KPI already inside its band)."""

    up = 1
    down = -1
    none = 0


@dataclass(frozen=True, slots=True)
class DateRange:
    first: dt.date
    last: dt.date  # inclusive; before ``first`` when the range is empty (e.g. cut at today)


@dataclass(frozen=True, slots=True)
class EffectWindow:
    days: int
    before: DateRange
    after: DateRange


def effect_window(start: dt.date, due: dt.date, done_on: dt.date | None, today: dt.date) -> EffectWindow:
    """``w = clamp(due - start + 1, 7, 90)`` days; before = the ``w`` days before the start; after =
    the ``w`` days after the day it was done, cut at today (in progress: from the start to today).
    Like every period, the before window is cut at today too (an initiative started ahead of its
    start date)."""
    days = min(max((due - start).days + 1, MIN_WINDOW_DAYS), MAX_WINDOW_DAYS)
    before = DateRange(start - days * DAY, min(start - DAY, today))
    after = DateRange(start, today) if done_on is None else DateRange(done_on + DAY, min(done_on + days * DAY, today))
    return EffectWindow(days, before, after)


@dataclass(frozen=True, slots=True)
class Effect:
    mean_before: float | None
    mean_after: float | None
    effect: float | None
    relative_effect: float | None
    p_value: float | None
    verdict: EffectVerdict


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def welch_p_value(before: Sequence[float], after: Sequence[float]) -> float | None:
    """Two-sided p-value of Welch's t-test; None when it is undefined (fewer than two values on a
    side, or no variance on either)."""
    if len(before) < 2 or len(after) < 2 or (len(set(before)) == 1 and len(set(after)) == 1):
        return None
    result = stats.ttest_ind(after, before, equal_var=False)
    p_value = float(result.pvalue)
    return None if math.isnan(p_value) else p_value


def measure_effect(before: Sequence[float], after: Sequence[float], good: GoodSide) -> Effect:
    """The effect of the daily values ``after`` against ``before``, judged against the good side."""
    mean_before, mean_after = _mean(before), _mean(after)
    effect = None if mean_before is None or mean_after is None else mean_after - mean_before
    relative = effect / abs(mean_before) if effect is not None and mean_before else None
    p_value = welch_p_value(before, after)
    verdict = EffectVerdict.inconclusive
    enough = len(before) >= MIN_SAMPLE_DAYS and len(after) >= MIN_SAMPLE_DAYS
    if enough and effect is not None and p_value is not None and p_value < SIGNIFICANCE and good is not GoodSide.none:
        direction = (effect > 0) - (effect < 0)
        if direction == good.value:
            verdict = EffectVerdict.improved
        elif direction == -good.value:
            verdict = EffectVerdict.worsened
    return Effect(mean_before, mean_after, effect, relative, p_value, verdict)


def good_side_for_band(level: float, low: float, high: float) -> GoodSide:
    """For a `target_range` KPI at ``level`` before the initiative: toward the band."""
    if level < low:
        return GoodSide.up
    if level > high:
        return GoodSide.down
    return GoodSide.none
