"""The alignment views' composition: one call per service, concurrent where independent, degrading.

A view asks the strategy service first (its answer names the KPIs and org units to ask about), then
the KPI and talent services concurrently, and judges each objective with :mod:`verdict`. Every call
is signed for the caller (its key id and scopes) and carries the request id. The whole view has one
deadline (``PILOTAGE_VIEW_DEADLINE_SECONDS``): a KPI or talent part that is down, failing, behind an
open breaker, too slow, or outside the caller's scopes is left out and listed in ``missing`` (the view
is then ``partial``), and the verdicts are judged from what is there. Without the strategy part there
is nothing to compose: 503 (or 504) naming ``strategy``::

    composer = Composer(settings, principal, *runtime.clients_for(principal))
    view = await objective_view(composer, objective_id)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from services.gateway.config import GatewaySettings
from services.gateway.schemas import (
    AlignedKeyResult,
    AlignmentGaps,
    AlignmentOverview,
    AlignmentReason,
    CapabilityGap,
    KpiStatusSummary,
    MissingPart,
    MissingReason,
    ObjectiveAlignment,
    OrgUnitAlignment,
    OrphanKpi,
    OverviewNode,
    OwnedThing,
    OwnerUnit,
    Source,
    UnitHrIndicators,
    UnitKpi,
    UnitObjective,
    UnknownOwner,
    UnmeasuredObjective,
    UnmeasuredReason,
    VerdictSummary,
)
from services.gateway.verdict import (
    InitiativeFacts,
    Judged,
    KeyResultFacts,
    MissingSkill,
    ObjectiveFacts,
    OwnerHealth,
    Reason,
    Thresholds,
    Verdict,
    judge,
)
from shared.auth import Principal, Scope
from shared.calendar import local_date, local_midnight
from shared.clients import KpiClient, StrategyClient, TalentClient
from shared.contracts.kpi import KpiIndexEntry, KpiStatus
from shared.contracts.strategy import (
    OPEN_INITIATIVE_STATUSES,
    InitiativeBrief,
    KeyResultPublic,
    Level,
    ObjectiveForestNode,
    ObjectivePublic,
    ObjectiveStatus,
)
from shared.contracts.talent import OrgUnitHealth, OrgUnitHealthList
from shared.errors import (
    DependencyError,
    DependencyFailed,
    DependencyRejected,
    DependencyTimeout,
    DependencyUnavailable,
    NotFound,
)
from shared.models import utcnow

logger = logging.getLogger("pilotage.gateway.alignment")
T = TypeVar("T")

# The scope each optional part needs; strategy:read is the view's own (checked by the route).
_PART_SCOPES = {Source.kpi: Scope.kpi_read, Source.talent: Scope.talent_read}


class Composer:
    """What one view request composes with: the caller, its clients, the deadline, what is missing."""

    def __init__(
        self,
        settings: GatewaySettings,
        principal: Principal,
        strategy: StrategyClient,
        kpi: KpiClient,
        talent: TalentClient,
    ) -> None:
        self.settings = settings
        self.principal = principal
        self.strategy = strategy
        self.kpi = kpi
        self.talent = talent
        self.deadline = asyncio.get_running_loop().time() + settings.view_deadline_seconds
        self.missing: list[MissingPart] = []
        self.thresholds = Thresholds(
            skill_coverage=settings.verdict_skill_coverage,
            turnover=settings.verdict_turnover,
            enps=settings.verdict_enps,
            confidence=settings.verdict_confidence,
        )

    @property
    def today(self) -> dt.date:
        return local_date(utcnow(), self.settings.zone)

    def allowed(self, source: Source) -> bool:
        """Whether the caller may see ``source``'s part; if not, it is listed as forbidden (once)."""
        if self.principal.allows(_PART_SCOPES[source].value):
            return True
        self._miss(source, MissingReason.forbidden)
        return False

    def _miss(self, source: Source, reason: MissingReason) -> None:
        if not any(m.source is source for m in self.missing):
            self.missing.append(MissingPart(source=source, reason=reason))

    def lacks(self, source: Source) -> bool:
        return any(m.source is source for m in self.missing)

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    async def strategy_part(self, call: Callable[[], Awaitable[T]]) -> T:
        """The part the view cannot do without: its failure is the view's (503/504 naming strategy)."""
        try:
            async with asyncio.timeout_at(self.deadline):
                return await call()
        except TimeoutError:
            raise DependencyTimeout("strategy", "The strategy service did not answer in time.") from None
        except DependencyFailed:
            raise DependencyUnavailable(
                "strategy",
                "The strategy service failed; retry shortly.",
                retry_after=self.settings.upstream_unavailable_retry_after,
            ) from None
        except DependencyError:
            raise
        except Exception:  # whatever breaks in the call is the dependency's answer, never a 500
            logger.exception("the strategy part of an alignment view failed")
            raise DependencyFailed("strategy", "The strategy service's answer could not be used.") from None

    async def part(self, source: Source, call: Callable[[], Awaitable[T]]) -> T | None:
        """An optional part: its answer, or ``None`` with the reason recorded in ``missing``."""
        if not self.allowed(source):
            return None
        try:
            async with asyncio.timeout_at(self.deadline):
                return await call()
        except (TimeoutError, DependencyTimeout):
            self._miss(source, MissingReason.timeout)
        except DependencyRejected as rejected:
            forbidden = rejected.dependency_status == 403
            if not forbidden:
                logger.warning("%s refused an alignment read (%d)", source.value, rejected.dependency_status)
            self._miss(source, MissingReason.forbidden if forbidden else MissingReason.unavailable)
        except DependencyError:  # unavailable, breaker open, failed
            self._miss(source, MissingReason.unavailable)
        except Exception:  # a part that breaks is a part missing, never the view's 500
            logger.exception("the %s part of an alignment view failed", source.value)
            self._miss(source, MissingReason.unavailable)
        return None


# ---------------------------------------------------------------- reading the parts


_UNKNOWN_KPI = re.compile(r"Unknown KPI '(.+)'\.")


async def kpi_statuses(kpi: KpiClient, keys: Sequence[str]) -> list[KpiStatus]:
    """The status of each KPI of ``keys`` the KPI service knows. A KPI deleted since a key result was
    linked to it makes the service refuse the whole list (404 naming it): the others are asked again,
    so that one such link does not blind the view to every KPI (its key result shows no status)."""
    try:
        return await kpi.statuses(keys)
    except DependencyRejected as rejected:
        errors = rejected.problem.errors if rejected.problem is not None else None
        if rejected.dependency_status != 404 or not errors:
            raise
        unknown = {found.group(1) for e in errors if (found := _UNKNOWN_KPI.fullmatch(e.message))}
        known = [key for key in keys if key not in unknown]
        if not unknown or len(known) == len(keys):
            raise
        return await kpi.statuses(known) if known else []


def _statuses_by_key(statuses: Iterable[KpiStatus] | None) -> dict[str, KpiStatus]:
    return {s.kpi: s for s in statuses or ()}


def _status_summary(status: KpiStatus | None) -> KpiStatusSummary | None:
    if status is None:
        return None
    return KpiStatusSummary(
        kpi=status.kpi,
        status=status.status,
        value=status.value,
        target=status.target,
        trend=status.trend,
        period_start=status.period_start,
        period_end=status.period_end,
        last_measurement_at=status.last_measurement_at,
        stale_since=status.stale_since,
    )


@dataclass(frozen=True, slots=True)
class Health:
    """The talent part: each asked unit's health, and which asked units do not exist."""

    by_id: dict[uuid.UUID, OrgUnitHealth]
    unknown: frozenset[str]

    @classmethod
    def of(cls, answer: OrgUnitHealthList) -> Health:
        return cls({h.org_unit_id: h for h in answer.items}, frozenset(answer.unknown))

    def exists(self, unit: uuid.UUID) -> bool:
        return unit in self.by_id or str(unit) not in self.unknown


def _owner_health(health: OrgUnitHealth | None) -> OwnerHealth | None:
    if health is None:
        return None
    return OwnerHealth(
        skill_coverage=health.skill_coverage,
        missing_skills=[MissingSkill(s.skill, s.level, s.missing) for s in health.shortfalls],
        turnover_rate=health.turnover_rate,
        enps=health.enps,
    )


K = TypeVar("K", bound=KeyResultPublic)


def _live(key_results: Iterable[K]) -> list[K]:
    """Key results that count: archived ones do not."""
    return [kr for kr in key_results if kr.archived_at is None]


def _linked_kpis(key_results: Iterable[KeyResultPublic]) -> list[str]:
    return [kr.kpi for kr in _live(key_results) if kr.kpi is not None]


def _aimed_at(
    objective: ObjectivePublic, key_results: Sequence[KeyResultPublic], initiatives: Iterable[InitiativeBrief]
) -> list[InitiativeBrief]:
    """The initiatives aimed at the objective, one of its key results or a KPI one of them reads."""
    live = _live(key_results)
    ids = {kr.id for kr in live}
    kpis = {kr.kpi for kr in live if kr.kpi is not None}
    return [
        i
        for i in initiatives
        if i.objective_id == objective.id or (i.key_result_id in ids) or (i.kpi is not None and i.kpi in kpis)
    ]


def _judge(
    composer: Composer,
    objective: ObjectivePublic,
    key_results: Sequence[KeyResultPublic],
    statuses: dict[str, KpiStatus],
    health: Health | None,
    initiatives: Sequence[InitiativeBrief] = (),
) -> tuple[Judged, list[AlignmentReason]]:
    facts = ObjectiveFacts(
        id=objective.id,
        cancelled=objective.status is ObjectiveStatus.cancelled,
        pace=objective.pace_status,
        progress=objective.progress,
        expected_progress=objective.expected_progress,
        key_results=[
            KeyResultFacts(
                id=kr.id,
                title=kr.title,
                kpi=kr.kpi,
                kpi_status=status.status if (status := statuses.get(kr.kpi or "")) is not None else None,
                kpi_value=status.value if status is not None else None,
                confidence=kr.confidence,
                forecast_progress=kr.forecast_progress,
            )
            for kr in _live(key_results)
        ],
        initiatives=[
            InitiativeFacts(
                id=i.id,
                title=i.title,
                open=i.status in OPEN_INITIATIVE_STATUSES,
                overdue=i.overdue,
                kpi=i.kpi,
                key_result_id=i.key_result_id,
                objective_id=i.objective_id,
            )
            for i in _aimed_at(objective, key_results, initiatives)
        ],
    )
    owner = objective.owner_org_unit_id
    unit_health = health.by_id.get(owner) if health is not None and owner is not None else None
    judged = judge(facts, _owner_health(unit_health), composer.thresholds)
    reasons = [_reason(r) for r in judged.reasons]
    if judged.verdict is not None and health is not None and owner is not None and not health.exists(owner):
        reasons.append(
            AlignmentReason(
                code="unknown_owner",
                source=Source.talent,
                message=f"The owner unit {owner} does not exist.",
                org_unit_id=str(owner),
            )
        )
    return judged, reasons


def _reason(reason: Reason) -> AlignmentReason:
    return AlignmentReason.model_validate(reason.as_dict())


def _aligned_key_result(kr: KeyResultPublic, statuses: dict[str, KpiStatus]) -> AlignedKeyResult:
    return AlignedKeyResult(
        id=kr.id,
        title=kr.title,
        kind=kr.kind,
        unit=kr.unit,
        start_value=kr.start_value,
        target_value=kr.target_value,
        weight=kr.weight,
        kpi=kr.kpi,
        current_value=kr.current_value,
        current_source=kr.current_source,
        progress=kr.progress,
        confidence=kr.confidence,
        forecast_value=kr.forecast_value,
        forecast_progress=kr.forecast_progress,
        kpi_status=_status_summary(statuses.get(kr.kpi)) if kr.kpi is not None else None,
    )


_OBJECTIVE_FIELDS = set(ObjectivePublic.model_fields)


def _objective_fields(node: ObjectivePublic) -> dict[str, object]:
    """The objective fields of a strategy answer that carries more (key results, children)."""
    return node.model_dump(include=_OBJECTIVE_FIELDS)


async def _kpi_and_talent(
    composer: Composer, keys: Iterable[str], units: Iterable[uuid.UUID | str]
) -> tuple[dict[str, KpiStatus], Health | None]:
    """The KPI statuses of ``keys`` and the talent health of ``units``, asked concurrently (not at all
    when there is nothing to ask)."""
    wanted_keys = sorted(set(keys))
    wanted_units = sorted({str(u) for u in units})

    async def statuses() -> list[KpiStatus] | None:
        if not wanted_keys:  # nothing to ask; a caller without the scope is still told it is left out
            return [] if composer.allowed(Source.kpi) else None
        return await composer.part(Source.kpi, lambda: kpi_statuses(composer.kpi, wanted_keys))

    async def health() -> Health | None:
        if not wanted_units:
            return Health({}, frozenset()) if composer.allowed(Source.talent) else None
        answer = await composer.part(Source.talent, lambda: composer.talent.org_unit_health(wanted_units))
        return Health.of(answer) if answer is not None else None

    found_statuses, found_health = await asyncio.gather(statuses(), health())
    return _statuses_by_key(found_statuses), found_health


# ---------------------------------------------------------------- the views


async def objective_view(composer: Composer, objective_id: uuid.UUID) -> ObjectiveAlignment:
    lineage = await composer.strategy_part(lambda: composer.strategy.lineage(objective_id))
    if lineage is None:
        raise NotFound(f"No objective {objective_id}.")
    objective = lineage.objective
    key_results = lineage.key_results
    owner = objective.owner_org_unit_id
    statuses, health = await _kpi_and_talent(composer, _linked_kpis(key_results), [owner] if owner else [])
    judged, reasons = _judge(composer, objective, key_results, statuses, health, lineage.initiatives)
    owner_unit = None
    if owner is not None:
        owner_unit = OwnerUnit(
            org_unit_id=owner,
            exists=health.exists(owner) if health is not None else None,
            health=health.by_id.get(owner) if health is not None else None,
        )
    return ObjectiveAlignment(
        objective=objective,
        parents=lineage.parents,
        key_results=[_aligned_key_result(kr, statuses) for kr in _live(key_results)],
        owner=owner_unit,
        initiatives=_aimed_at(objective, key_results, lineage.initiatives),
        verdict=judged.verdict,
        reasons=reasons,
        missing=composer.missing,
        partial=composer.partial,
    )


N = TypeVar("N", ObjectiveForestNode, OverviewNode)


def _walk(nodes: Iterable[N]) -> Iterator[N]:
    for node in nodes:
        yield node
        yield from _walk(node.children)


def _summary(verdicts: Iterable[Verdict | None]) -> VerdictSummary:
    counts = dict.fromkeys(Verdict, 0)
    for verdict in verdicts:
        if verdict is not None:
            counts[verdict] += 1
    return VerdictSummary(**{v.value: n for v, n in counts.items()})


async def overview(composer: Composer, active_on: dt.date | None, level: Level | None) -> AlignmentOverview:
    day = active_on or composer.today
    forest = await composer.strategy_part(lambda: composer.strategy.forest(active_on=day, level=level))
    trees = forest.objectives
    every = list(_walk(trees))
    statuses, health = await _kpi_and_talent(
        composer,
        (key for node in every for key in _linked_kpis(node.key_results)),
        (node.owner_org_unit_id for node in every if node.owner_org_unit_id is not None),
    )

    def node_of(node: ObjectiveForestNode) -> OverviewNode:
        judged, reasons = _judge(composer, node, node.key_results, statuses, health, forest.initiatives)
        return OverviewNode(
            **_objective_fields(node),
            verdict=judged.verdict,
            reasons=reasons,
            children=[node_of(child) for child in node.children],
        )

    objectives = [node_of(tree) for tree in trees]
    return AlignmentOverview(
        active_on=day,
        level=level,
        objectives=objectives,
        summary=_summary(n.verdict for n in _walk(objectives)),
        overdue_initiatives=sum(1 for i in forest.initiatives if i.overdue),
        missing=composer.missing,
        partial=composer.partial,
    )


def _parse_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _hr_indicators(health: OrgUnitHealth) -> UnitHrIndicators:
    return UnitHrIndicators(
        from_=health.on - dt.timedelta(days=364),
        to=health.on,
        headcount=health.headcount,
        average_headcount=health.average_headcount,
        separations=health.separations,
        turnover_rate=health.turnover_rate,
        voluntary_turnover_rate=health.voluntary_turnover_rate,
        skill_coverage=health.skill_coverage,
        enps=health.enps,
        enps_survey=health.enps_survey,
    )


async def org_unit_view(composer: Composer, id_or_key: str) -> OrgUnitAlignment:
    """The unit (talent names it, so it is asked first), then its objectives active today, then the
    KPIs it owns and those its key results read, with their status (one KPI index call)."""
    health: Health | None = None
    answer = await composer.part(Source.talent, lambda: composer.talent.org_unit_health([id_or_key]))
    if answer is not None:
        health = Health.of(answer)
        if not answer.items:
            raise NotFound(f"No org unit {id_or_key!r}.")
    unit_health = answer.items[0] if answer is not None else None
    unit_id = unit_health.org_unit_id if unit_health is not None else _parse_uuid(id_or_key)
    day = composer.today
    if unit_id is None:  # a key, and the talent part missing: nothing names the unit to the others
        return OrgUnitAlignment(
            org_unit_id=None,
            org_unit_key=None,
            active_on=day,
            objectives=[],
            kpis=[],
            hr_indicators=None,
            skill_gaps=[],
            missing=composer.missing,
            partial=True,
        )

    forest = await composer.strategy_part(lambda: composer.strategy.forest(active_on=day, level=None))
    owned_objectives = [n for n in _walk(forest.objectives) if n.owner_org_unit_id == unit_id]
    # One KPI call: the KPIs the unit owns and those its objectives' key results read, with status.
    linked = sorted({k for n in owned_objectives for k in _linked_kpis(n.key_results)})
    index = await composer.part(Source.kpi, lambda: composer.kpi.index(owners=[unit_id], keys=linked, with_status=True))
    owned_kpis = [e for e in index or () if e.owner_org_unit_id == unit_id]
    statuses = _statuses_by_key(e.status for e in index or () if e.status is not None)

    objectives = []
    for node in owned_objectives:
        judged, reasons = _judge(composer, node, node.key_results, statuses, health, forest.initiatives)
        aimed = _aimed_at(node, node.key_results, forest.initiatives)
        objectives.append(
            UnitObjective(**_objective_fields(node), verdict=judged.verdict, reasons=reasons, initiatives=aimed)
        )
    return OrgUnitAlignment(
        org_unit_id=unit_id,
        org_unit_key=unit_health.org_unit_key if unit_health is not None else None,
        active_on=day,
        objectives=objectives,
        kpis=[
            UnitKpi(
                key=e.key,
                name=e.name,
                domain=e.domain,
                owner_org_unit_id=e.owner_org_unit_id,
                responsible_person_id=e.responsible_person_id,
                status=_status_summary(statuses.get(e.key)),
            )
            for e in owned_kpis
        ],
        hr_indicators=_hr_indicators(unit_health) if unit_health is not None else None,
        skill_gaps=list(unit_health.shortfalls) if unit_health is not None else [],
        missing=composer.missing,
        partial=composer.partial,
    )


def _last_check_in(node: ObjectiveForestNode) -> dt.datetime | None:
    """The latest check-in made on any of the objective's key results."""
    return max((kr.last_check_in_at for kr in _live(node.key_results) if kr.last_check_in_at), default=None)


def _unmeasured(composer: Composer, node: ObjectiveForestNode, day: dt.date) -> UnmeasuredObjective | None:
    live = _live(node.key_results)
    last = _last_check_in(node)
    if not live:
        reason = UnmeasuredReason.no_key_results
    elif all(kr.kpi is None for kr in live):
        # Measured on the day when a check-in came in the 30 days before its end (or before now).
        until = min(utcnow(), local_midnight(day + dt.timedelta(days=1), composer.settings.zone))
        if last is not None and last >= until - dt.timedelta(days=composer.settings.unmeasured_after_days):
            return None
        reason = UnmeasuredReason.no_recent_check_in
    else:
        return None
    return UnmeasuredObjective(
        objective_id=node.id,
        title=node.title,
        level=node.level,
        owner_org_unit_id=node.owner_org_unit_id,
        reason=reason,
        last_check_in_at=last,
    )


async def gaps(composer: Composer, active_on: dt.date | None) -> AlignmentGaps:
    """Strategy and KPI concurrently (neither names what to ask the other), then talent about every
    owner unit either names."""
    day = active_on or composer.today

    async def kpi_index() -> list[KpiIndexEntry] | None:
        return await composer.part(Source.kpi, composer.kpi.index)

    forest, index = await asyncio.gather(
        composer.strategy_part(lambda: composer.strategy.forest(active_on=day, level=None)),
        kpi_index(),
    )
    objectives = [n for n in _walk(forest.objectives) if n.status is not ObjectiveStatus.cancelled]
    owners = {n.owner_org_unit_id for n in objectives if n.owner_org_unit_id is not None}
    owners |= {e.owner_org_unit_id for e in index or () if e.owner_org_unit_id is not None}
    health: Health | None = None
    if composer.allowed(Source.talent):
        health = Health({}, frozenset())
        if owners:
            answer = await composer.part(
                Source.talent, lambda: composer.talent.org_unit_health(sorted(str(u) for u in owners))
            )
            health = Health.of(answer) if answer is not None else None

    linked = {key for n in objectives for key in _linked_kpis(n.key_results)}
    orphan_kpis = [
        OrphanKpi(key=e.key, name=e.name, domain=e.domain, owner_org_unit_id=e.owner_org_unit_id)
        for e in index or ()
        if e.key not in linked and not e.key.startswith("hr.")
    ]
    unmeasured = [u for n in objectives if (u := _unmeasured(composer, n, day)) is not None]
    unknown_owners: list[UnknownOwner] = []
    capability: list[CapabilityGap] = []
    if health is not None:
        unknown_owners = [
            UnknownOwner(kind=OwnedThing.objective, id=str(n.id), name=n.title, owner_org_unit_id=n.owner_org_unit_id)
            for n in objectives
            if n.owner_org_unit_id is not None and not health.exists(n.owner_org_unit_id)
        ] + [
            UnknownOwner(kind=OwnedThing.kpi, id=e.key, name=e.name, owner_org_unit_id=e.owner_org_unit_id)
            for e in index or ()
            if e.owner_org_unit_id is not None and not health.exists(e.owner_org_unit_id)
        ]
        owning: dict[uuid.UUID, list[uuid.UUID]] = {}
        for n in objectives:
            if n.owner_org_unit_id is not None:
                owning.setdefault(n.owner_org_unit_id, []).append(n.id)
        for unit, owned in owning.items():
            unit_health = health.by_id.get(unit)
            if unit_health is not None and unit_health.shortfalls:
                capability.append(
                    CapabilityGap(
                        org_unit_id=unit,
                        org_unit_key=unit_health.org_unit_key,
                        skill_coverage=unit_health.skill_coverage,
                        objectives=owned,
                        shortfalls=unit_health.shortfalls,
                    )
                )
        capability.sort(key=lambda g: (g.skill_coverage if g.skill_coverage is not None else 1.0, g.org_unit_key))
    return AlignmentGaps(
        active_on=day,
        orphan_kpis=orphan_kpis,
        unmeasured_objectives=unmeasured,
        unknown_owners=unknown_owners,
        capability_gaps=capability,
        missing=composer.missing,
        partial=composer.partial,
    )
