"""The talent service's rules. Every route calls one function here."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service import repository
from services.talent_service.models import IdempotencyRecord, OrgUnit, OrgUnitKind
from services.talent_service.schemas import OrgUnitCreate, OrgUnitPublic, OrgUnitTree, OrgUnitUpdate
from shared.concurrency import etag, require_if_match
from shared.errors import Conflict, FieldError, NotFound, UnprocessableContent
from shared.idempotency import Answer, IdempotentRequest, run_once
from shared.models import utcnow
from shared.pagination import Page, PageRequest

# ---------------------------------------------------------------- org units


async def list_org_units(
    session: AsyncSession,
    page: PageRequest,
    *,
    kind: OrgUnitKind | None = None,
    parent_id: uuid.UUID | None = None,
    archived: bool | None = None,
) -> Page[OrgUnitPublic]:
    """Org units of ``kind`` and/or under ``parent_id``, oldest first."""
    rows = await repository.org_units_page(session, page, kind=kind, parent_id=parent_id, archived=archived)
    return Page[OrgUnitPublic](
        items=[OrgUnitPublic.model_validate(u) for u in rows.items], next_cursor=rows.next_cursor
    )


async def get_org_unit(session: AsyncSession, id_or_key: str, *, for_update: bool = False) -> OrgUnit:
    unit = await repository.get_org_unit(session, id_or_key, for_update=for_update)
    if unit is None:
        raise NotFound(f"No org unit {id_or_key!r}.")
    return unit


async def read_org_unit(session: AsyncSession, id_or_key: str) -> tuple[OrgUnitPublic, int]:
    unit = await get_org_unit(session, id_or_key)
    return OrgUnitPublic.model_validate(unit), unit.version


def _kind_error(message: str) -> UnprocessableContent:
    return UnprocessableContent(message, errors=[FieldError(pointer="/kind", message=message, code="kind_rank")])


async def _parent(session: AsyncSession, parent_id: uuid.UUID, kind: OrgUnitKind, *, moving: bool = True) -> OrgUnit:
    """The parent a unit of ``kind`` may be (``moving``: newly) placed under; 422 naming
    ``/parent_id`` or ``/kind`` otherwise. Nothing new goes under an archived unit."""
    parent = await repository.get_org_unit(session, str(parent_id))
    if parent is None or (moving and parent.archived_at is not None):
        reason = "No such org unit." if parent is None else "The unit is archived."
        raise UnprocessableContent(
            f"Cannot place the unit under {parent_id}: {reason}",
            errors=[FieldError(pointer="/parent_id", message=reason, code="unknown" if parent is None else "archived")],
        )
    if kind.rank < parent.kind.rank:
        raise _kind_error(f"A {kind.value} cannot be placed under a {parent.kind.value}.")
    return parent


async def create_org_unit(
    session: AsyncSession, body: OrgUnitCreate, idempotency: IdempotentRequest
) -> Answer[OrgUnitPublic]:
    """Create a unit (201 with ``Location`` and ``ETag``); a retry with the same ``Idempotency-Key``
    gets the first answer again."""

    async def create() -> Answer[OrgUnitPublic]:
        if await repository.org_unit_key_exists(session, body.key):
            raise Conflict(
                f"An org unit with key {body.key!r} already exists.",
                errors=[FieldError(pointer="/key", message="Already taken.", code="duplicate")],
            )
        if body.parent_id is not None:
            await _parent(session, body.parent_id, body.kind)
        unit = OrgUnit(**body.model_dump())
        session.add(unit)
        await session.flush()
        await session.refresh(unit)
        headers = {"Location": f"/v1/org-units/{unit.key}", "ETag": etag(unit.version)}
        return Answer(OrgUnitPublic.model_validate(unit), status_code=201, headers=headers)

    return await run_once(session, IdempotencyRecord, OrgUnitPublic, idempotency, create)


async def update_org_unit(
    session: AsyncSession, id_or_key: str, body: OrgUnitUpdate, if_match: str | None
) -> tuple[OrgUnitPublic, int]:
    """Rename, re-kind, move or (un)archive a unit. A move never makes a cycle; kinds keep ranking
    at or below the parent's and at or above the children's."""
    changes = body.model_dump(exclude_unset=True)
    if "parent_id" in changes:
        await repository.lock_tree(session)  # before the row lock: every move takes them in this order
    unit = await get_org_unit(session, id_or_key, for_update=True)
    require_if_match(if_match, unit.version)
    kind = body.kind if body.kind is not None else unit.kind
    parent_id = changes.get("parent_id", unit.parent_id)
    moving = parent_id != unit.parent_id
    if parent_id is not None and moving and await repository.in_subtree(session, unit.id, parent_id):
        raise UnprocessableContent(
            "A unit cannot be moved under itself or one of its descendants.",
            errors=[FieldError(pointer="/parent_id", message="Would make a cycle.", code="cycle")],
        )
    if parent_id is not None and (moving or "kind" in changes):
        await _parent(session, parent_id, kind, moving=moving)
    if "kind" in changes:
        below = [k for k in await repository.children_kinds(session, unit.id) if k.rank < kind.rank]
        if below:
            raise _kind_error(f"The unit has a child of kind {below[0].value}, which cannot be under a {kind.value}.")
    if body.name is not None:
        unit.name = body.name
    unit.kind = kind
    unit.parent_id = parent_id
    if body.archived is not None:
        unit.archived_at = (unit.archived_at or utcnow()) if body.archived else None
    unit.version += 1
    unit.updated_at = utcnow()
    session.add(unit)
    await session.flush()
    await session.refresh(unit)
    return OrgUnitPublic.model_validate(unit), unit.version


async def delete_org_unit(
    session: AsyncSession, id_or_key: str, if_match: str | None
) -> tuple[OrgUnitPublic, int] | None:
    """Delete a unit nothing refers to; archive one that has children or people (history stays
    true). Returns the archived unit, or None when deleted."""
    unit = await get_org_unit(session, id_or_key, for_update=True)
    require_if_match(if_match, unit.version)
    if not await repository.org_unit_referenced(session, unit.id):
        await repository.delete_org_unit(session, unit.id)
        return None
    if unit.archived_at is None:
        unit.archived_at = utcnow()
        unit.version += 1
        session.add(unit)
        await session.flush()
        await session.refresh(unit)
    return OrgUnitPublic.model_validate(unit), unit.version


async def org_unit_tree(session: AsyncSession, id_or_key: str) -> OrgUnitTree:
    """The unit with every descendant nested, read in one query."""
    unit = await get_org_unit(session, id_or_key)
    rows = await repository.subtree(session, unit.id)
    nodes = {
        row.id: OrgUnitTree.model_validate({**OrgUnitPublic.model_validate(row).model_dump(), "children": []})
        for row in rows
    }
    for row in rows:  # parents come before their children
        if row.id != unit.id and row.parent_id in nodes:
            nodes[row.parent_id].children.append(nodes[row.id])
    return nodes[unit.id]
