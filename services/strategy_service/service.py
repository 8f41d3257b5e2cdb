"""The strategy service's rules. Every route calls one function here.

Progress is never stored: every read loads the objectives concerned with their subtrees (one
recursive query), their key results and check-ins, and computes DESIGN §9 afresh
(:mod:`services.strategy_service.progress`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service import repository
from services.strategy_service.config import StrategySettings
from services.strategy_service.models import CheckIn, IdempotencyRecord, KeyResult, Level, Objective
from services.strategy_service.progress import (
    Observation,
    expected_progress,
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
    ObjectiveCreate,
    ObjectivePublic,
    ObjectiveTree,
    ObjectiveUpdate,
)
from shared.calendar import period_bounds
from shared.concurrency import etag, require_if_match
from shared.contracts.strategy import CurrentSource, KeyResultKind, ObjectiveStatus
from shared.errors import Conflict, FieldError, NotFound, UnprocessableContent
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
    progress: dict[uuid.UUID, float | None] = field(default_factory=dict)


def _read_key_result(
    key_result: KeyResult, objective: Objective, check_ins: Sequence[CheckIn], settings: StrategySettings
) -> KeyResultPublic:
    latest = check_ins[-1] if check_ins else None
    current = latest.value if latest is not None else None
    start, end = period_bounds(objective.period_start, objective.period_end, settings.zone)
    points = [Observation(c.checked_at, c.value) for c in check_ins if c.value is not None]
    forecast = linear_forecast(in_window(points, start, end), end)
    kind, s, t = key_result.kind, key_result.start_value, key_result.target_value
    return KeyResultPublic.model_validate(
        {
            **key_result.model_dump(),
            "current_value": current,
            "current_source": CurrentSource.check_in if current is not None else CurrentSource.none,
            "progress": key_result_progress(kind, s, t, current),
            "confidence": latest.confidence if latest is not None else None,
            "forecast_value": forecast,
            "forecast_progress": None if forecast is None else key_result_progress(kind, s, t, forecast),
        }
    )


async def _readings(session: AsyncSession, root_ids: Iterable[uuid.UUID], settings: StrategySettings) -> Readings:
    objectives = {o.id: o for o in await repository.subtrees(session, set(root_ids))}
    key_results = await repository.key_results_of(session, objectives.keys())
    check_ins: dict[uuid.UUID, list[CheckIn]] = defaultdict(list)
    for check_in in await repository.check_ins_of(session, [k.id for k in key_results]):
        check_ins[check_in.key_result_id].append(check_in)
    readings = Readings(objectives, defaultdict(list), defaultdict(list))
    for objective in objectives.values():
        if objective.parent_id in objectives and objective.archived_at is None:
            readings.children[objective.parent_id].append(objective)
    for key_result in key_results:
        objective = objectives[key_result.objective_id]
        readings.key_results[objective.id].append(
            _read_key_result(key_result, objective, check_ins[key_result.id], settings)
        )
    return readings


def _progress(readings: Readings, objective_id: uuid.UUID) -> float | None:
    """The weighted roll-up of §9; archived or cancelled children do not count (archived ones are
    not even loaded), nor do children without a progress."""
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
    progress = _progress(readings, objective.id)
    start, end = period_bounds(objective.period_start, objective.period_end, settings.zone)
    expected = expected_progress(now, start, end)
    return {
        **objective.model_dump(),
        "progress": progress,
        "expected_progress": expected,
        "pace_status": pace_status(now, start, progress, expected, settings.pace_thresholds),
        "degraded": [],
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


async def _read_objective(session: AsyncSession, objective: Objective, settings: StrategySettings) -> ObjectivePublic:
    readings = await _readings(session, [objective.id], settings)
    return _public(readings, objective, settings, utcnow())


# --- objectives --------------------------------------------------------------------------------


async def get_objective(session: AsyncSession, objective_id: uuid.UUID, *, for_update: bool = False) -> Objective:
    objective = await repository.get_objective(session, objective_id, for_update=for_update)
    if objective is None:
        raise NotFound(f"No objective {objective_id}.")
    return objective


async def read_objective(session: AsyncSession, objective_id: uuid.UUID, settings: StrategySettings) -> ObjectivePublic:
    return await _read_objective(session, await get_objective(session, objective_id), settings)


async def objective_tree(session: AsyncSession, objective_id: uuid.UUID, settings: StrategySettings) -> ObjectiveTree:
    """The objective with every descendant not archived, each with its key results and progress."""
    objective = await get_objective(session, objective_id)
    readings = await _readings(session, [objective.id], settings)
    return _tree(readings, objective, settings, utcnow())


async def list_objectives(
    session: AsyncSession,
    page: PageRequest,
    settings: StrategySettings,
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
    readings = await _readings(session, [o.id for o in rows.items], settings)
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
    session: AsyncSession, body: ObjectiveCreate, idempotency: IdempotentRequest, settings: StrategySettings
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
        return Answer(await _read_objective(session, objective, settings), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, ObjectivePublic, idempotency, create)


async def update_objective(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: ObjectiveUpdate,
    if_match: str | None,
    settings: StrategySettings,
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
    return await _read_objective(session, objective, settings)


async def archive_objective(
    session: AsyncSession, objective_id: uuid.UUID, if_match: str | None, settings: StrategySettings
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
    return await _read_objective(session, objective, settings)


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
    session: AsyncSession, key_result: KeyResult, settings: StrategySettings
) -> KeyResultPublic:
    objective = await get_objective(session, key_result.objective_id)
    check_ins = await repository.check_ins_of(session, [key_result.id])
    return _read_key_result(key_result, objective, check_ins, settings)


async def read_key_result(
    session: AsyncSession, key_result_id: uuid.UUID, settings: StrategySettings
) -> KeyResultPublic:
    return await _read_key_result_row(session, await get_key_result(session, key_result_id), settings)


async def list_key_results(
    session: AsyncSession, objective_id: uuid.UUID, page: PageRequest, settings: StrategySettings
) -> Page[KeyResultPublic]:
    objective = await get_objective(session, objective_id)
    rows = await repository.key_results_page(session, objective.id, page)
    check_ins: dict[uuid.UUID, list[CheckIn]] = defaultdict(list)
    for check_in in await repository.check_ins_of(session, [k.id for k in rows.items]):
        check_ins[check_in.key_result_id].append(check_in)
    return Page[KeyResultPublic](
        items=[_read_key_result(k, objective, check_ins[k.id], settings) for k in rows.items],
        next_cursor=rows.next_cursor,
    )


def _refuse_archived(what: str) -> Conflict:
    return Conflict(f"The {what} is archived: it takes no new key results or check-ins.")


async def create_key_result(
    session: AsyncSession,
    objective_id: uuid.UUID,
    body: KeyResultCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
) -> Answer[KeyResultPublic]:
    async def create() -> Answer[KeyResultPublic]:
        objective = await get_objective(session, objective_id)
        if objective.archived_at is not None:
            raise _refuse_archived("objective")
        _check_key_result(body.kind, body.start_value, body.target_value)
        key_result = KeyResult(objective_id=objective.id, **body.model_dump())
        session.add(key_result)
        await session.flush()
        await session.refresh(key_result)
        headers = {"Location": f"/v1/key-results/{key_result.id}", "ETag": etag(key_result.version)}
        return Answer(_read_key_result(key_result, objective, [], settings), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, KeyResultPublic, idempotency, create)


async def update_key_result(
    session: AsyncSession,
    key_result_id: uuid.UUID,
    body: KeyResultUpdate,
    if_match: str | None,
    settings: StrategySettings,
) -> KeyResultPublic:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "start_value", "target_value", "weight"):
        if name in changes and changes[name] is None:
            raise _refuse(f"/{name}", "May not be null.", "null")
    key_result = await get_key_result(session, key_result_id, for_update=True)
    require_if_match(if_match, key_result.version)
    if "unit" in changes and changes["unit"] is None:
        changes["unit"] = ""
    for name, value in changes.items():
        setattr(key_result, name, value)
    _check_key_result(key_result.kind, key_result.start_value, key_result.target_value)
    key_result.version += 1
    key_result.updated_at = utcnow()
    session.add(key_result)
    await session.flush()
    await session.refresh(key_result)
    return await _read_key_result_row(session, key_result, settings)


async def archive_key_result(
    session: AsyncSession, key_result_id: uuid.UUID, if_match: str | None, settings: StrategySettings
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
    return await _read_key_result_row(session, key_result, settings)


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
        if body.value is None:
            raise _refuse("/value", "A check-in key result needs the value measured.", "missing")
        if key_result.kind is KeyResultKind.milestone and body.value not in (0, 1):
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
