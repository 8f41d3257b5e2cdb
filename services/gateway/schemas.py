"""Wire models of the gateway's own routes: API keys, the audit trail and the alignment views."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.gateway.verdict import Verdict
from shared.auth import Scope
from shared.contracts.kpi import Domain, Status, TargetJudged, Trend
from shared.contracts.strategy import (
    CurrentSource,
    InitiativeBrief,
    KeyResultKind,
    Level,
    ObjectivePublic,
    ObjectiveSummary,
)
from shared.contracts.talent import OrgUnitHealth, SkillShortfall
from shared.schemas import PublicModel, Rfc3339, StrictModel


class ApiKeyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200, examples=["ERP nightly push"])
    scopes: list[Scope] = Field(min_length=1, examples=[["measurements:write"]])
    expires_at: Rfc3339 | None = Field(default=None, description="RFC 3339 with offset; unset: never.")
    rate_limit_per_second: float | None = Field(
        default=None,
        ge=0.01,  # a bucket refilling slower than one request per 100 s would only be a disguised revocation
        le=100_000,
        description="Overrides the default rate limit for this key (0.01 to 100 000 requests per second).",
    )

    @field_validator("scopes")
    @classmethod
    def _unique(cls, scopes: list[Scope]) -> list[Scope]:
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _in_future(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value <= dt.datetime.now(dt.UTC):
            raise ValueError("must be in the future")
        return value


class ApiKeyPublic(PublicModel):
    id: str
    name: str
    scopes: list[Scope]
    rate_limit_per_second: float | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_by: str | None
    created_at: dt.datetime


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The full API key. Shown once: only its hash is stored.")


class AuditEventPublic(PublicModel):
    id: int
    occurred_at: dt.datetime
    key_id: str
    method: str
    path: str
    resource_id: str | None
    status: int
    request_id: str | None


# ---------------------------------------------------------------- alignment views


class Source(StrEnum):
    """A service an alignment view composes."""

    strategy = "strategy"
    kpi = "kpi"
    talent = "talent"


class MissingReason(StrEnum):
    unavailable = "unavailable"  # down, failing, or its circuit breaker open
    timeout = "timeout"  # silent past PILOTAGE_VIEW_DEADLINE_SECONDS
    forbidden = "forbidden"  # the caller's key lacks the part's scope (kpi:read, talent:read)


class MissingPart(BaseModel):
    source: Source
    reason: MissingReason


class AlignmentReason(BaseModel):
    """Why a verdict is what it is, with the figures behind it (e.g. `skill_coverage`, `missing`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    code: str = Field(examples=["skill_gap"])
    source: Source
    message: str


class KpiStatusSummary(BaseModel):
    """A linked KPI's status as the KPI service judges it now: value, target, RAG, trend, staleness."""

    kpi: str
    status: Status
    value: float | None
    target: TargetJudged | None
    trend: Trend | None
    period_start: dt.date | None
    period_end: dt.date | None
    last_measurement_at: dt.datetime | None
    stale_since: dt.datetime | None


class AlignedKeyResult(BaseModel):
    id: uuid.UUID
    title: str
    kind: KeyResultKind
    unit: str
    start_value: float
    target_value: float
    weight: float
    kpi: str | None
    current_value: float | None
    current_source: CurrentSource
    progress: float
    confidence: float | None
    forecast_value: float | None
    forecast_progress: float | None
    kpi_status: KpiStatusSummary | None = Field(
        description="null when no KPI is linked, or when the KPI part is missing (see `missing`)."
    )


class OwnerUnit(BaseModel):
    org_unit_id: uuid.UUID
    exists: bool | None = Field(description="false: no such org unit; null: the talent part is missing.")
    health: OrgUnitHealth | None


class ObjectiveAlignment(BaseModel):
    objective: ObjectivePublic
    parents: list[ObjectiveSummary] = Field(description="The chain of parents, nearest first, up to the root.")
    key_results: list[AlignedKeyResult]
    owner: OwnerUnit | None = Field(description="null when the objective names no owner unit.")
    initiatives: list[InitiativeBrief] = Field(
        default_factory=list,
        description="Open initiatives aimed at the objective, one of its key results or one of their KPIs.",
    )
    verdict: Verdict | None = Field(description="null for a cancelled objective (it has none).")
    reasons: list[AlignmentReason] = Field(description="Worst first.")
    missing: list[MissingPart]
    partial: bool = Field(description="true when a part is missing: the verdict is judged without it.")


class OverviewNode(ObjectivePublic):
    verdict: Verdict | None
    reasons: list[AlignmentReason]
    children: list[OverviewNode]


class VerdictSummary(BaseModel):
    """How many objectives of the overview have each verdict (cancelled ones have none)."""

    on_track: int
    at_risk: int
    off_track: int
    unknown: int


class AlignmentOverview(BaseModel):
    active_on: dt.date
    level: Level | None
    objectives: list[OverviewNode]
    summary: VerdictSummary
    overdue_initiatives: int = Field(
        default=0, description="Open initiatives past their due date aimed at the period's objectives."
    )
    missing: list[MissingPart]
    partial: bool


class UnitObjective(ObjectivePublic):
    verdict: Verdict | None
    reasons: list[AlignmentReason]
    initiatives: list[InitiativeBrief] = Field(
        default_factory=list, description="Open initiatives aimed at it, its key results or their KPIs."
    )


class UnitKpi(BaseModel):
    key: str
    name: str
    domain: Domain
    owner_org_unit_id: uuid.UUID | None
    responsible_person_id: uuid.UUID | None
    status: KpiStatusSummary | None


class UnitHrIndicators(BaseModel):
    """The unit's talent figures over the last 12 months (the last 365 days), at the close of today."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    headcount: int
    average_headcount: float | None
    separations: int
    turnover_rate: float | None
    voluntary_turnover_rate: float | None
    skill_coverage: float | None
    enps: float | None
    enps_survey: str | None

    model_config = ConfigDict(populate_by_name=True)


class OrgUnitAlignment(BaseModel):
    org_unit_id: uuid.UUID | None = Field(description="null only when the talent part is missing and a key was given.")
    org_unit_key: str | None
    active_on: dt.date
    objectives: list[UnitObjective] = Field(description="Objectives it owns active today, with their verdicts.")
    kpis: list[UnitKpi]
    hr_indicators: UnitHrIndicators | None
    skill_gaps: list[SkillShortfall]
    missing: list[MissingPart]
    partial: bool


class OrphanKpi(BaseModel):
    key: str
    name: str
    domain: Domain
    owner_org_unit_id: uuid.UUID | None


class UnmeasuredReason(StrEnum):
    no_key_results = "no_key_results"
    no_recent_check_in = "no_recent_check_in"


class UnmeasuredObjective(BaseModel):
    objective_id: uuid.UUID
    title: str
    level: Level
    owner_org_unit_id: uuid.UUID | None
    reason: UnmeasuredReason
    last_check_in_at: dt.datetime | None


class OwnedThing(StrEnum):
    objective = "objective"
    kpi = "kpi"


class UnknownOwner(BaseModel):
    kind: OwnedThing
    id: str = Field(description="The objective's id, or the KPI's key.")
    name: str
    owner_org_unit_id: uuid.UUID


class CapabilityGap(BaseModel):
    org_unit_id: uuid.UUID
    org_unit_key: str
    skill_coverage: float | None
    objectives: list[uuid.UUID] = Field(description="The objectives it owns active on the day.")
    shortfalls: list[SkillShortfall]


class AlignmentGaps(BaseModel):
    active_on: dt.date
    orphan_kpis: list[OrphanKpi] = Field(description="KPIs (not `hr.*`) that measure no key result.")
    unmeasured_objectives: list[UnmeasuredObjective]
    unknown_owners: list[UnknownOwner]
    capability_gaps: list[CapabilityGap]
    missing: list[MissingPart]
    partial: bool
