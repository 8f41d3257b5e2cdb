"""Wire models of the initiatives sub-domain; what other services read is in
:mod:`shared.contracts.strategy` (``InitiativeBrief``, ``InitiativeLookup``)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import Field

from services.strategy_service.effect import EffectVerdict
from shared.contracts.kpi import Direction
from shared.contracts.strategy import InitiativeStatus
from shared.schemas import CalendarDay, PublicModel, StrictModel

_KPI = "Key of the KPI it aims to move (checked with the KPI service)."


# The effect reads up to 90 days before the start: every window stays inside the calendar.
Day = CalendarDay


class InitiativeCreate(StrictModel):
    """At least one of `objective_id`, `key_result_id` and `kpi` says what it aims at."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    owner_org_unit_id: uuid.UUID | None = None
    responsible_person_id: uuid.UUID | None = Field(default=None, description="A talent person id.")
    objective_id: uuid.UUID | None = None
    key_result_id: uuid.UUID | None = None
    kpi: str | None = Field(default=None, min_length=1, max_length=100, description=_KPI)
    start_date: Day = Field(description="First day of the work (local date).")
    due_date: Day = Field(description="Day it is due, on or after `start_date`.")
    status: InitiativeStatus = Field(
        default=InitiativeStatus.planned, description="`planned` or `in_progress`; it is marked done with PATCH."
    )


class InitiativeUpdate(StrictModel):
    """Only the fields sent change; `null` clears an optional one. `status` moves along `planned` →
    `in_progress` → `done` | `cancelled` (`planned` → `cancelled` too); `done_on` goes with `done`
    (default today; may be in the past, not before `start_date`, not in the future) and may be
    corrected on a done initiative."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    owner_org_unit_id: uuid.UUID | None = None
    responsible_person_id: uuid.UUID | None = None
    objective_id: uuid.UUID | None = None
    key_result_id: uuid.UUID | None = None
    kpi: str | None = Field(default=None, min_length=1, max_length=100, description=_KPI)
    start_date: Day | None = None
    due_date: Day | None = None
    status: InitiativeStatus | None = None
    done_on: Day | None = None


class InitiativePublic(PublicModel):
    id: uuid.UUID
    title: str
    description: str
    owner_org_unit_id: uuid.UUID | None
    responsible_person_id: uuid.UUID | None
    objective_id: uuid.UUID | None
    key_result_id: uuid.UUID | None
    kpi: str | None
    start_date: dt.date
    due_date: dt.date
    status: InitiativeStatus
    done_on: dt.date | None = Field(description="The day it was done (status `done`), else null.")
    overdue: bool = Field(description="Open (`planned` or `in_progress`) and due before today (organisation's date).")
    version: int
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProgressUpdateCreate(StrictModel):
    note: str = Field(min_length=1, max_length=2_000)
    progress: float | None = Field(default=None, ge=0, le=1, description="Share of the work done, from 0 to 1.")


class ProgressUpdatePublic(PublicModel):
    id: uuid.UUID
    initiative_id: uuid.UUID
    note: str
    progress: float | None
    author: str = Field(description="Id of the API key that posted it.")
    created_at: dt.datetime = Field(description="When it was posted: the update's date.")


class EffectWindowPublic(PublicModel):
    """One side of the comparison: the local days `from`..`to` (inclusive; `to` before `from` when the
    window is empty, e.g. not yet begun), the KPI's daily values over the days with data in it."""

    model_config = PublicModel.model_config | {"populate_by_name": True}

    from_: dt.date = Field(alias="from")
    to: dt.date
    days: int = Field(description="Days with data in the window: the sample size.")
    mean: float | None = Field(description="Mean of those daily values; null without data.")


class InitiativeEffect(PublicModel):
    """DESIGN §9: did the KPI move after the work was done?"""

    initiative_id: uuid.UUID
    kpi: str
    direction: Direction = Field(description="The KPI's direction, which says which side is good.")
    status: InitiativeStatus = Field(description="`done` (after = the days after `done_on`) or `in_progress`.")
    window_days: int = Field(description="`w = clamp(due_date - start_date + 1, 7, 90)`.")
    before: EffectWindowPublic
    after: EffectWindowPublic
    effect: float | None = Field(description="mean(after) - mean(before); null when a side has no data.")
    relative_effect: float | None = Field(description="effect ÷ |mean(before)|; null when mean(before) is 0.")
    p_value: float | None = Field(
        description="Two-sided Welch t-test of the two samples; null below 2 values on a side or without variance."
    )
    verdict: EffectVerdict
    band_min: float | None = Field(
        default=None,
        description="For a `target_range` KPI: the band of its current target (`band_min`..`band_max`); the good "
        "side is toward it from mean(before). Null without such a target (the verdict is then inconclusive).",
    )
    band_max: float | None = None
