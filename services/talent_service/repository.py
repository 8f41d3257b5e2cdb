"""Every SQL statement of the talent service."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import delete, exists, func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.models import OrgUnit, OrgUnitKind
from shared.pagination import Page, PageRequest, paginate

TREE_LOCK = (8303, 1)  # advisory lock taken by every change of a unit's parent: no two moves race into a cycle

_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def as_id(id_or_key: str) -> uuid.UUID | None:
    """The id in ``id_or_key``, if it is one (keys never hold a hyphen)."""
    return uuid.UUID(id_or_key) if _CANONICAL_UUID.match(id_or_key.lower()) else None


def _by_id_or_key(id_or_key: str) -> Any:
    unit_id = as_id(id_or_key)
    return col(OrgUnit.id) == unit_id if unit_id else col(OrgUnit.key) == id_or_key


# ---------------------------------------------------------------- org units


async def org_units_page(
    session: AsyncSession,
    page: PageRequest,
    *,
    kind: OrgUnitKind | None,
    parent_id: uuid.UUID | None,
    archived: bool | None = None,
) -> Page[OrgUnit]:
    statement = select(OrgUnit)
    if kind is not None:
        statement = statement.where(col(OrgUnit.kind) == kind)
    if parent_id is not None:
        statement = statement.where(col(OrgUnit.parent_id) == parent_id)
    if archived is not None:
        statement = statement.where(
            col(OrgUnit.archived_at).is_not(None) if archived else col(OrgUnit.archived_at).is_(None)
        )
    order = (col(OrgUnit.created_at), col(OrgUnit.id))
    return await paginate(session, statement, order, page, lambda unit: unit)


async def get_org_unit(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> OrgUnit | None:
    statement = select(OrgUnit).where(_by_id_or_key(id_or_key))
    if for_update:
        statement = statement.with_for_update()
    return (await session.exec(statement)).first()


async def org_unit_key_exists(session: AsyncSession, key: str) -> bool:
    return bool((await session.exec(select(exists().where(col(OrgUnit.key) == key)))).one())


async def lock_tree(session: AsyncSession) -> None:
    await session.exec(select(func.pg_advisory_xact_lock(literal(TREE_LOCK[0]), literal(TREE_LOCK[1]))))


def _subtree_cte(root: uuid.UUID) -> Any:
    """``(id, depth)`` of ``root`` and of every descendant."""
    units = OrgUnit.__table__  # type: ignore[attr-defined]
    tree = select(units.c.id, literal(0).label("depth")).where(units.c.id == root).cte("subtree", recursive=True)
    children = select(units.c.id, (tree.c.depth + 1).label("depth")).join(tree, units.c.parent_id == tree.c.id)
    return tree.union_all(children)


async def subtree(session: AsyncSession, root: uuid.UUID) -> list[OrgUnit]:
    """The unit ``root`` and every descendant, parents before children, siblings by key: one query."""
    tree = _subtree_cte(root)
    statement = select(OrgUnit).join(tree, col(OrgUnit.id) == tree.c.id).order_by(tree.c.depth, col(OrgUnit.key))
    return list((await session.exec(statement)).all())


async def in_subtree(session: AsyncSession, root: uuid.UUID, unit: uuid.UUID) -> bool:
    """Whether ``unit`` is ``root`` or one of its descendants."""
    tree = _subtree_cte(root)
    return bool((await session.exec(select(exists().where(tree.c.id == unit)))).one())


async def children_kinds(session: AsyncSession, unit: uuid.UUID) -> set[OrgUnitKind]:
    rows = await session.exec(select(OrgUnit.kind).where(col(OrgUnit.parent_id) == unit).distinct())
    return {OrgUnitKind(kind) for kind in rows.all()}


async def org_unit_referenced(session: AsyncSession, unit: uuid.UUID) -> bool:
    """Whether anything refers to the unit (a child unit), so it is archived rather than deleted."""
    child = exists().where(col(OrgUnit.parent_id) == unit)
    return bool((await session.exec(select(child))).one())


async def delete_org_unit(session: AsyncSession, unit: uuid.UUID) -> None:
    await session.exec(delete(OrgUnit).where(col(OrgUnit.id) == unit))
