"""Every SQL statement of the strategy service."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, literal, or_, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from services.strategy_service.models import CheckIn, KeyResult, Level, Objective
from shared import advisory_locks
from shared.contracts.strategy import ObjectiveStatus
from shared.pagination import Page, PageRequest, decode_typed, encode_cursor, paginate
from shared.sql import LIKE_ESCAPE, like_literal

# First key of the transaction-level advisory lock taken by every change to the objective
# hierarchy: two concurrent re-parentings (A under B, B under A) could each pass the cycle check alone.
HIERARCHY_LOCK = advisory_locks.STRATEGY_HIERARCHY
MAX_DEPTH = 1_000  # a guard only: the cycle check keeps the hierarchy acyclic


@dataclass(frozen=True, slots=True)
class ObjectiveFilters:
    level: Level | None = None
    parent_id: uuid.UUID | None = None
    owner_org_unit_id: uuid.UUID | None = None
    status: ObjectiveStatus | None = None
    active_on: dt.date | None = None
    text: str | None = None
    archived: bool = False


async def objectives_page(session: AsyncSession, page: PageRequest, filters: ObjectiveFilters) -> Page[Objective]:
    statement = select(Objective)
    if filters.level is not None:
        statement = statement.where(col(Objective.level) == filters.level)
    if filters.parent_id is not None:
        statement = statement.where(col(Objective.parent_id) == filters.parent_id)
    if filters.owner_org_unit_id is not None:
        statement = statement.where(col(Objective.owner_org_unit_id) == filters.owner_org_unit_id)
    if filters.status is not None:
        statement = statement.where(col(Objective.status) == filters.status)
    if filters.active_on is not None:
        statement = statement.where(
            col(Objective.period_start) <= filters.active_on, col(Objective.period_end) >= filters.active_on
        )
    if filters.text:
        pattern = f"%{like_literal(filters.text)}%"
        statement = statement.where(
            or_(
                col(Objective.title).ilike(pattern, escape=LIKE_ESCAPE),
                col(Objective.description).ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    archived = col(Objective.archived_at)
    statement = statement.where(archived.is_not(None) if filters.archived else archived.is_(None))
    order = (col(Objective.created_at), col(Objective.id))
    return await paginate(session, statement, order, page, lambda objective: objective)


async def get_objective(
    session: AsyncSession, objective_id: uuid.UUID, *, for_update: bool = False
) -> Objective | None:
    statement = select(Objective).where(col(Objective.id) == objective_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def lock_hierarchy(session: AsyncSession) -> None:
    await session.exec(select(func.pg_advisory_xact_lock(HIERARCHY_LOCK, 0)))


async def lineage(session: AsyncSession, objective_id: uuid.UUID) -> list[uuid.UUID]:
    """``objective_id`` and every objective above it, nearest first (one recursive query)."""
    start = select(col(Objective.id), col(Objective.parent_id), literal(0).label("depth"))
    chain = start.where(col(Objective.id) == objective_id).cte("chain", recursive=True)
    parent = aliased(Objective)
    chain = chain.union_all(
        select(col(parent.id), col(parent.parent_id), chain.c.depth + 1).where(
            col(parent.id) == chain.c.parent_id, chain.c.depth < MAX_DEPTH
        )
    )
    rows = await session.exec(select(chain.c.id).order_by(chain.c.depth))
    return list(rows.all())


async def subtrees(session: AsyncSession, root_ids: Collection[uuid.UUID]) -> list[Objective]:
    """The objectives ``root_ids`` and every descendant not archived (one recursive query)."""
    if not root_ids:
        return []
    tree = select(col(Objective.id)).where(col(Objective.id).in_(root_ids)).cte("tree", recursive=True)
    child = aliased(Objective)
    tree = tree.union(select(col(child.id)).where(col(child.parent_id) == tree.c.id, col(child.archived_at).is_(None)))
    statement = select(Objective).where(col(Objective.id).in_(select(tree.c.id)))
    return list((await session.exec(statement.order_by(col(Objective.created_at), col(Objective.id)))).all())


async def objectives_active_on(session: AsyncSession, day: dt.date, level: Level | None) -> list[Objective]:
    """Every objective not archived whose period holds ``day`` (at ``level``, when given), oldest first."""
    statement = select(Objective).where(
        col(Objective.archived_at).is_(None), col(Objective.period_start) <= day, col(Objective.period_end) >= day
    )
    if level is not None:
        statement = statement.where(col(Objective.level) == level)
    return list((await session.exec(statement.order_by(col(Objective.created_at), col(Objective.id)))).all())


async def active_children(session: AsyncSession, objective_id: uuid.UUID) -> list[Objective]:
    statement = select(Objective).where(col(Objective.parent_id) == objective_id, col(Objective.archived_at).is_(None))
    return list((await session.exec(statement)).all())


async def key_results_of(session: AsyncSession, objective_ids: Collection[uuid.UUID]) -> list[KeyResult]:
    """The key results, not archived, of these objectives, oldest first."""
    if not objective_ids:
        return []
    statement = select(KeyResult).where(
        col(KeyResult.objective_id).in_(objective_ids), col(KeyResult.archived_at).is_(None)
    )
    return list((await session.exec(statement.order_by(col(KeyResult.created_at), col(KeyResult.id)))).all())


async def key_results_page(session: AsyncSession, objective_id: uuid.UUID, page: PageRequest) -> Page[KeyResult]:
    statement = select(KeyResult).where(
        col(KeyResult.objective_id) == objective_id, col(KeyResult.archived_at).is_(None)
    )
    return await paginate(session, statement, (col(KeyResult.created_at), col(KeyResult.id)), page, lambda kr: kr)


def _live_key_results() -> SelectOfScalar[KeyResult]:
    """Key results not archived, under objectives not archived: what measures something now."""
    return (
        select(KeyResult)
        .join(Objective, col(Objective.id) == col(KeyResult.objective_id))
        .where(col(KeyResult.archived_at).is_(None), col(Objective.archived_at).is_(None))
    )


async def key_results_measured_page(session: AsyncSession, kpi: str | None, page: PageRequest) -> Page[KeyResult]:
    """Every live key result (those measured by ``kpi``, when given), oldest first."""
    statement = _live_key_results()
    if kpi is not None:
        statement = statement.where(col(KeyResult.kpi) == kpi)
    return await paginate(session, statement, (col(KeyResult.created_at), col(KeyResult.id)), page, lambda kr: kr)


async def kpi_links(session: AsyncSession, active_on: dt.date | None) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
    """``(kpi, key result id, objective id)`` of every live KPI-linked key result (under an objective
    whose period holds ``active_on``, when given), by KPI then creation: one query."""
    statement = select(col(KeyResult.kpi), col(KeyResult.id), col(KeyResult.objective_id)).join(
        Objective, col(Objective.id) == col(KeyResult.objective_id)
    )
    statement = statement.where(
        col(KeyResult.kpi).is_not(None), col(KeyResult.archived_at).is_(None), col(Objective.archived_at).is_(None)
    )
    if active_on is not None:
        statement = statement.where(col(Objective.period_start) <= active_on, col(Objective.period_end) >= active_on)
    statement = statement.order_by(col(KeyResult.kpi), col(KeyResult.created_at), col(KeyResult.id))
    return [
        (kpi or "", key_result_id, objective_id) for kpi, key_result_id, objective_id in await session.exec(statement)
    ]


async def objectives_by_id(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Objective]:
    if not ids:
        return {}
    statement = select(Objective).where(col(Objective.id).in_(ids))
    return {o.id: o for o in (await session.exec(statement)).all()}


async def get_key_result(
    session: AsyncSession, key_result_id: uuid.UUID, *, for_update: bool = False
) -> KeyResult | None:
    statement = select(KeyResult).where(col(KeyResult.id) == key_result_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def check_ins_of(session: AsyncSession, key_result_ids: Collection[uuid.UUID]) -> list[CheckIn]:
    """Every check-in of these key results, oldest first (latest = last: time, then creation)."""
    if not key_result_ids:
        return []
    statement = select(CheckIn).where(col(CheckIn.key_result_id).in_(key_result_ids))
    order = (col(CheckIn.checked_at), col(CheckIn.created_at), col(CheckIn.id))
    return list((await session.exec(statement.order_by(*order))).all())


_CHECK_IN_CURSOR: Sequence[type] = (dt.datetime, dt.datetime, uuid.UUID)


async def check_ins_page(session: AsyncSession, key_result_id: uuid.UUID, page: PageRequest) -> Page[CheckIn]:
    """Newest first: by time, then creation."""
    order = (col(CheckIn.checked_at), col(CheckIn.created_at), col(CheckIn.id))
    statement = select(CheckIn).where(col(CheckIn.key_result_id) == key_result_id)
    if page.cursor is not None:
        after = decode_typed(page.cursor, _CHECK_IN_CURSOR)
        statement = statement.where(tuple_(*order) < tuple_(*after))
    statement = statement.order_by(*(c.desc() for c in order)).limit(page.limit + 1)
    rows = list((await session.exec(statement)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        next_cursor = encode_cursor([last.checked_at, last.created_at, last.id])
    return Page[CheckIn](items=rows, next_cursor=next_cursor)
