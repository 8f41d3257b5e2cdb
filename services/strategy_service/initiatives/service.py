"""The initiatives' rules. Every route of :mod:`.router` calls one function here.

An initiative moves ``planned`` → ``in_progress`` → ``done`` | ``cancelled`` (``planned`` →
``cancelled`` too); ``done`` and ``cancelled`` are final. A planned initiative is started before it
is done, so that the effect of one aimed at a KPI is always measured from a start that happened.
Its effect (DESIGN §9) is computed on read from the KPI's daily values, one aggregates call.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from services.strategy_service import repository as strategy_repository
from services.strategy_service.config import StrategySettings
from services.strategy_service.effect import (
    DateRange,
    GoodSide,
    effect_window,
    good_side_for_band,
    measure_effect,
)
from services.strategy_service.initiatives import repository
from services.strategy_service.initiatives.models import Initiative, ProgressUpdate
from services.strategy_service.initiatives.repository import InitiativeFilters
from services.strategy_service.initiatives.schemas import (
    EffectWindowPublic,
    InitiativeCreate,
    InitiativeEffect,
    InitiativePublic,
    InitiativeUpdate,
    ProgressUpdateCreate,
    ProgressUpdatePublic,
)
from services.strategy_service.models import IdempotencyRecord
from shared.calendar import local_date
from shared.clients import KpiClient
from shared.concurrency import etag, require_if_match
from shared.contracts.kpi import AggregateInclude, Direction, KpiAggregateRequest, KpiPublic, KpiStatus
from shared.contracts.strategy import (
    OPEN_INITIATIVE_STATUSES,
    InitiativeBrief,
    InitiativeBriefs,
    InitiativeLookup,
    InitiativeStatus,
)
from shared.errors import Conflict, DependencyUnavailable, FieldError, NotFound, UnprocessableContent
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.models import utcnow
from shared.pagination import Page, PageRequest

TRANSITIONS: dict[InitiativeStatus, frozenset[InitiativeStatus]] = {
    InitiativeStatus.planned: frozenset({InitiativeStatus.in_progress, InitiativeStatus.cancelled}),
    InitiativeStatus.in_progress: frozenset({InitiativeStatus.done, InitiativeStatus.cancelled}),
    InitiativeStatus.done: frozenset(),
    InitiativeStatus.cancelled: frozenset(),
}
"""The status each status may move to (DESIGN §8: planned → in_progress → done | cancelled)."""


def _refuse(pointer: str, message: str, code: str) -> UnprocessableContent:
    return UnprocessableContent(message, errors=[FieldError(pointer=pointer, message=message, code=code)])


def today(settings: StrategySettings) -> dt.date:
    """The organisation's current date."""
    return local_date(utcnow(), settings.zone)


def is_overdue(initiative: Initiative, on: dt.date) -> bool:
    """Open (planned or in progress) and due before ``on``."""
    return initiative.status in OPEN_INITIATIVE_STATUSES and initiative.due_date < on


def _public(initiative: Initiative, on: dt.date) -> InitiativePublic:
    return InitiativePublic.model_validate({**initiative.model_dump(), "overdue": is_overdue(initiative, on)})


def _brief(initiative: Initiative, on: dt.date) -> InitiativeBrief:
    return InitiativeBrief.model_validate({**initiative.model_dump(), "overdue": is_overdue(initiative, on)})


async def get_initiative(session: AsyncSession, initiative_id: uuid.UUID, *, for_update: bool = False) -> Initiative:
    initiative = await repository.get_initiative(session, initiative_id, for_update=for_update)
    if initiative is None:
        raise NotFound(f"No initiative {initiative_id}.")
    return initiative


# --- validation ---------------------------------------------------------------------------------


def _check_dates(start: dt.date, due: dt.date, pointer: str = "/due_date") -> None:
    if due < start:
        raise _refuse(pointer, f"The initiative is due ({due}) before it starts ({start}).", "date_order")


async def _kpi_definition(key: str, kpi: KpiClient | None, *, purpose: str) -> KpiPublic | None:
    """The KPI's definition from the KPI service (None when there is no such KPI); 503 naming the
    KPI service while it cannot be reached."""
    if kpi is None:
        raise DependencyUnavailable(
            "kpi", f"The KPI service cannot be reached to {purpose}; retry shortly.", retry_after=5
        )
    return await kpi.get_kpi(key)


async def _checked_kpi(key: str, kpi: KpiClient | None) -> str:
    """The key of the KPI an initiative is to aim at, checked with the KPI service."""
    found = await _kpi_definition(key, kpi, purpose="check the KPI")
    if found is None:
        raise _refuse("/kpi", f"No KPI {key!r}.", "unknown_kpi")
    if found.archived_at is not None:
        raise _refuse("/kpi", f"The KPI {key!r} is archived: it measures nothing new.", "archived_kpi")
    return found.key


async def _check_targets(
    session: AsyncSession, objective_id: uuid.UUID | None, key_result_id: uuid.UUID | None
) -> None:
    """The objective and key result aimed at exist (not archived), and the key result, with both,
    belongs to the objective."""
    if objective_id is not None:
        objective = await strategy_repository.get_objective(session, objective_id)
        if objective is None or objective.archived_at is not None:
            raise _refuse("/objective_id", f"No objective {objective_id}.", "unknown_objective")
    if key_result_id is not None:
        key_result = await strategy_repository.get_key_result(session, key_result_id)
        if key_result is None or key_result.archived_at is not None:
            raise _refuse("/key_result_id", f"No key result {key_result_id}.", "unknown_key_result")
        if objective_id is not None and key_result.objective_id != objective_id:
            raise _refuse(
                "/key_result_id",
                f"Key result {key_result_id} belongs to objective {key_result.objective_id}, not {objective_id}.",
                "other_objective",
            )


def _require_target(initiative: Initiative) -> None:
    if initiative.objective_id is None and initiative.key_result_id is None and initiative.kpi is None:
        raise _refuse(
            "", "An initiative aims at something: give an `objective_id`, a `key_result_id` or a `kpi`.", "no_target"
        )


def _check_done_on(done_on: dt.date, start: dt.date, on: dt.date, pointer: str) -> None:
    if done_on > on:
        raise _refuse(pointer, f"The initiative cannot be done in the future (today is {on}).", "future")
    if done_on < start:
        raise _refuse(pointer, f"The initiative cannot be done ({done_on}) before it starts ({start}).", "before_start")


def _transition_refused(current: InitiativeStatus, wanted: InitiativeStatus) -> Conflict:
    if current in (InitiativeStatus.done, InitiativeStatus.cancelled):
        return Conflict(f"The initiative is {current}: that status is final.")
    if current is InitiativeStatus.planned and wanted is InitiativeStatus.done:
        return Conflict(
            "A planned initiative is not done yet: set it in_progress first (planned → in_progress → done), then done."
        )
    return Conflict(f"An initiative {current} does not go back to {wanted}.")


def _refuse_archived() -> Conflict:
    return Conflict("The initiative is archived: it takes no changes or updates.")


# --- initiatives --------------------------------------------------------------------------------


async def create_initiative(
    session: AsyncSession,
    body: InitiativeCreate,
    idempotency: IdempotentRequest,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> Answer[InitiativePublic]:
    """Create an initiative (201, with its ``Location`` and ``ETag``); a retry with the same
    ``Idempotency-Key`` gets the first answer again."""

    async def create() -> Answer[InitiativePublic]:
        if body.status not in OPEN_INITIATIVE_STATUSES:
            raise _refuse(
                "/status", "An initiative starts planned or in_progress; mark it done or cancelled with PATCH.",
                "initial_status",
            )  # fmt: skip
        _check_dates(body.start_date, body.due_date)
        initiative = Initiative(**body.model_dump())
        _require_target(initiative)
        await _check_targets(session, body.objective_id, body.key_result_id)
        if body.kpi is not None:
            initiative.kpi = await _checked_kpi(body.kpi, kpi)
        session.add(initiative)
        await session.flush()
        await session.refresh(initiative)
        headers = {"Location": f"/v1/initiatives/{initiative.id}", "ETag": etag(initiative.version)}
        return Answer(_public(initiative, today(settings)), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, InitiativePublic, idempotency, create)


async def read_initiative(
    session: AsyncSession, initiative_id: uuid.UUID, settings: StrategySettings
) -> InitiativePublic:
    return _public(await get_initiative(session, initiative_id), today(settings))


async def list_initiatives(
    session: AsyncSession,
    page: PageRequest,
    settings: StrategySettings,
    *,
    kpi: str | None = None,
    objective_id: uuid.UUID | None = None,
    key_result_id: uuid.UUID | None = None,
    owner_org_unit_id: uuid.UUID | None = None,
    status: InitiativeStatus | None = None,
    overdue: bool = False,
    archived: bool = False,
) -> Page[InitiativePublic]:
    """Initiatives matching every filter given, oldest first; ``overdue``: only the open ones due
    before today."""
    on = today(settings)
    filters = InitiativeFilters(
        kpi, objective_id, key_result_id, owner_org_unit_id, status, on if overdue else None, archived
    )
    rows = await repository.initiatives_page(session, page, filters)
    return Page[InitiativePublic](items=[_public(i, on) for i in rows.items], next_cursor=rows.next_cursor)


async def update_initiative(
    session: AsyncSession,
    initiative_id: uuid.UUID,
    body: InitiativeUpdate,
    if_match: str | None,
    settings: StrategySettings,
    kpi: KpiClient | None,
) -> InitiativePublic:
    changes = body.model_dump(exclude_unset=True)
    for name in ("title", "start_date", "due_date", "status", "done_on"):
        if name in changes and changes[name] is None:
            raise _refuse(f"/{name}", "May not be null.", "null")
    initiative = await get_initiative(session, initiative_id, for_update=True)
    require_if_match(if_match, initiative.version)
    if initiative.archived_at is not None:
        raise _refuse_archived()
    on = today(settings)
    current = initiative.status
    wanted: InitiativeStatus = changes.pop("status", current)
    if wanted is not current and wanted not in TRANSITIONS[current]:
        raise _transition_refused(current, wanted)
    done_on: dt.date | None = changes.pop("done_on", None)
    if done_on is not None and wanted is not InitiativeStatus.done:
        raise _refuse("/done_on", "`done_on` goes with the status `done`.", "not_done")
    if "description" in changes and changes["description"] is None:
        changes["description"] = ""
    if "kpi" in changes and changes["kpi"] is not None:
        changes["kpi"] = await _checked_kpi(changes["kpi"], kpi)
    for name, value in changes.items():
        setattr(initiative, name, value)
    _check_dates(initiative.start_date, initiative.due_date, "/due_date" if "due_date" in changes else "/start_date")
    _require_target(initiative)
    if {"objective_id", "key_result_id"} & changes.keys():
        await _check_targets(session, initiative.objective_id, initiative.key_result_id)
    initiative.status = wanted
    if wanted is InitiativeStatus.done:
        initiative.done_on = done_on or initiative.done_on or on
        pointer = "/start_date" if done_on is None and "start_date" in changes else "/done_on"
        _check_done_on(initiative.done_on, initiative.start_date, on, pointer)
    initiative.version += 1
    initiative.updated_at = utcnow()
    session.add(initiative)
    await session.flush()
    await session.refresh(initiative)
    return _public(initiative, on)


async def archive_initiative(
    session: AsyncSession, initiative_id: uuid.UUID, if_match: str | None, settings: StrategySettings
) -> InitiativePublic:
    """Archive (never destroy) an initiative: it leaves lists and lookups; its updates stay."""
    initiative = await get_initiative(session, initiative_id, for_update=True)
    require_if_match(if_match, initiative.version)
    if initiative.archived_at is None:
        initiative.archived_at = utcnow()
        initiative.version += 1
        session.add(initiative)
        await session.flush()
        await session.refresh(initiative)
    return _public(initiative, today(settings))


async def lookup_initiatives(
    session: AsyncSession, body: InitiativeLookup, settings: StrategySettings
) -> InitiativeBriefs:
    """Every initiative (not archived) aimed at any of the objectives, key results or KPIs named."""
    items = await initiatives_aimed_at(
        session, body.objective_ids, body.key_result_ids, body.kpis, settings, open_only=body.open_only
    )
    return InitiativeBriefs(items=items)


async def initiatives_aimed_at(
    session: AsyncSession,
    objective_ids: Iterable[uuid.UUID],
    key_result_ids: Iterable[uuid.UUID],
    kpis: Iterable[str],
    settings: StrategySettings,
    *,
    open_only: bool,
) -> list[InitiativeBrief]:
    """The initiatives (not archived; open ones only with ``open_only``) aimed at any of these
    targets, oldest first, in one statement whatever their number."""
    rows = await repository.aimed_at(session, set(objective_ids), set(key_result_ids), set(kpis), open_only=open_only)
    on = today(settings)
    return [_brief(i, on) for i in rows]


# --- updates ------------------------------------------------------------------------------------


async def create_update(
    session: AsyncSession, initiative_id: uuid.UUID, body: ProgressUpdateCreate, idempotency: IdempotentRequest
) -> Answer[ProgressUpdatePublic]:
    """Append a dated update, authored by the caller's key; it is never changed afterwards."""

    async def create() -> Answer[ProgressUpdatePublic]:
        initiative = await get_initiative(session, initiative_id)
        if initiative.archived_at is not None:
            raise _refuse_archived()
        update = ProgressUpdate(
            initiative_id=initiative.id, note=body.note, progress=body.progress, author=idempotency.principal
        )
        session.add(update)
        await session.flush()
        await session.refresh(update)
        headers = {"Location": f"/v1/initiatives/{initiative.id}/updates"}
        return Answer(ProgressUpdatePublic.model_validate(update), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, ProgressUpdatePublic, idempotency, create)


async def list_updates(
    session: AsyncSession, initiative_id: uuid.UUID, page: PageRequest
) -> Page[ProgressUpdatePublic]:
    initiative = await get_initiative(session, initiative_id)
    rows = await repository.updates_page(session, initiative.id, page)
    return Page[ProgressUpdatePublic](
        items=[ProgressUpdatePublic.model_validate(u) for u in rows.items], next_cursor=rows.next_cursor
    )


# --- effect -------------------------------------------------------------------------------------


def _good_side(direction: Direction, mean_before: float | None, band: tuple[float, float] | None) -> GoodSide:
    if direction is Direction.increase:
        return GoodSide.up
    if direction is Direction.decrease:
        return GoodSide.down
    if band is None or mean_before is None:
        return GoodSide.none
    return good_side_for_band(mean_before, *band)


def _band(status: KpiStatus | None) -> tuple[float, float] | None:
    """The band of a `target_range` KPI's current target; one open side stretches to infinity."""
    target = status.target if status is not None else None
    if target is None or (target.min is None and target.max is None):
        return None
    low = target.min if target.min is not None else -math.inf
    high = target.max if target.max is not None else math.inf
    return low, high


def _window(window: DateRange, values: Sequence[float]) -> EffectWindowPublic:
    mean = math.fsum(values) / len(values) if values else None
    return EffectWindowPublic.model_validate(
        {"from": window.first, "to": window.last, "days": len(values), "mean": mean}
    )


async def initiative_effect(
    session: AsyncSession, initiative_id: uuid.UUID, settings: StrategySettings, kpi: KpiClient | None
) -> InitiativeEffect:
    """DESIGN §9: the KPI's daily values before the start against those after the work was done (in
    progress: since the start), read in one aggregates call covering both windows."""
    initiative = await get_initiative(session, initiative_id)
    if initiative.kpi is None:
        raise Conflict("The initiative aims at no KPI: its effect is measured on a KPI's own data.")
    if initiative.status is InitiativeStatus.planned:
        raise Conflict("The initiative has not started: its effect is measured once it is in progress or done.")
    if initiative.status is InitiativeStatus.cancelled:
        raise Conflict("The initiative was cancelled: it has no effect to measure.")
    definition = await _kpi_definition(initiative.kpi, kpi, purpose="read the KPI's values")
    if definition is None or kpi is None:
        raise Conflict(f"The KPI {initiative.kpi!r} no longer exists: there is nothing to measure the effect on.")
    on = today(settings)
    done_on = initiative.done_on if initiative.status is InitiativeStatus.done else None
    window = effect_window(initiative.start_date, initiative.due_date, done_on, on)
    sides = [side for side in (window.before, window.after) if side.first <= side.last]
    include = [AggregateInclude.daily]
    if definition.direction is Direction.target_range:
        include.append(AggregateInclude.status)  # its band: the current target's min and max
    requests = [
        KpiAggregateRequest.model_validate({"kpi": definition.key, "from": s.first, "to": s.last}) for s in sides
    ]
    items = await kpi.aggregates(requests, include=include) if requests else []
    days = [day for item in items for day in item.daily or []]  # the two windows never overlap
    before = [d.value for d in days if window.before.first <= d.date <= window.before.last]
    after = [d.value for d in days if window.after.first <= d.date <= window.after.last]
    before_side, after_side = _window(window.before, before), _window(window.after, after)
    band = _band(items[0].status) if items else None
    measured = measure_effect(before, after, _good_side(definition.direction, before_side.mean, band))
    return InitiativeEffect.model_validate(
        {
            "initiative_id": initiative.id,
            "kpi": definition.key,
            "direction": definition.direction,
            "status": initiative.status,
            "window_days": window.days,
            "before": before_side,
            "after": after_side,
            "effect": measured.effect,
            "relative_effect": measured.relative_effect,
            "p_value": measured.p_value,
            "verdict": measured.verdict,
            "band_min": band[0] if band is not None and math.isfinite(band[0]) else None,
            "band_max": band[1] if band is not None and math.isfinite(band[1]) else None,
        }
    )
