"""Wire models of the talent service; those other services read are in :mod:`shared.contracts.talent`."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.contracts.talent import OrgUnitKey, OrgUnitKind, OrgUnitPublic, SeparationReason
from shared.schemas import CalendarDay, PublicModel, StrictModel

__all__ = [
    "AssignmentCreate",
    "AssignmentPublic",
    "Assignments",
    "Engagement",
    "HrIndicatorSeries",
    "HrIndicators",
    "OrgUnitCreate",
    "OrgUnitKind",
    "OrgUnitPublic",
    "OrgUnitTree",
    "OrgUnitUpdate",
    "PeopleBatch",
    "PersonCreate",
    "PersonPublic",
    "PersonUpdate",
    "Salaries",
    "SalaryCreate",
    "SalaryEvolution",
    "SalaryIn",
    "SalaryPublic",
    "SeparationReason",
    "SeriesBucket",
    "UpsertResult",
]


class OrgUnitCreate(StrictModel):
    key: OrgUnitKey
    name: str = Field(min_length=1, max_length=200)
    kind: OrgUnitKind
    parent_id: uuid.UUID | None = Field(default=None, description="None: a root (several trees may coexist).")


class OrgUnitUpdate(StrictModel):
    """Only the fields given change; `parent_id: null` makes the unit a root."""

    key: str | None = Field(default=None, description="Cannot change: present only to say so clearly.")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OrgUnitKind | None = None
    parent_id: uuid.UUID | None = None
    archived: bool | None = Field(default=None, description="false restores an archived unit.")

    @field_validator("key")
    @classmethod
    def _immutable_key(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("the key of an org unit cannot change after creation")
        return value

    @field_validator("name", "kind", "archived")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class OrgUnitTree(OrgUnitPublic):
    """A unit with every descendant nested in ``children`` (ordered by key)."""

    children: list[OrgUnitTree]


EMAIL_PATTERN = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN, max_length=254), Field(examples=["ada@example.com"])]
Currency = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{3}$"), Field(description="ISO 4217 code.", examples=["EUR"])
]
Amount = Annotated[float, Field(gt=0, lt=1e12)]


class SalaryIn(StrictModel):
    amount: Amount
    currency: Currency


class SalaryCreate(SalaryIn):
    effective_date: CalendarDay


class SalaryPublic(PublicModel):
    effective_date: dt.date
    amount: float
    currency: str
    created_at: dt.datetime


class PersonFields(StrictModel):
    employee_number: str = Field(min_length=1, max_length=64, description="The HRIS's id: unique.")
    name: str = Field(min_length=1, max_length=200)
    email: Email
    job_title: str | None = Field(default=None, min_length=1, max_length=200)
    manager_id: uuid.UUID | None = Field(default=None, description="Another person.")
    hire_date: CalendarDay
    end_date: CalendarDay | None = Field(default=None, description="The last day employed.")
    separation_reason: SeparationReason | None = Field(default=None, description="Required with `end_date`.")


class PersonCreate(PersonFields):
    org_unit_id: uuid.UUID = Field(description="The first unit: an assignment effective on the hire date.")
    salary: SalaryIn | None = Field(default=None, description="Effective on the hire date; needs `talent:sensitive`.")


class PersonUpdate(StrictModel):
    """Only the fields given change; `null` clears `job_title`, `manager_id`, and `end_date` with
    `separation_reason` (a rehire)."""

    employee_number: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    job_title: str | None = Field(default=None, min_length=1, max_length=200)
    manager_id: uuid.UUID | None = None
    hire_date: CalendarDay | None = Field(default=None, description="The first assignment moves with it.")
    end_date: CalendarDay | None = None
    separation_reason: SeparationReason | None = None
    salary: SalaryIn | None = Field(default=None, description="Refused (403) without `talent:sensitive`.")

    @field_validator("employee_number", "name", "email", "hire_date")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value


class PersonPublic(PublicModel):
    id: uuid.UUID
    employee_number: str
    name: str
    email: str
    job_title: str | None
    manager_id: uuid.UUID | None
    hire_date: dt.date
    end_date: dt.date | None
    separation_reason: SeparationReason | None
    org_unit_id: uuid.UUID | None = Field(
        description="The unit on `active_on` (today by default); null before the hire."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    salary: SalaryPublic | None = Field(
        default=None,
        description="The salary on `active_on` (today by default). Present only for `talent:sensitive` "
        "callers: absent otherwise (never null in its place).",
    )


class AssignmentCreate(StrictModel):
    org_unit_id: uuid.UUID
    effective_date: CalendarDay = Field(description="After the hire date, not after the end date; one per day.")
    job_title: str | None = Field(default=None, min_length=1, max_length=200)


class AssignmentPublic(PublicModel):
    id: uuid.UUID
    person_id: uuid.UUID
    org_unit_id: uuid.UUID
    effective_date: dt.date
    job_title: str | None
    created_at: dt.datetime


class Assignments(BaseModel):
    items: list[AssignmentPublic]


class Salaries(BaseModel):
    items: list[SalaryPublic]


class PeopleBatch(StrictModel):
    """Up to 1 000 people, each the whole record, matched by `employee_number`."""

    # No maxItems: a longer batch is answered 413 (too large), not 422, and the schema says so in words.
    people: list[PersonCreate] = Field(description="Up to 1 000 people; a longer batch is refused with 413.")


class UpsertResult(BaseModel):
    inserted: int
    updated: int
    unchanged: int


class SalaryEvolution(BaseModel):
    """Over the people counted in both headcounts with a salary on `from - 1` and on `to` in one
    currency: the mean and median of `salary(to) / salary(from - 1) - 1`. Suppressed (changes null)
    below 5 people and for periods that are not whole calendar quarters."""

    people: int
    mean_change: float | None
    median_change: float | None
    suppressed: bool


class Engagement(BaseModel):
    """The latest survey whose period ends in `[from, to]`, over the unit's subtree: `enps` and
    `satisfaction` null and `suppressed` true below 5 responses or when suppressed by difference, as
    in the survey's results (`satisfaction` also below 5 answers of it)."""

    responses: int
    enps: float | None
    satisfaction: float | None
    suppressed: bool


class HrIndicators(BaseModel):
    """DESIGN §9 for the unit's whole subtree over `[from, to]` (cut at today)."""

    model_config = ConfigDict(populate_by_name=True)

    org_unit_id: uuid.UUID
    org_unit_key: str
    from_: dt.date = Field(alias="from")
    to: dt.date = Field(description="The last day counted: the asked `to`, or today when it lies ahead.")
    headcount_start: int = Field(description="Members at the close of `from - 1`.")
    headcount_end: int = Field(description="Members at the close of `to`.")
    average_headcount: float
    hires: int
    separations: int
    voluntary_separations: int
    transfers_in: int
    transfers_out: int
    internal_moves: int
    turnover_rate: float | None
    voluntary_turnover_rate: float | None
    retention_rate: float | None
    internal_mobility_rate: float | None
    training_completion_rate: float | None = Field(
        description="Of enrolments made in the period by members on that day, the share completed by `to`; "
        "null without enrolments."
    )
    training_effectiveness: float | None = Field(
        description="Mean level gain over the (completion in the period, developed skill) pairs assessed within "
        "180 days of completion; null without pairs."
    )
    training_effectiveness_pairs: int | None = Field(description="How many pairs the effectiveness averages.")
    skill_coverage: float | None = Field(
        description="Σ min(N, members meeting the level) / Σ N over the subtree's required skills at the close "
        "of `to`; null without requirements."
    )
    engagement: Engagement | None = Field(
        description="The latest survey whose period ends in `[from, to]`; null when none does."
    )
    salary_evolution: SalaryEvolution


class SeriesBucket(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class HrIndicatorSeries(BaseModel):
    """One item per calendar bucket meeting `[from, to]` (cut at today), each over the bucket's days
    inside that range."""

    items: list[HrIndicators]
