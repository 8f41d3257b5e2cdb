"""Wire contracts of the strategy service that other services use (the gateway's alignment views)."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from shared.schemas import CalendarDay, PublicModel, StrictModel


class Level(StrEnum):
    """Where an objective sits in the cascade."""

    company = "company"
    department = "department"
    team = "team"


class ObjectiveStatus(StrEnum):
    draft = "draft"
    active = "active"
    completed = "completed"
    cancelled = "cancelled"


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


class KpiValue(StrEnum):
    """Which value of a linked KPI a key result reads: its status value, or its aggregation over
    the objective's period up to today."""

    latest = "latest"
    period = "period"


class CurrentSource(StrEnum):
    """Where a key result's current value came from."""

    check_in = "check_in"
    kpi = "kpi"
    none = "none"
    kpi_unavailable = "kpi_unavailable"


class ObjectivePublic(PublicModel):
    id: uuid.UUID
    title: str
    description: str
    level: Level
    parent_id: uuid.UUID | None
    owner_org_unit_id: uuid.UUID | None
    period_start: dt.date
    period_end: dt.date
    status: ObjectiveStatus
    weight: float
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    progress: float | None = Field(description="Weighted roll-up of key results and children (DESIGN §9).")
    expected_progress: float = Field(description="Share of the period elapsed, in the organisation's time zone.")
    pace_status: PaceStatus
    degraded: list[str] = Field(description="Sources that could not be reached (e.g. `kpi`), else empty.")
    closed_at: dt.datetime | None = Field(
        default=None,
        description="When the objective was closed (`POST …/close`): progress and pace are then the figures "
        "frozen at that instant.",
    )
    retrospective: str | None = Field(default=None, description="The note recorded when the objective was closed.")


class KeyResultPublic(PublicModel):
    id: uuid.UUID
    objective_id: uuid.UUID
    title: str
    kind: KeyResultKind
    unit: str
    start_value: float
    target_value: float
    weight: float
    kpi: str | None
    kpi_value: KpiValue
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    current_value: float | None = Field(description="The latest check-in's value, or the linked KPI's; or null.")
    current_source: CurrentSource
    progress: float = Field(ge=0, le=1, description="DESIGN §9; 0 without a current value.")
    confidence: float | None = Field(description="The latest check-in's confidence, or null.")
    forecast_value: float | None = Field(description="Least-squares line at the period's end; null below 3 points.")
    forecast_progress: float | None
    cached_at: dt.datetime | None = Field(
        default=None,
        description="With `current_source: kpi_unavailable`: when the value shown was last read from the KPI service.",
    )


class ObjectiveTree(ObjectivePublic):
    key_results: list[KeyResultPublic]
    children: list[ObjectiveTree]


# ---------------------------------------------------------------- what the alignment views read


class KpiLink(BaseModel):
    """A KPI and what it measures: the key results linked to it (not archived, under objectives not
    archived) and their objectives, each list in creation order."""

    kpi: str
    key_result_ids: list[uuid.UUID]
    objective_ids: list[uuid.UUID]


class KpiLinks(BaseModel):
    """Every KPI key that measures at least one key result, ordered by key: complete, not a page."""

    items: list[KpiLink]


class ObjectiveSummary(BaseModel):
    """An objective of a parent chain: who it is and how it goes."""

    id: uuid.UUID
    title: str
    level: Level
    status: ObjectiveStatus
    owner_org_unit_id: uuid.UUID | None
    period_start: dt.date
    period_end: dt.date
    archived_at: dt.datetime | None
    progress: float | None
    expected_progress: float
    pace_status: PaceStatus
    degraded: list[str]


class ObjectiveLineage(BaseModel):
    """``GET /v1/objectives/{id}/lineage``: the objective with its progress, its key results, and the
    objectives it contributes to, nearest first, up to the root."""

    objective: ObjectivePublic
    key_results: list[KeyResultPublic]
    parents: list[ObjectiveSummary] = Field(description="The parent first, the root last; empty for a root.")
    initiatives: list[InitiativeBrief] = Field(
        default_factory=list,
        description="Open initiatives (planned or in progress) aimed at the objective, one of its key results "
        "or one of their KPIs, oldest first.",
    )


class ForestKeyResult(KeyResultPublic):
    last_check_in_at: dt.datetime | None = Field(description="When its latest check-in was made, or null.")


class ObjectiveForestNode(ObjectivePublic):
    key_results: list[ForestKeyResult]
    children: list[ObjectiveForestNode] = Field(description="Its children in the forest's set, oldest first.")


class ObjectiveForest(BaseModel):
    """``GET /v1/objective-forest``: every objective not archived whose period holds ``active_on``
    (and at ``level``, when given), as trees. A root is an objective whose parent is not in that set;
    progress counts every child, in the set or not (DESIGN §9)."""

    active_on: dt.date
    level: Level | None
    objectives: list[ObjectiveForestNode]
    degraded: list[str] = Field(description="Sources that could not be reached for some objective (e.g. `kpi`).")
    initiatives: list[InitiativeBrief] = Field(
        default_factory=list,
        description="Open initiatives aimed at any objective of the forest, one of their key results or one "
        "of their KPIs, oldest first.",
    )


class ObjectiveCopyCreate(StrictModel):
    """``POST /v1/objectives/{id}/copy``: the copy's period."""

    period_start: CalendarDay = Field(description="First day of the copy's period (local date).")
    period_end: CalendarDay = Field(description="Last day of the copy's period, inclusive.")


class ObjectiveCopy(ObjectivePublic):
    """The copy of an objective into another period, with its key results (each restarting from the
    original's current value, or keeping its start once the target was reached)."""

    key_results: list[KeyResultPublic]
    copied_from: uuid.UUID = Field(description="The objective copied.")
    parent_kept: bool = Field(
        description="Whether the copy contributes to the original's parent: only when the parent's "
        "period overlaps the new one (false as well when the original had no parent)."
    )


# --- initiatives --------------------------------------------------------------------------------


class InitiativeStatus(StrEnum):
    """An initiative moves `planned` → `in_progress` → `done` | `cancelled` (`planned` → `cancelled`
    too); `done` and `cancelled` are final."""

    planned = "planned"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


OPEN_INITIATIVE_STATUSES = frozenset({InitiativeStatus.planned, InitiativeStatus.in_progress})
"""The statuses of an initiative still to be carried out: what `overdue` and "an open initiative" mean."""

MAX_LOOKUP_TARGETS = 500
"""The most objectives, key results or KPIs one `POST /v1/initiative-lookups` names, each."""


class InitiativeBrief(PublicModel):
    """What the alignment views need of an initiative: what it aims at, who carries it, whether it is late."""

    id: uuid.UUID
    title: str
    status: InitiativeStatus
    objective_id: uuid.UUID | None
    key_result_id: uuid.UUID | None
    kpi: str | None = Field(description="Key of the KPI it aims to move.")
    owner_org_unit_id: uuid.UUID | None
    responsible_person_id: uuid.UUID | None
    start_date: dt.date
    due_date: dt.date
    done_on: dt.date | None
    overdue: bool = Field(description="Open (`planned` or `in_progress`) and due before today (organisation's date).")


class InitiativeLookup(StrictModel):
    """`POST /v1/initiative-lookups`: the initiatives (not archived) aimed at any of these objectives,
    key results or KPIs, in one read."""

    objective_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_LOOKUP_TARGETS)
    key_result_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_LOOKUP_TARGETS)
    kpis: list[Annotated[str, StringConstraints(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_LOOKUP_TARGETS, description="KPI keys."
    )
    open_only: bool = Field(default=True, description="Only `planned` and `in_progress` initiatives.")


class InitiativeBriefs(PublicModel):
    """Every match, oldest first: a complete list, not a page."""

    items: list[InitiativeBrief]
