"""A literal, person-by-person reading of DESIGN §9's HR indicators, for tests only.

The service computes the indicators set-based in SQL; property tests compare it with this slow,
obvious version on generated companies. Each function follows one sentence of §9.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.talent_service.suppression import MINIMUM_GROUP, visible_units

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Unit:
    id: str
    parent_id: str | None = None


@dataclass(frozen=True)
class Assignment:
    unit_id: str
    effective: dt.date
    created: int = 0  # creation order, to break ties between records of one day


@dataclass(frozen=True)
class Salary:
    effective: dt.date
    amount: float
    currency: str
    created: int = 0


@dataclass(frozen=True)
class Assessment:
    skill: str
    level: int
    on: dt.date
    created: int = 0


@dataclass(frozen=True)
class Enrolment:
    training: str
    enrolled_on: dt.date
    status: str = "enrolled"  # enrolled | completed | dropped
    completed_on: dt.date | None = None


@dataclass(frozen=True)
class Requirement:
    unit_id: str
    skill: str
    level: int
    count: int


@dataclass
class Person:
    id: str
    hire: dt.date
    assignments: list[Assignment]  # the first is effective on the hire date
    end: dt.date | None = None
    reason: str | None = None
    salaries: list[Salary] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    enrolments: list[Enrolment] = field(default_factory=list)


@dataclass(frozen=True)
class Company:
    units: Sequence[Unit]
    people: Sequence[Person]
    requirements: Sequence[Requirement] = ()
    trainings: dict[str, list[str]] = field(default_factory=dict)  # training -> the skills it develops

    def subtree(self, root: str) -> set[str]:
        found, frontier = {root}, [root]
        while frontier:
            parent = frontier.pop()
            children = [u.id for u in self.units if u.parent_id == parent and u.id not in found]
            found.update(children)
            frontier.extend(children)
        return found


def latest(records: Iterable[Assignment], day: dt.date) -> Assignment | None:
    """The latest record effective on or before ``day`` (ties: the later created)."""
    candidates = [r for r in records if r.effective <= day]
    return max(candidates, key=lambda r: (r.effective, r.created), default=None)


def unit_on(person: Person, day: dt.date) -> str | None:
    record = latest(person.assignments, day)
    return record.unit_id if record else None


def member_at_close(person: Person, day: dt.date, units: set[str]) -> bool:
    employed = person.hire <= day and (person.end is None or person.end > day)
    return employed and unit_on(person, day) in units


def member_during(person: Person, day: dt.date, units: set[str]) -> bool:
    employed = person.hire <= day and (person.end is None or day <= person.end)
    return employed and unit_on(person, day) in units


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def salary_on(person: Person, day: dt.date) -> Salary | None:
    candidates = [s for s in person.salaries if s.effective <= day]
    return max(candidates, key=lambda s: (s.effective, s.created), default=None)


def whole_quarters(a: dt.date, b: dt.date) -> bool:
    next_day = b + DAY
    return a.day == 1 and a.month % 3 == 1 and next_day.day == 1 and next_day.month % 3 == 1 and a <= b


def salary_changes(company: Company, unit: str, a: dt.date, b: dt.date) -> list[float]:
    """``salary(b) / salary(a - 1) - 1`` of each person counted in both headcounts of ``unit`` with
    a salary on both days in one currency."""
    units = company.subtree(unit)
    changes = []
    for person in company.people:
        if not (member_at_close(person, a - DAY, units) and member_at_close(person, b, units)):
            continue
        first, last = salary_on(person, a - DAY), salary_on(person, b)
        if first and last and first.currency == last.currency:
            changes.append(last.amount / first.amount - 1)
    return changes


def salary_visible_units(company: Company, a: dt.date, b: dt.date) -> set[str]:
    """The units whose salary evolution survives suppression by difference (§9): each unit's direct
    part is its population less its children's (a person moved between two children counts in the
    parent only)."""
    population = {u.id: len(salary_changes(company, u.id, a, b)) for u in company.units}
    parents = {u.id: u.parent_id for u in company.units}
    direct = {u: population[u] - sum(population[c] for c, parent in parents.items() if parent == u) for u in parents}
    return visible_units(parents, direct)


def level_on(person: Person, skill: str, day: dt.date) -> int:
    """The person's latest assessment of ``skill`` on or before ``day`` (0 without one)."""
    candidates = [x for x in person.assessments if x.skill == skill and x.on <= day]
    best = max(candidates, key=lambda x: (x.on, x.created), default=None)
    return best.level if best else 0


def training_completion_rate(company: Company, unit: str, a: dt.date, b: dt.date) -> float | None:
    """Of enrolments made in ``[a, b]`` by members on that day, the share completed by ``b``."""
    units = company.subtree(unit)
    counted = [
        e
        for p in company.people
        for e in p.enrolments
        if a <= e.enrolled_on <= b and member_during(p, e.enrolled_on, units)
    ]
    done = [e for e in counted if e.status == "completed" and e.completed_on is not None and e.completed_on <= b]
    return _rate(len(done), len(counted))


EFFECT_WINDOW = dt.timedelta(days=180)


def training_gains(company: Company, unit: str, a: dt.date, b: dt.date) -> list[int]:
    """Per (enrolment completed in ``[a, b]`` by a member on its completion day, developed skill)
    assessed within 180 days of completion: the earliest such level (of its day, the last
    recorded) less the level on the enrolment day."""
    units = company.subtree(unit)
    gains = []
    for person in company.people:
        for enrolment in person.enrolments:
            done = enrolment.completed_on
            if enrolment.status != "completed" or done is None or not a <= done <= b:
                continue
            if not member_during(person, done, units):
                continue
            for skill in company.trainings[enrolment.training]:
                after = [x for x in person.assessments if x.skill == skill and done <= x.on <= done + EFFECT_WINDOW]
                if not after:
                    continue
                first = min(after, key=lambda x: (x.on, -x.created))
                gains.append(first.level - level_on(person, skill, enrolment.enrolled_on))
    return gains


def skill_coverage(company: Company, unit: str, b: dt.date) -> float | None:
    """Σ min(N, members of V at the close of ``b`` at level ≥ L) / Σ N over the requirements of
    every unit V of the subtree."""
    units = company.subtree(unit)
    requirements = [r for r in company.requirements if r.unit_id in units]
    if not requirements:
        return None
    met = 0
    for r in requirements:
        holding = company.subtree(r.unit_id)
        meeting = sum(
            1 for p in company.people if member_at_close(p, b, holding) and level_on(p, r.skill, b) >= r.level
        )
        met += min(r.count, meeting)
    return met / sum(r.count for r in requirements)


def workforce(company: Company, unit: str, a: dt.date, b: dt.date) -> dict[str, Any]:
    """Every workforce indicator of §9 for ``unit`` (its subtree) over ``[a, b]``."""
    units = company.subtree(unit)
    opening = {p.id for p in company.people if member_at_close(p, a - DAY, units)}
    closing = {p.id for p in company.people if member_at_close(p, b, units)}
    average = (len(opening) + len(closing)) / 2
    hires = [p for p in company.people if a <= p.hire <= b and unit_on(p, p.hire) in units]
    separations = [p for p in company.people if p.end is not None and a <= p.end <= b and unit_on(p, p.end) in units]
    transfers_in = transfers_out = internal_moves = 0
    for person in company.people:
        ordered = sorted(person.assignments, key=lambda r: (r.effective, r.created))
        for move in ordered[1:]:
            if not a <= move.effective <= b:
                continue
            before = unit_on(person, move.effective - DAY)
            transfers_in += before not in units and move.unit_id in units
            transfers_out += before in units and move.unit_id not in units
            internal_moves += before in units and before != move.unit_id
    stayed = opening & closing
    changes = salary_changes(company, unit, a, b)
    gains = training_gains(company, unit, a, b)
    hidden = len(changes) < MINIMUM_GROUP or not whole_quarters(a, b) or unit not in salary_visible_units(company, a, b)
    return {
        "headcount_start": len(opening),
        "headcount_end": len(closing),
        "average_headcount": average,
        "hires": len(hires),
        "separations": len(separations),
        "voluntary_separations": sum(p.reason == "voluntary" for p in separations),
        "transfers_in": transfers_in,
        "transfers_out": transfers_out,
        "internal_moves": internal_moves,
        "turnover_rate": _rate(len(separations), average),
        "voluntary_turnover_rate": _rate(sum(p.reason == "voluntary" for p in separations), average),
        "retention_rate": _rate(len(stayed), len(opening)),
        "internal_mobility_rate": _rate(internal_moves, average),
        "training_completion_rate": training_completion_rate(company, unit, a, b),
        "training_effectiveness": statistics.fmean(gains) if gains else None,
        "training_effectiveness_pairs": len(gains),
        "skill_coverage": skill_coverage(company, unit, b),
        "salary_evolution": {
            "people": len(changes),
            "mean_change": None if hidden else statistics.fmean(changes),
            "median_change": None if hidden else statistics.median(changes),
            "suppressed": hidden,
        },
    }


def latest_assessment(person: Person, skill: str, day: dt.date) -> Assessment | None:
    candidates = [x for x in person.assessments if x.skill == skill and x.on <= day]
    return max(candidates, key=lambda x: (x.on, x.created), default=None)


def employed_at_close(person: Person, day: dt.date) -> bool:
    return person.hire <= day and (person.end is None or person.end > day)


def requirement_standing(company: Company, requirement: Requirement, day: dt.date) -> dict[str, Any]:
    """One requirement at the close of ``day``: how many members of the requiring unit's subtree
    meet it, who is below, and who outside (employed) meets it, best first."""
    holding = company.subtree(requirement.unit_id)
    members = [p for p in company.people if member_at_close(p, day, holding)]
    meeting = [p for p in members if level_on(p, requirement.skill, day) >= requirement.level]
    below = [p for p in members if level_on(p, requirement.skill, day) < requirement.level]
    outside = []
    for person in company.people:
        if not employed_at_close(person, day) or unit_on(person, day) in holding:
            continue
        record = latest_assessment(person, requirement.skill, day)
        if record is not None and record.level >= requirement.level:
            outside.append((record.level, record.on, person.id))
    outside.sort(key=lambda c: (-c[0], -c[1].toordinal()))
    return {
        "meeting": min(requirement.count, len(meeting)),
        "below": sorted((p.id, level_on(p, requirement.skill, day)) for p in below),
        "candidates": outside,
    }
