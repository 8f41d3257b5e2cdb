"""Wire contracts of the strategy service: the vocabulary other services and the gateway read."""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """Where an objective sits in the cascade."""

    company = "company"
    department = "department"
    team = "team"


class KeyResultKind(StrEnum):
    """How a key result's current value turns into progress (DESIGN §9)."""

    increase = "increase"
    decrease = "decrease"
    stay_above = "stay_above"
    stay_below = "stay_below"
    milestone = "milestone"


class PaceStatus(StrEnum):
    """An objective's progress against the share of its period elapsed."""

    not_started = "not_started"
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"
    achieved = "achieved"
    no_data = "no_data"
