"""Small-group suppression, including by difference (§9): asserted by computing every difference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.talent_service.suppression import (
    DIRECT,
    breakdown,
    direct_part_visible,
    shown_figures,
    subtree_counts,
    suppress,
    visible_units,
)

TREE: dict[str, str | None] = {"co": None, "ops": "co", "t1": "ops", "t2": "ops", "t3": "ops", "sales": "co"}


def test_below_five_is_hidden_and_five_is_shown() -> None:
    assert suppress({"a": 4, "b": 9, DIRECT: 5}) >= {"a"}
    assert "b" not in suppress({"a": 0, "b": 5, DIRECT: 0})
    assert visible_units({"x": None}, {"x": 4}) == set()
    assert visible_units({"x": None}, {"x": 5}) == {"x"}


def test_a_team_of_three_beside_one_of_twenty_hides_both() -> None:
    direct = {"co": 10, "ops": 0, "t1": 3, "t2": 20, "t3": 0, "sales": 30}
    assert suppress(breakdown("ops", TREE, direct)) == {"t1", "t2", "t3", DIRECT}
    shown = visible_units(TREE, direct)
    assert {"co", "ops", "sales"} <= shown
    assert shown.isdisjoint({"t1", "t2"})


def test_two_teams_of_two_hide_the_smallest_visible_part_and_keep_the_direct_members() -> None:
    direct = {"co": 10, "ops": 10, "t1": 2, "t2": 2, "t3": 6, "sales": 30}
    assert suppress(breakdown("ops", TREE, direct)) == {"t1", "t2", "t3"}  # t3 (6) is smaller than 10
    assert direct_part_visible("ops", TREE, direct)


def test_a_unit_hidden_in_its_parents_breakdown_stays_hidden_asked_alone() -> None:
    direct = {"co": 0, "ops": 0, "t1": 3, "t2": 20, "t3": 0, "sales": 40}
    shown = visible_units(TREE, direct)
    assert "t2" not in shown  # 20 people, but hidden to protect t1
    deeper = {**TREE, "squad": "t2"}  # nor is anything below it shown
    assert "squad" not in visible_units(deeper, {**direct, "t2": 0, "squad": 20})


def test_subtree_counts() -> None:
    direct = {"co": 1, "ops": 2, "t1": 3, "t2": 4, "t3": 5, "sales": 6}
    assert subtree_counts(TREE, direct) == {"co": 21, "ops": 14, "t1": 3, "t2": 4, "t3": 5, "sales": 6}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(TREE)), st.integers(0, 12)))
def test_no_hidden_figure_is_recoverable_by_difference(counts: dict[str, int]) -> None:
    direct = {unit: counts.get(unit, 0) for unit in TREE}
    shown = visible_units(TREE, direct)
    totals = subtree_counts(TREE, direct)
    for unit in TREE:
        parts = breakdown(unit, TREE, direct)
        visible_parts = {p for p in parts if (p in shown if p != DIRECT else direct_part_visible(unit, TREE, direct))}
        if unit in shown:
            # total minus every visible part = what the hidden parts hold together: 0 or at least 5
            hidden_total = totals[unit] - sum(parts[p] for p in visible_parts)
            assert hidden_total == 0 or hidden_total >= 5
        else:
            assert all(p not in shown for p in parts if p != DIRECT)
        for part in visible_parts:
            assert parts[part] >= 5


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(list(TREE)), st.integers(0, 12)))
def test_shown_figures_answers_for_every_unit_at_once_under_any_key(counts: dict[str, int]) -> None:
    direct = {unit: counts.get(unit, 0) for unit in TREE}
    ids = {unit: index + 100 for index, unit in enumerate(TREE)}  # units named by something else than a str
    shown = shown_figures(
        {ids[u]: ids[p] if p is not None else None for u, p in TREE.items()}, {ids[u]: n for u, n in direct.items()}
    )
    assert shown.units == {ids[u] for u in visible_units(TREE, direct)}
    assert shown.direct_parts == {ids[u] for u in TREE if direct_part_visible(u, TREE, direct)}
