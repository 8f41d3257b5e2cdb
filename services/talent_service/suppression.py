"""Small-group suppression (DESIGN §9): no figure about fewer than 5 people (or survey responses)
is shown, alone or recoverable by subtracting visible figures from a visible total.

A unit's *breakdown* has one part per child unit (its whole subtree) plus one for the unit's own
direct members. In a breakdown, the parts under 5 are hidden; then, while the hidden parts together
hold 1 to 4, the smallest visible part is hidden too. A unit is shown only if it holds at least 5
and it is shown in its parent's breakdown — and its parent is shown, up to the root — so a unit gets
the same answer asked alone or in any breakdown::

    shown = visible_units(parents={"ops": "co", "t1": "ops", ...}, direct={"co": 12, "t1": 3, ...})
    "t1" in shown
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

MINIMUM_GROUP = 5
DIRECT = ""  # the part of a breakdown that stands for the unit's own direct members


@dataclass(frozen=True, slots=True)
class Breakdown:
    hidden: frozenset[str]  # child ids hidden in it, and DIRECT when the direct members are


def suppress(parts: Mapping[str, int]) -> frozenset[str]:
    """The parts of one breakdown to hide, given each part's count (``DIRECT`` for direct members)."""
    hidden = {part for part, count in parts.items() if count < MINIMUM_GROUP}
    while 0 < sum(parts[p] for p in hidden) < MINIMUM_GROUP:
        visible = [p for p in parts if p not in hidden]
        if not visible:
            break
        hidden.add(min(visible, key=lambda p: (parts[p], p)))  # ties: by id, so the answer is stable
    return frozenset(hidden)


def subtree_counts(parents: Mapping[str, str | None], direct: Mapping[str, int]) -> dict[str, int]:
    """Each unit's count over its whole subtree."""
    totals = {unit: direct.get(unit, 0) for unit in parents}
    for unit in parents:
        ancestor = parents[unit]
        seen = {unit}
        while ancestor is not None and ancestor not in seen:  # a cycle cannot loop forever
            totals[ancestor] += direct.get(unit, 0)
            seen.add(ancestor)
            ancestor = parents.get(ancestor)
    return totals


def breakdown(unit: str, parents: Mapping[str, str | None], direct: Mapping[str, int]) -> dict[str, int]:
    """The parts of ``unit``'s breakdown with their counts."""
    totals = subtree_counts(parents, direct)
    parts = {child: totals[child] for child, parent in parents.items() if parent == unit}
    parts[DIRECT] = direct.get(unit, 0)
    return parts


def _walk(parents: Mapping[str, str | None], direct: Mapping[str, int]) -> tuple[set[str], set[str]]:
    """The units that may be shown, and those of them whose direct part may be shown too."""
    totals = subtree_counts(parents, direct)
    children: dict[str, list[str]] = {}
    for unit, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(unit)
    shown: set[str] = set()
    direct_shown: set[str] = set()
    frontier = [u for u, p in parents.items() if p is None and totals[u] >= MINIMUM_GROUP]
    while frontier:
        unit = frontier.pop()
        shown.add(unit)
        parts = {child: totals[child] for child in children.get(unit, [])}
        parts[DIRECT] = direct.get(unit, 0)
        hidden = suppress(parts)
        if DIRECT not in hidden:
            direct_shown.add(unit)
        frontier.extend(child for child in children.get(unit, []) if child not in hidden)
    return shown, direct_shown


def visible_units(parents: Mapping[str, str | None], direct: Mapping[str, int]) -> set[str]:
    """Every unit whose figure may be shown. ``parents`` maps each unit of the forest to its parent
    (None for a root); ``direct`` counts each unit's own members (or responses)."""
    return _walk(parents, direct)[0]


K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Shown(Generic[K]):
    """What one suppression allows in a forest."""

    units: frozenset[K]  # the units whose figure (over their subtree) may be shown
    direct_parts: frozenset[K]  # the units whose own direct members may be shown as a part of their breakdown


def shown_figures(parents: Mapping[K, K | None], direct: Mapping[K, int]) -> Shown[K]:
    """:func:`visible_units` and :func:`direct_part_visible` for every unit at once, for units named
    by any key (ids): ``parents`` maps each unit to its parent, ``direct`` counts its own members."""
    names = {unit: str(unit) for unit in parents}
    units = {name: unit for unit, name in names.items()}
    tree = {names[u]: names.get(p) if p is not None else None for u, p in parents.items()}
    shown, direct_shown = _walk(tree, {names[u]: direct.get(u, 0) for u in parents})
    return Shown(frozenset(units[n] for n in shown), frozenset(units[n] for n in direct_shown))


def direct_part_visible(unit: str, parents: Mapping[str, str | None], direct: Mapping[str, int]) -> bool:
    """Whether the unit's own direct members may be shown as a part of its breakdown."""
    return unit in visible_units(parents, direct) and DIRECT not in suppress(breakdown(unit, parents, direct))
