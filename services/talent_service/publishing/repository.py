"""The SQL of publishing: the units to publish and the lock one publish at a time holds."""

from __future__ import annotations

from sqlalchemy import func, literal
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.talent_service.models import OrgUnit
from shared import advisory_locks

HR_PUBLISH_LOCK = (advisory_locks.TALENT_HR_PUBLISH, 0)  # the one publish of HR indicators running, in any process


async def active_org_units(session: AsyncSession) -> list[OrgUnit]:
    """Every unit that is not archived, by key."""
    rows = await session.exec(select(OrgUnit).where(col(OrgUnit.archived_at).is_(None)).order_by(col(OrgUnit.key)))
    return list(rows.all())


async def try_publish_lock(session: AsyncSession) -> bool:
    """Whether this transaction may publish: one publish at a time across processes, the others
    skip; the lock is held until the transaction ends."""
    lock = func.pg_try_advisory_xact_lock(literal(HR_PUBLISH_LOCK[0]), literal(HR_PUBLISH_LOCK[1]))
    return bool((await session.exec(select(lock))).one())
