"""The strategy service's rules. Every route calls one function here.

Progress is never stored: every read loads the objectives concerned with their subtrees (one
recursive query), their key results and check-ins, and computes DESIGN §9 afresh
(:mod:`services.strategy_service.progress`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service import repository
from services.strategy_service.config import StrategySettings
from services.strategy_service.initiatives import service as initiatives
from services.strategy_service.models import CheckIn, IdempotencyRecord, KeyResult, Level, Objective
from services.strategy_service.progress import (
    Observation,
    expected_progress,
    fitted_forecast,
    in_window,
    key_result_progress,
    linear_forecast,
    pace_status,
    weighted_progress,
)
from services.strategy_service.repository import ObjectiveFilters
from services.strategy_service.schemas import (
    CheckInCreate,
    CheckInPublic,
    KeyResultCreate,
    KeyResultPublic,
    KeyResultUpdate,
    ObjectiveClose,
    ObjectiveCreate,
    ObjectivePublic,
    ObjectiveTree,
    ObjectiveUpdate,
)
from shared.calendar import local_date, period_bounds
from shared.clients import KpiClient
from shared.clients.kpi import chunks
from shared.concurrency import etag, require_if_match
from shared.contracts.kpi import (
    MAX_AGGREGATE_REQUESTS,
    AggregateInclude,
    KpiAggregate,
    KpiAggregateRequest,
    KpiPublic,
    LeastSquares,
)
from shared.contracts.strategy import (
    CurrentSource,
    ForestKeyResult,
    InitiativeBrief,
    KeyResultKind,
    KpiLink,
    KpiLinks,
    KpiValue,
    ObjectiveCopy,
    ObjectiveCopyCreate,
    ObjectiveForest,
    ObjectiveForestNode,
    ObjectiveLineage,
    ObjectiveStatus,
    ObjectiveSummary,
)
from shared.errors import (
    Conflict,
    DependencyError,
    DependencyRejected,
    DependencyUnavailable,
    FieldError,
    NotFound,
    UnprocessableContent,
)
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.models import utcnow
from shared.pagination import Page, PageRequest

LEVEL_RANK = {Level.company: 0, Level.department: 1, Level.team: 2}


def _refuse(pointer: str, message: str, code: str) -> UnprocessableContent:
    return UnprocessableContent(message, errors=[FieldError(pointer=pointer, message=message, code=code)])


# --- progress on read ---------------------------------------------------------------------------


@dataclass
class Readings:
    """Everything a read shows, computed from the rows loaded for it."""

    objectives: dict[uuid.UUID, Objective]
    children: dict[uuid.UUID, list[Objective]]
    key_results: dict[uuid.UUID, list[KeyResultPublic]]
    kpi_unavailable: bool = False
    progress: dict[uuid.UUID, float | None] = field(default_factory=dict)
    measured_by_kpi: dict[uuid.UUID, bool] = field(default_factory=dict)
    latest_check_ins: dict[uuid.UUID, dt.datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KpiReading:
    """What a KPI-linked key result reads from the KPI service: its current value, and the least-squares
    sums of its observations (DESIGN §9: daily values for ``latest``, the running aggregate for
    ``period``), computed by the KPI service so that no day travels."""

    current: float | None
    fit: LeastSquares | None


# The last KPI readings of this process, by (KPI, kind of value, first day, last day): shown, flagged,
# while the KPI service cannot be reached, for at most ``kpi_cache_seconds``.
_kpi_cache: dict[tuple[str, KpiValue, dt.date, dt.date], tuple[float, dt.datetime, KpiReading]] = {}
KPI_CACHE_LIMIT = 10_000


def _kpi_range(objective: Objective, today: dt.date) -> tuple[dt.date, dt.date]:
    """The local days a linked KPI is read over: the period up to today (today alone before it starts:
    the status still holds a ``latest`` value)."""
    if today < objective.period_start:
        return today, today
    return objective.period_start, min(objective.period_end, today)


def _kpi_reading(key_result: KeyResult, objective: Objective, item: KpiAggregate) -> KpiReading:
    """The current value and the forecast's fit of a KPI-linked key result, from its KPI's aggregate
    over the objective's period up to today (today alone before the period starts: nothing counts
    then but a ``latest`` value)."""
    fit = item.fit
    started = item.from_ >= objective.period_start
    if key_result.kpi_value is KpiValue.latest:
        current = item.status.value if item.status is not None else None
        return KpiReading(current, fit.daily if fit is not None and started else None)
    if not started:
        return KpiReading(None, None)
    return KpiReading(item.value, fit.running if fit is not None else None)


_REFUSED_REQUEST = re.compile(r"^/requests/(\d+)(/|$)")


def _refused_requests(refused: DependencyRejected, count: int) -> set[int]:
    """The requests a 422 of ``POST /v1/kpi-aggregates`` names by pointer (``/requests/3/kpi``)."""
    if refused.dependency_status != 422 or refused.problem is None:
        return set()
    named = (_REFUSED_REQUEST.match(e.pointer or "") for e in refused.problem.errors or [])
    return {int(m.group(1)) for m in named if m is not None and int(m.group(1)) < count}


async def _aggregates(kpi: KpiClient, requests: Sequence[KpiAggregateRequest]) -> list[KpiAggregate | None]:
    """Each request's aggregate with status and daily values, one call per 500. A request the KPI
    service refuses on its own (a KPI deleted since it was linked, a range it does not serve) reads
    as no data — ``None`` — and the others of its call are asked again: one bad link does not blind
    every other key result of the read."""
    include = [AggregateInclude.status, AggregateInclude.fit]
    items: list[KpiAggregate | None] = []
    for part in chunks(requests, MAX_AGGREGATE_REQUESTS):
        refused: set[int] = set()
        while True:
            asked = [i for i in range(len(part)) if i not in refused]
            try:
                answers = await kpi.aggregates([part[i] for i in asked], include=include) if asked else []
            except DependencyRejected as rejected:
                named = {asked[i] for i in _refused_requests(rejected, len(asked))}
                if not named:
                    raise
                refused |= named
                continue
            by_index = dict(zip(asked, answers, strict=True))
            items.extend(by_index.get(i) for i in range(len(part)))
            break
    return items


async def _read_kpis(
    key_results: Sequence[KeyResult],
    objectives: dict[uuid.UUID, Objective],
    kpi: KpiClient | None,
    settings: StrategySettings,
) -> tuple[dict[uuid.UUID, KpiReading], dict[uuid.UUID, dt.datetime | None], bool]:
    """One ``POST /v1/kpi-aggregates`` call (per 500 ranges) for every KPI-linked key result: their
    readings, and when the KPI service cannot be reached the cached ones with their age."""
    linked = [k for k in key_results if k.kpi is not None]
    if not linked:
        return {}, {}, False
    today = local_date(utcnow(), settings.zone)
    wanted = {k.id: (k.kpi or "", k.kpi_value, *_kpi_range(objectives[k.objective_id], today)) for k in linked}
    ranges = list(dict.fromkeys((key, first, last) for key, _, first, last in wanted.values()))
    items: list[KpiAggregate | None] | None = None
    if kpi is not None:
        requests = [KpiAggregateRequest.model_validate({"kpi": k, "from": f, "to": t}) for k, f, t in ranges]
        with contextlib.suppress(DependencyError):  # down, slow, or its breaker open: degrade
            items = await _aggregates(kpi, requests)
    if items is None:
        readings: dict[uuid.UUID, KpiReading] = {}
        cached_at: dict[uuid.UUID, dt.datetime | None] = {}
        for key_result in linked:
            entry = _kpi_cache.get(wanted[key_result.id])
            if entry is not None and time.monotonic() - entry[0] <= settings.kpi_cache_seconds:
                readings[key_result.id], cached_at[key_result.id] = entry[2], entry[1]
        return readings, cached_at, True
    by_range = dict(zip(ranges, items, strict=True))
    readings = {}
    read_at, now = time.monotonic(), utcnow()
    if len(_kpi_cache) > KPI_CACHE_LIMIT:
        _kpi_cache.clear()
    for key_result in linked:
        key, _, first, last = wanted[key_result.id]
        objective = objectives[key_result.objective_id]
        item = by_range[(key, first, last)]
        readings[key_result.id] = KpiReading(None, None) if item is None else _kpi_reading(key_result, objective, item)
        _kpi_cache[wanted[key_result.id]] = (read_at, now, readings[key_result.id])
    return readings, {}, False


def _read_key_result(
    key_result: KeyResult,
    objective: Objective,
    check_ins: Sequence[CheckIn],
    settings: StrategySettings,
    kpi_reading: KpiReading | None = None,
    *,
    kpi_unavailable: bool = False,
    cached_at: dt.datetime | None = None,
) -> KeyResultPublic:
    latest = check_ins[-1] if check_ins else None
    start, end = period_bounds(objective.period_start, objective.period_end, settings.zone)
    if key_result.kpi is None:
        current = latest.value if latest is not None else None
        source = CurrentSource.check_in if current is not None else CurrentSource.none
        points = [Observation(c.checked_at, c.value) for c in check_ins if c.value is not None]
        forecast = linear_forecast(in_window(points, start, end), end)
    else:
        current = kpi_reading.current if kpi_reading is not None else None
        forecast = fitted_forecast(kpi_reading.fit, end) if kpi_reading is not None else None
        source = CurrentSource.kpi if current is not None else CurrentSource.none
        if kpi_unavailable:
            source = CurrentSource.kpi_unavailable
    kind, s, t = key_result.kind, key_result.start_value, key_result.target_value
    return KeyResultPublic.model_validate(
        {
            **key_result.model_dump(),
            "current_value": current,
            "current_source": source,
            "progress": key_result_progress(kind, s, t, current),
            "confidence": latest.confidence if latest is not None else None,
            "forecast_value": forecast,
            "forecast_progress": None if forecast is None else key_result_progress(kind, s, t, forecast),
            "cached_at": cached_at if kpi_unavailable else None,
        }
    )


async def _read_key_results(
    session: AsyncSession,
    key_results: Sequence[KeyResult],
    objectives: dict[uuid.UUID, Objective],
    kpi: KpiClient | None,
    settings: StrategySettings,
    *,
    latest_check_ins: dict[uuid.UUID, dt.datetime] | None = None,
) -> tuple[list[KeyResultPublic], bool]:
    """The key results as read now, and whether the KPI service could not be reached; fills
    ``latest_check_ins``, when given, with the time of each one's latest check-in."""
    check_ins: dict[uuid.UUID, list[CheckIn]] = defaultdict(list)
    for check_in in await repository.check_ins_of(session, [k.id for k in key_results]):
        check_ins[check_in.key_result_id].append(check_in)
    if latest_check_ins is not None:
        latest_check_ins.update((key, made[-1].checked_at) for key, made in check_ins.items())
    readings, cached_at, unavailable = await _read_kpis(key_results, objectives, kpi, settings)
    public = [
        _read_key_result(
            k,
            objectives[k.objective_id],
            check_ins[k.id],
            settings,
            readings.get(k.id),
            kpi_unavailable=unavailable and k.kpi is not None,
            cached_at=cached_at.get(k.id),
        )
        for k in key_results
    ]
    return public, unavailable


async def _readings(
    session: AsyncSession, root_ids: Iterable[uuid.UUID], kpi: KpiClient | None, settings: StrategySettings
) -> Readings:
    objectives = {o.id: o for o in await repository.subtrees(session, set(root_ids))}
    key_results = await repository.key_results_of(session, objectives.keys())
    latest_check_ins: dict[uuid.UUID, dt.datetime] = {}
    public, unavailable = await _read_key_results(
        session, key_results, objectives, kpi, settings, latest_check_ins=latest_check_ins
    )
    readings = Readings(objectives, defaultdict(list), defaultdict(list), kpi_unavailable=unavailable)
    readings.latest_check_ins = latest_check_ins
    for objective in objectives.values():
        if objective.parent_id in objectives and objective.archived_at is None:
            readings.children[objective.parent_id].append(objective)
    for key_result in public:
        readings.key_results[key_result.objective_id].append(key_result)
    return readings


def _measured_by_kpi(readings: Readings, objective_id: uuid.UUID) -> bool:
    """Whether a KPI-linked key result counts in the objective's subtree."""
    if objective_id not in readings.measured_by_kpi:
        readings.measured_by_kpi[objective_id] = any(k.kpi for k in readings.key_results[objective_id]) or any(
            _measured_by_kpi(readings, c.id) for c in readings.children[objective_id]
        )
    return readings.measured_by_kpi[objective_id]


def _progress(readings: Readings, objective_id: uuid.UUID) -> float | None:
    """The weighted roll-up of §9; archived or cancelled children do not count (archived ones are
    not even loaded), nor do children without a progress. A closed objective counts with the
    progress frozen when it was closed."""
    closed = readings.objectives.get(objective_id)
    if closed is not None and closed.closed_at is not None:
        return closed.final_progress
    if objective_id not in readings.progress:
        parts: list[tuple[float, float | None]] = [(k.weight, k.progress) for k in readings.key_results[objective_id]]
        parts += [
            (child.weight, _progress(readings, child.id))
            for child in readings.children[objective_id]
            if child.status is not ObjectiveStatus.cancelled
        ]
        readings.progress[objective_id] = weighted_progress(parts)
    return readings.progress[objective_id]


def _objective_fields(
    readings: Readings, objective: Objective, settings: StrategySettings, now: dt.datetime
) -> dict[str, Any]:
    if objective.closed_at is not None:  # frozen when it was closed
        return {
            **objective.model_dump(),
            "progress": objective.final_progress,
            "expected_progress": objective.final_expected_progress,
            "pace_status": objective.final_pace_status,
            "degraded": [],
        }
    progress = _progress(readings, objective.id)
    start, end = period_bounds(objective.period_start, objective.period_end, settings.zone)
    expected = expected_progress(now, start, end)
    return {
        **objective.model_dump(),
        "progress": progress,
        "expected_progress": expected,
        "pace_status": pace_status(now, start, progress, expected, settings.pace_thresholds),
        "degraded": ["kpi"] if readings.kpi_unavailable and _measured_by_kpi(readings, objective.id) else [],
    }


def _public(readings: Readings, objective: Objective, settings: StrategySettings, now: dt.datetime) -> ObjectivePublic:
    return ObjectivePublic.model_validate(_objective_fields(readings, objective, settings, now))


def _tree(readings: Readings, objective: Objective, settings: StrategySettings, now: dt.datetime) -> ObjectiveTree:
    return ObjectiveTree.model_validate(
        {
            **_objective_fields(readings, objective, settings, now),
            "key_results": readings.key_results[objective.id],
            "children": [_tree(readings, c, settings, now) for c in readings.children[objective.id]],
        }
    )


async def _read_objective(
    session: AsyncSession, objective: Objective, settings: StrategySettings, kpi: KpiClient | None
) -> ObjectivePublic:
    readings = await _readings(session, [objective.id], kpi, settings)
    return _public(readings, objective, settings, utcnow())


# --- objectives --------------------------------------------------------------------------------


async def get_objective(session: AsyncSession, objective_id: uuid.UUID, *, for_update: bool = False) -> Objective:
    objective = await repository.get_objective(session, objective_id, for_update=for_update)
    if objective is None:
        raise NotFound(f"No objective {objective_id}.")
    return objective


async def read_objective(
    session: AsyncSession, objective_id: uuid.UUID, settings: StrategySettings, kpi: KpiClient | None
) -> ObjectivePublic:
    return await _read_objective(session, await get_objective(session, objective_id), settings, kpi)


async def objective_tree(
    session: AsyncSession, objective_id: uuid.UUID, settings: StrategySettings, kpi: KpiClient | None
) -> ObjectiveTree:
    """The objective with every descendant not archived, each with its key results and progress."""
    objective = await get_objective(session, objective_id)
    readings = await _readings(session, [objective.id], kpi, settings)
    return _tree(readings, objective, settings, utcnow())


async def objective_lineage(
    session: AsyncSession, objective_id: uuid.UUID, settings: StrategySettings, kpi: KpiClient | None
) -> ObjectiveLineage:
    """The objective with its progress and key results, and every objective above it (nearest
    first) with theirs: one load of the whole tree (a parent's progress needs all its subtree) and
    one KPI call for it."""
    objective = await get_objective(session, objective_id)
    chain = await repository.lineage(session, objective.id)
    # Every member of the chain as a root: an archived one is loaded, and so is what lies under it.
    readings = await _readings(session, chain, kpi, settings)
    now = utcnow()
    key_results = readings.key_results[objective.id]
    return ObjectiveLineage(
        objective=_public(readings, objective, settings, now),
        key_results=key_results,
        parents=[
            ObjectiveSummary.model_validate(_objective_fields(readings, readings.objectives[i], settings, now))
            for i in chain[1:]
        ],
        initiatives=await _open_initiatives(session, [objective.id], key_results, settings),
    )


async def _open_initiatives(
    session: AsyncSession,
    objective_ids: Sequence[uuid.UUID],
    key_results: Iterable[KeyResultPublic],
    settings: StrategySettings,
) -> list[InitiativeBrief]:
    """The open initiatives aimed at these objectives, their key results or the KPIs those measure:
    what the alignment views judge `no_action_plan` and `initiative_overdue` by, read in the same
    request as the objectives themselves."""
    key_results = list(key_results)
    kpis = {kr.kpi for kr in key_results if kr.kpi is not None}
    ids = [kr.id for kr in key_results]
    return await initiatives.initiatives_aimed_at(session, objective_ids, ids, kpis, settings, open_only=True)


async def objective_forest(
    session: AsyncSession,
    settings: StrategySettings,
    kpi: KpiClient | None,
    *,
    active_on: dt.date | None = None,
    level: Level | None = None,
) -> ObjectiveForest:
    """Every objective not archived whose period holds ``active_on`` (default: today), at ``level``
    when given, as trees: a root is one whose parent is not in that set. Each node carries its
    progress (over every child, in the set or not), its key results with their latest check-in
    time, and its children in the set; one KPI call for the whole forest."""
    day = active_on or local_date(utcnow(), settings.zone)
    members = await repository.objectives_active_on(session, day, level)
    readings = await _readings(session, [o.id for o in members], kpi, settings)
    in_set: dict[uuid.UUID | None, list[Objective]] = defaultdict(list)
    ids = {o.id for o in members}
    for member in members:
        in_set[member.parent_id if member.parent_id in ids else None].append(member)
    now = utcnow()

    def node(objective: Objective) -> ObjectiveForestNode:
        key_results = [
            ForestKeyResult.model_validate({**k.model_dump(), "last_check_in_at": readings.latest_check_ins.get(k.id)})
            for k in readings.key_results[objective.id]
        ]
        return ObjectiveForestNode.model_validate(
            {
                **_objective_fields(readings, objective, settings, now),
                "key_results": key_results,
                "children": [node(c) for c in in_set[objective.id]],
            }
        )

    every_key_result = [kr for o in members for kr in readings.key_results[o.id]]
    return ObjectiveForest(
        active_on=day,
        level=level,
        objectives=[node(root) for root in in_set[None]],
        degraded=["kpi"] if readings.kpi_unavailable else [],
        initiatives=await _open_initiatives(session, [o.id for o in members], every_key_result, settings),
    )


async def list_objectives(
    session: AsyncSession,
    page: PageRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
    *,
    level: Level | None = None,
    parent_id: uuid.UUID | None = None,
    owner_org_unit_id: uuid.UUID | None = None,
    status: ObjectiveStatus | None = None,
    active_on: dt.date | None = None,
    text: str | None = None,
    archived: bool = False,
) -> Page[ObjectivePublic]:
    """Objectives matching every filter given, oldest first, each with its progress."""
    filters = ObjectiveFilters(level, parent_id, owner_org_unit_id, status, active_on, text, archived)
    rows = await repository.objectives_page(session, page, filters)
    readings = await _readings(session, [o.id for o in rows.items], kpi, settings)
    now = utcnow()
    return Page[ObjectivePublic](
        items=[_public(readings, o, settings, now) for o in rows.items], next_cursor=rows.next_cursor
    )


def _check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise _refuse("/period_end", "The period ends before it starts.", "period_order")


async def _check_parent(
    session: AsyncSession,
    objective_id: uuid.UUID | None,
    parent_id: uuid.UUID,
    level: Level,
    start: dt.date,
    end: dt.date,
) -> None:
    """The alignment rules: the parent exists, sits at the same or a higher level, its period
    overlaps, and it is not the objective itself or one of its descendants."""
    parent = await repository.get_objective(session, parent_id)
    if parent is None or parent.archived_at is not None:
        raise _refuse("/parent_id", f"No objective {parent_id} to align to.", "unknown_parent")
    if LEVEL_RANK[parent.level] > LEVEL_RANK[level]:
        raise _refuse(
            "/parent_id",
            f"A {level} objective cannot contribute to a {parent.level} one: "
            "the parent's level must be the same or higher.",
            "parent_level",
        )
    if parent.period_start > end or start > parent.period_end:
        raise _refuse(
            "/parent_id",
            f"The parent's period ({parent.period_start}..{parent.period_end}) "
            f"does not overlap this one ({start}..{end}).",
            "parent_period",
        )
    if objective_id is not None and objective_id in await repository.lineage(session, parent_id):
        raise _refuse(
            "/parent_id", "The parent is this objective or one of its descendants: that would make a cycle.", "cycle"
        )


async def _check_children(session: AsyncSession, objective: Objective) -> None:
    """A change of level or period must keep every child's alignment valid."""
    for child in await repository.active_children(session, objective.id):
        if LEVEL_RANK[child.level] < LEVEL_RANK[objective.level]:
            raise _refuse(
                "/level",
                f"Child objective {child.id} is a {child.level} objective: the level must stay at or above it.",
                "child_level",
            )
        if child.period_start > objective.period_end or objective.period_start > child.period_end:
            raise _refuse(
                "/period_start",
                f"The period would no longer overlap that of child objective {child.id}.",
                "child_period",
            )


async def create_objective(
    session: AsyncSession,
    body: ObjectiveCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> Answer[ObjectivePublic]:
    """Create an objective (201, with its ``Location`` and ``ETag``); a retry with the same
    ``Idempotency-Key`` gets the first answer again."""

    async def create() -> Answer[ObjectivePublic]:
        _check_period(body.period_start, body.period_end)
        if body.parent_id is not None:
            await repository.lock_hierarchy(session)
            await _check_parent(session, None, body.parent_id, body.level, body.period_start, body.period_end)
        objective = Objective(**body.model_dump())
        session.add(objective)
        await session.flush()
        await session.refresh(objective)
        headers = {"Location": f"/v1/objectives/{objective.id}", "ETag": etag(objective.version)}
        return Answer(await _read_objective(session, objective, settings, kpi), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, ObjectivePublic, idempotency, create)


async def update_objective(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: ObjectiveUpdate,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> ObjectivePublic:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "level", "period_start", "period_end", "status", "weight"):
        if name in changes and changes[name] is None:
            raise _refuse(f"/{name}", "May not be null.", "null")
    hierarchy = {"parent_id", "level", "period_start", "period_end"} & changes.keys()
    if hierarchy:
        await repository.lock_hierarchy(session)
    objective = await get_objective(session, objective_id, for_update=True)
    require_if_match(if_match, objective.version)
    if objective.closed_at is not None and changes.keys() - {"title", "description"}:
        raise Conflict("The objective is closed: its figures are final; only its title and description may change.")
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    for name, value in changes.items():
        setattr(objective, name, value)
    _check_period(objective.period_start, objective.period_end)
    if hierarchy and objective.parent_id is not None:
        await _check_parent(
            session, objective.id, objective.parent_id, objective.level, objective.period_start, objective.period_end
        )
    if hierarchy - {"parent_id"}:
        await _check_children(session, objective)
    objective.version += 1
    objective.updated_at = utcnow()
    session.add(objective)
    await session.flush()
    await session.refresh(objective)
    return await _read_objective(session, objective, settings, kpi)


async def archive_objective(
    session: AsyncSession,
    objective_id: uuid.UUID,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> ObjectivePublic:
    """Archive (never destroy) an objective: it leaves lists and its parent's roll-up."""
    objective = await get_objective(session, objective_id, for_update=True)
    require_if_match(if_match, objective.version)
    if objective.archived_at is None:
        objective.archived_at = utcnow()
        objective.version += 1
        session.add(objective)
        await session.flush()
        await session.refresh(objective)
    return await _read_objective(session, objective, settings, kpi)


def _restart_value(key_result: KeyResultPublic) -> float:
    """Where a copied key result starts: its current value, unless it reached its target (it keeps
    its start, and so measures the same ambition again) or has no current value."""
    if key_result.current_value is None or key_result.progress >= 1.0:
        return key_result.start_value
    return key_result.current_value


async def copy_objective(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: ObjectiveCopyCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> Answer[ObjectiveCopy]:
    """Copy an objective and its key results (not archived) into another period, as a draft: each
    key result restarts from its current value as read now, except those that reached their target,
    which keep their start; check-ins and children are not copied. The copy keeps the parent only
    when the parent (not archived) has a period overlapping the new one, and says so."""

    async def create() -> Answer[ObjectiveCopy]:
        original = await get_objective(session, objective_id)
        _check_period(body.period_start, body.period_end)
        rows = await repository.key_results_of(session, [original.id])
        current, unavailable = await _read_key_results(session, rows, {original.id: original}, kpi, settings)
        if unavailable:  # a start is never taken from a value that could not be read
            raise DependencyUnavailable(
                "kpi", "The KPI service cannot be reached to read the current values; retry shortly.", retry_after=5
            )
        parent_kept = False
        if original.parent_id is not None:
            await repository.lock_hierarchy(session)
            parent = await repository.get_objective(session, original.parent_id)
            parent_kept = (
                parent is not None
                and parent.archived_at is None
                and parent.period_start <= body.period_end
                and body.period_start <= parent.period_end
            )
        copy = Objective(
            title=original.title,
            description=original.description,
            level=original.level,
            parent_id=original.parent_id if parent_kept else None,
            owner_org_unit_id=original.owner_org_unit_id,
            period_start=body.period_start,
            period_end=body.period_end,
            status=ObjectiveStatus.draft,
            weight=original.weight,
        )
        session.add(copy)
        await session.flush()
        for row, read in zip(rows, current, strict=True):
            session.add(
                KeyResult(
                    objective_id=copy.id,
                    title=row.title,
                    kind=row.kind,
                    unit=row.unit,
                    start_value=_restart_value(read),
                    target_value=row.target_value,
                    weight=row.weight,
                    kpi=row.kpi,
                    kpi_value=row.kpi_value,
                    kpi_aggregation=row.kpi_aggregation,
                )
            )
        await session.flush()
        await session.refresh(copy)
        readings = await _readings(session, [copy.id], kpi, settings)
        answer = ObjectiveCopy.model_validate(
            {
                **_objective_fields(readings, copy, settings, utcnow()),
                "key_results": readings.key_results[copy.id],
                "copied_from": original.id,
                "parent_kept": parent_kept,
            }
        )
        headers = {"Location": f"/v1/objectives/{copy.id}", "ETag": etag(copy.version)}
        return Answer(answer, status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, ObjectiveCopy, idempotency, create)


async def close_objective(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: ObjectiveClose,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> ObjectivePublic:
    """Close the objective at the end of its period: its progress, expected progress and pace as read
    now are stored and shown by every later read, its status becomes ``completed``, and the
    retrospective is kept. Closing is done once (409 after); 503 while a linked KPI cannot be read,
    so that no figure is frozen from stale data."""
    objective = await get_objective(session, objective_id, for_update=True)
    require_if_match(if_match, objective.version)
    if objective.closed_at is not None:
        raise Conflict(f"The objective was closed at {objective.closed_at.isoformat()}: it is closed once.")
    if objective.archived_at is not None:
        raise Conflict("The objective is archived: it is not closed.")
    if objective.status is ObjectiveStatus.cancelled:
        raise Conflict("The objective is cancelled: it has no final progress to record.")
    live = await _read_objective(session, objective, settings, kpi)
    if live.degraded:
        raise DependencyUnavailable(
            "kpi", "The KPI service cannot be reached to read the final progress; retry shortly.", retry_after=5
        )
    objective.final_progress = live.progress
    objective.final_expected_progress = live.expected_progress
    objective.final_pace_status = live.pace_status
    objective.retrospective = body.retrospective
    objective.closed_at = utcnow()
    objective.status = ObjectiveStatus.completed
    objective.version += 1
    objective.updated_at = utcnow()
    session.add(objective)
    await session.flush()
    await session.refresh(objective)
    return await _read_objective(session, objective, settings, kpi)


# --- key results -------------------------------------------------------------------------------


def _check_key_result(kind: KeyResultKind, start: float, target: float) -> None:
    """Start and target must fit the kind: an increase goes up, a decrease down, a milestone 0 → 1."""
    if kind in (KeyResultKind.increase, KeyResultKind.decrease) and start == target:
        raise _refuse(
            "/target_value", f"An {kind} key result needs a target different from its start.", "start_equals_target"
        )
    if kind is KeyResultKind.increase and target < start:
        raise _refuse("/target_value", "An increase key result needs a target above its start.", "direction")
    if kind is KeyResultKind.decrease and target > start:
        raise _refuse("/target_value", "A decrease key result needs a target below its start.", "direction")
    if kind is KeyResultKind.milestone and (start, target) != (0, 1):
        pointer = "/start_value" if start != 0 else "/target_value"
        raise _refuse(pointer, "A milestone key result goes from 0 (not done) to 1 (done).", "milestone_range")


async def get_key_result(session: AsyncSession, key_result_id: uuid.UUID, *, for_update: bool = False) -> KeyResult:
    key_result = await repository.get_key_result(session, key_result_id, for_update=for_update)
    if key_result is None:
        raise NotFound(f"No key result {key_result_id}.")
    return key_result


async def _read_key_result_row(
    session: AsyncSession, key_result: KeyResult, settings: StrategySettings, kpi: KpiClient | None
) -> KeyResultPublic:
    objective = await get_objective(session, key_result.objective_id)
    (public,), _ = await _read_key_results(session, [key_result], {objective.id: objective}, kpi, settings)
    return public


async def read_key_result(
    session: AsyncSession, key_result_id: uuid.UUID, settings: StrategySettings, kpi: KpiClient | None
) -> KeyResultPublic:
    return await _read_key_result_row(session, await get_key_result(session, key_result_id), settings, kpi)


async def list_key_results(
    session: AsyncSession,
    objective_id: uuid.UUID,
    page: PageRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> Page[KeyResultPublic]:
    objective = await get_objective(session, objective_id)
    rows = await repository.key_results_page(session, objective.id, page)
    items, _ = await _read_key_results(session, rows.items, {objective.id: objective}, kpi, settings)
    return Page[KeyResultPublic](items=items, next_cursor=rows.next_cursor)


async def list_measured_key_results(
    session: AsyncSession,
    page: PageRequest,
    settings: StrategySettings,
    kpi_client: KpiClient | None,
    *,
    kpi: str | None = None,
) -> Page[KeyResultPublic]:
    """Key results not archived under objectives not archived — those ``kpi`` measures, when given —
    oldest first, each read now (one KPI call for the page)."""
    rows = await repository.key_results_measured_page(session, kpi, page)
    objectives = await repository.objectives_by_id(session, {k.objective_id for k in rows.items})
    items, _ = await _read_key_results(session, rows.items, objectives, kpi_client, settings)
    return Page[KeyResultPublic](items=items, next_cursor=rows.next_cursor)


async def kpi_links(session: AsyncSession, *, active_on: dt.date | None = None) -> KpiLinks:
    """Every KPI that measures a live key result, with those key results and their objectives."""
    links: dict[str, KpiLink] = {}
    for key, key_result_id, objective_id in await repository.kpi_links(session, active_on):
        link = links.setdefault(key, KpiLink(kpi=key, key_result_ids=[], objective_ids=[]))
        link.key_result_ids.append(key_result_id)
        if objective_id not in link.objective_ids:
            link.objective_ids.append(objective_id)
    return KpiLinks(items=list(links.values()))


async def _linked_kpi(key: str, kpi: KpiClient | None) -> KpiPublic:
    """The KPI a key result is to be linked to, checked with the KPI service (503 while it cannot
    be reached: a link is never accepted unchecked)."""
    if kpi is None:
        raise DependencyUnavailable(
            "kpi", "The KPI service cannot be reached to check the link; retry shortly.", retry_after=5
        )
    found = await kpi.get_kpi(key)
    if found is None:
        raise _refuse("/kpi", f"No KPI {key!r}.", "unknown_kpi")
    if found.archived_at is not None:
        raise _refuse("/kpi", f"The KPI {key!r} is archived: it measures nothing new.", "archived_kpi")
    return found


def _refuse_archived(what: str) -> Conflict:
    return Conflict(f"The {what} is archived: it takes no new key results or check-ins.")


async def create_key_result(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: KeyResultCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> Answer[KeyResultPublic]:
    async def create() -> Answer[KeyResultPublic]:
        objective = await get_objective(session, objective_id)
        if objective.archived_at is not None:
            raise _refuse_archived("objective")
        _check_key_result(body.kind, body.start_value, body.target_value)
        key_result = KeyResult(objective_id=objective.id, **body.model_dump())
        if body.kpi is not None:
            linked = await _linked_kpi(body.kpi, kpi)
            key_result.kpi, key_result.kpi_aggregation = linked.key, linked.aggregation
        session.add(key_result)
        await session.flush()
        await session.refresh(key_result)
        headers = {"Location": f"/v1/key-results/{key_result.id}", "ETag": etag(key_result.version)}
        public = await _read_key_result_row(session, key_result, settings, kpi)
        return Answer(public, status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, KeyResultPublic, idempotency, create)


async def update_key_result(
    session: AsyncSession,
    key_result_id: uuid.UUID,
    body: KeyResultUpdate,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> KeyResultPublic:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "start_value", "target_value", "weight", "kpi_value"):
        if name in changes and changes[name] is None:
            raise _refuse(f"/{name}", "May not be null.", "null")
    key_result = await get_key_result(session, key_result_id, for_update=True)
    require_if_match(if_match, key_result.version)
    if "unit" in changes and changes["unit"] is None:
        changes["unit"] = ""
    if "kpi" in changes:
        link = changes.pop("kpi")
        linked = await _linked_kpi(link, kpi) if link is not None else None
        key_result.kpi = linked.key if linked is not None else None
        key_result.kpi_aggregation = linked.aggregation if linked is not None else None
    for name, value in changes.items():
        setattr(key_result, name, value)
    _check_key_result(key_result.kind, key_result.start_value, key_result.target_value)
    key_result.version += 1
    key_result.updated_at = utcnow()
    session.add(key_result)
    await session.flush()
    await session.refresh(key_result)
    return await _read_key_result_row(session, key_result, settings, kpi)


async def archive_key_result(
    session: AsyncSession,
    key_result_id: uuid.UUID,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> KeyResultPublic:
    """Archive a key result: it stops counting in its objective's progress; its check-ins stay."""
    key_result = await get_key_result(session, key_result_id, for_update=True)
    require_if_match(if_match, key_result.version)
    if key_result.archived_at is None:
        key_result.archived_at = utcnow()
        key_result.version += 1
        session.add(key_result)
        await session.flush()
        await session.refresh(key_result)
    return await _read_key_result_row(session, key_result, settings, kpi)


# --- check-ins ---------------------------------------------------------------------------------


async def create_check_in(
    session: AsyncSession,
    key_result_id: uuid.UUID,
    body: CheckInCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
) -> Answer[CheckInPublic]:
    """Append a check-in, authored by the caller's key; it is never changed afterwards."""

    async def create() -> Answer[CheckInPublic]:
        key_result = await get_key_result(session, key_result_id)
        objective = await get_objective(session, key_result.objective_id)
        if key_result.archived_at is not None:
            raise _refuse_archived("key result")
        if objective.archived_at is not None:
            raise _refuse_archived("objective")
        if key_result.kpi is not None and body.value is not None:
            raise _refuse(
                "/value", f"The KPI {key_result.kpi!r} gives this key result its value: send the confidence only.",
                "kpi_linked",
            )  # fmt: skip
        if key_result.kpi is None and body.value is None:
            raise _refuse("/value", "A check-in key result needs the value measured.", "missing")
        if key_result.kind is KeyResultKind.milestone and body.value is not None and body.value not in (0, 1):
            raise _refuse("/value", "A milestone's value is 1 (done) or 0 (not done).", "milestone_value")
        now = utcnow()
        checked_at = body.checked_at or now
        if checked_at > now:
            raise _refuse("/checked_at", "A check-in cannot be in the future.", "future")
        period_start, _ = period_bounds(objective.period_start, objective.period_end, settings.zone)
        if checked_at < period_start:
            raise _refuse(
                "/checked_at",
                f"A check-in cannot be before the objective's period starts ({objective.period_start}).",
                "before_period",
            )
        check_in = CheckIn(
            key_result_id=key_result.id,
            value=body.value,
            confidence=body.confidence,
            note=body.note,
            checked_at=checked_at,
            author=idempotency.principal,
        )
        session.add(check_in)
        await session.flush()
        await session.refresh(check_in)
        headers = {"Location": f"/v1/key-results/{key_result.id}/check-ins"}
        return Answer(CheckInPublic.model_validate(check_in), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, CheckInPublic, idempotency, create)


async def list_check_ins(session: AsyncSession, key_result_id: uuid.UUID, page: PageRequest) -> Page[CheckInPublic]:
    key_result = await get_key_result(session, key_result_id)
    rows = await repository.check_ins_page(session, key_result.id, page)
    return Page[CheckInPublic](
        items=[CheckInPublic.model_validate(c) for c in rows.items], next_cursor=rows.next_cursor
    )
