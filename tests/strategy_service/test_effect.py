"""Initiative effect (§9) on hand-computed cases and a published Welch example."""

from __future__ import annotations

import datetime as dt

import pytest

from services.strategy_service.effect import (
    DateRange,
    EffectVerdict,
    GoodSide,
    effect_window,
    good_side_for_band,
    measure_effect,
    welch_p_value,
)

D = dt.date

# Welch's t-test, Wikipedia's example 1 (two samples of 15): t = -2.46, df = 25.0, p = 0.021.
A1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
A2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]


def test_welch_p_value_matches_the_published_example() -> None:
    assert welch_p_value(A1, A2) == pytest.approx(0.021, abs=0.0005)
    assert welch_p_value(A2, A1) == pytest.approx(0.021, abs=0.0005)  # two-sided


def test_welch_p_value_is_undefined_without_spread_or_samples() -> None:
    assert welch_p_value([1.0], [2.0, 3.0]) is None
    assert welch_p_value([2.0] * 6, [2.0] * 6) is None


@pytest.mark.parametrize(
    ("start", "due", "days"),
    [
        (D(2026, 3, 1), D(2026, 3, 1), 7),  # one day: clamped up to 7
        (D(2026, 3, 1), D(2026, 3, 7), 7),
        (D(2026, 3, 1), D(2026, 3, 10), 10),
        (D(2026, 1, 1), D(2026, 3, 31), 90),
        (D(2026, 1, 1), D(2026, 12, 31), 90),  # clamped down to 90
    ],
)
def test_window_length_is_clamped(start: dt.date, due: dt.date, days: int) -> None:
    window = effect_window(start, due, done_on=due, today=D(2030, 1, 1))
    assert window.days == days
    assert window.before == DateRange(start - dt.timedelta(days=days), start - dt.timedelta(days=1))
    assert window.after == DateRange(due + dt.timedelta(days=1), due + dt.timedelta(days=days))


def test_after_window_is_cut_at_today_and_in_progress_runs_from_the_start() -> None:
    done = effect_window(D(2026, 3, 1), D(2026, 3, 10), done_on=D(2026, 3, 12), today=D(2026, 3, 15))
    assert done.after == DateRange(D(2026, 3, 13), D(2026, 3, 15))
    running = effect_window(D(2026, 3, 1), D(2026, 3, 10), done_on=None, today=D(2026, 3, 15))
    assert running.after == DateRange(D(2026, 3, 1), D(2026, 3, 15))
    assert running.before == DateRange(D(2026, 2, 19), D(2026, 2, 28))


def test_effect_sign_respects_the_kpis_direction() -> None:
    up = measure_effect(A1, A2, GoodSide.up)
    assert up.effect == pytest.approx(sum(A2) / 15 - sum(A1) / 15)
    assert up.relative_effect == pytest.approx(up.effect / (sum(A1) / 15))  # type: ignore[operator]
    assert up.verdict is EffectVerdict.improved
    assert measure_effect(A1, A2, GoodSide.down).verdict is EffectVerdict.worsened
    assert measure_effect(A2, A1, GoodSide.down).verdict is EffectVerdict.improved
    assert measure_effect(A1, A2, GoodSide.none).verdict is EffectVerdict.inconclusive


def test_target_range_moves_toward_the_band() -> None:
    assert good_side_for_band(10, 20, 30) is GoodSide.up
    assert good_side_for_band(40, 20, 30) is GoodSide.down
    assert good_side_for_band(25, 20, 30) is GoodSide.none


def test_fewer_than_five_days_is_inconclusive_even_when_significant() -> None:
    small = measure_effect([1.0, 1.1, 0.9, 1.0], [5.0, 5.1, 4.9, 5.0, 5.2], GoodSide.up)
    assert small.p_value is not None
    assert small.p_value < 0.05
    assert small.verdict is EffectVerdict.inconclusive


def test_not_significant_is_inconclusive() -> None:
    result = measure_effect([1, 3, 2, 4, 2], [2, 4, 1, 3, 3], GoodSide.up)
    assert result.p_value is not None
    assert result.p_value > 0.05
    assert result.verdict is EffectVerdict.inconclusive


def test_relative_effect_is_null_when_the_level_before_is_zero() -> None:
    result = measure_effect([0, 0, 1, -1, 0], [3, 4, 5, 4, 3], GoodSide.up)
    assert result.mean_before == 0
    assert result.relative_effect is None


def test_empty_samples_give_no_effect() -> None:
    result = measure_effect([], [1.0, 2.0], GoodSide.up)
    assert (result.effect, result.p_value, result.verdict) == (None, None, EffectVerdict.inconclusive)


def test_before_window_is_cut_at_today_for_an_initiative_started_ahead_of_its_start_date() -> None:
    early = effect_window(D(2026, 3, 10), D(2026, 3, 20), done_on=None, today=D(2026, 3, 5))
    assert early.before == DateRange(D(2026, 2, 27), D(2026, 3, 5))
    assert early.after.first > early.after.last  # nothing after yet
